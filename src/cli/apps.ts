import { readFileSync } from "node:fs";
import { z } from "zod";
import { fetchMetadata, readSpMetadata, assertHttpUrl, type SpDescription } from "../saml/metadata/sp-metadata.ts";
import { userFields, type AttributeMapping, type NewApp } from "../store/apps.ts";

export class UsageError extends Error {}

const attributePair = /^([^=\s]{1,256})=([A-Za-z]+)$/;

export function parseAttributes(pairs: string[]): AttributeMapping[] {
  const seen = new Set<string>();
  return pairs.map((p) => {
    const m = attributePair.exec(p);
    const field = m?.[2];
    if (!m || !userFields.includes(field as never)) throw new UsageError(`--attribute ${p}: expected NAME=FIELD with FIELD one of ${userFields.join(", ")}`);
    const name = m[1] as string;
    // Sentry (python3-saml) fails with HTTP 500 when an attribute name appears twice.
    if (seen.has(name)) throw new UsageError(`--attribute ${name} given twice`);
    seen.add(name);
    return { name, field: field as AttributeMapping["field"] };
  });
}

const nameIdFormat = z.enum(["email", "persistent", "unspecified"]);

export interface AppAddOptions {
  "metadata-url"?: string;
  "metadata-file"?: string;
  "entity-id"?: string;
  acs?: string;
  slo?: string;
  name?: string;
  "nameid-format"?: string;
  attribute?: string[];
  "sign-response"?: boolean;
  "cert-file"?: string;
}

const defaultAttributes: AttributeMapping[] = [
  { name: "email", field: "email" },
  { name: "firstName", field: "firstName" },
  { name: "lastName", field: "lastName" },
  { name: "username", field: "username" },
  { name: "groups", field: "groups" },
];

/** Turns `app add` options into a new app, reading SP metadata by URL or file, or taking fields. */
export async function appFromOptions(o: AppAddOptions): Promise<NewApp> {
  const sources = [o["metadata-url"], o["metadata-file"], o["entity-id"]].filter((s) => s !== undefined);
  if (sources.length !== 1) throw new UsageError("give exactly one of --metadata-url, --metadata-file, or --entity-id with --acs");
  let sp: SpDescription;
  if (o["metadata-url"]) sp = readSpMetadata(await fetchMetadata(o["metadata-url"]));
  else if (o["metadata-file"]) sp = readSpMetadata(readFileSync(o["metadata-file"], "utf8"));
  else {
    if (!o.acs) throw new UsageError("--entity-id needs --acs URL");
    assertHttpUrl(o.acs, "--acs");
    if (o.slo) assertHttpUrl(o.slo, "--slo");
    sp = {
      entityId: o["entity-id"] as string,
      acs: [{ url: o.acs, index: 0, isDefault: true }],
      sloUrl: o.slo ?? null,
      sloBinding: o.slo ? "HTTP-Redirect" : null,
      nameIdFormat: null,
      certPem: null,
      wantRequestsSigned: false,
    };
  }
  if (o["cert-file"]) sp = { ...sp, certPem: readFileSync(o["cert-file"], "utf8") };
  const format = o["nameid-format"] === undefined ? (sp.nameIdFormat ?? "email") : nameIdFormat.safeParse(o["nameid-format"]).data;
  if (!format) throw new UsageError(`--nameid-format must be email, persistent or unspecified`);
  return {
    name: o.name ?? new URL(sp.acs[0]?.url ?? sp.entityId).hostname,
    entityId: sp.entityId,
    acs: sp.acs,
    sloUrl: sp.sloUrl,
    sloBinding: sp.sloBinding,
    nameIdFormat: format,
    attributes: o.attribute?.length ? parseAttributes(o.attribute) : defaultAttributes,
    signAssertion: true,
    signResponse: o["sign-response"] ?? false,
    wantRequestsSigned: sp.wantRequestsSigned,
    certPem: sp.certPem,
  };
}

const slug = /^[a-z0-9][a-z0-9_-]{0,49}$/;

/** Sentry's generic SAML2 provider: URLs from its routes (trailing slashes included), email NameID. */
export function sentryApp(org: string, base = "https://sentry.io"): NewApp {
  if (!slug.test(org)) throw new UsageError(`--org ${org}: expected the organization slug, e.g. acme`);
  assertHttpUrl(base, "--url");
  const root = base.replace(/\/+$/, "");
  return {
    name: `Sentry (${org})`,
    entityId: `${root}/saml/metadata/${org}/`,
    acs: [{ url: `${root}/saml/acs/${org}/`, index: 0, isDefault: true }],
    sloUrl: `${root}/saml/sls/${org}/`,
    sloBinding: "HTTP-Redirect",
    nameIdFormat: "email",
    // The names the admin types into Sentry's attribute mapping form; --attribute changes them.
    attributes: [
      { name: "user_id", field: "id" },
      { name: "user_email", field: "email" },
      { name: "first_name", field: "firstName" },
      { name: "last_name", field: "lastName" },
    ],
    signAssertion: true,
    signResponse: false,
    wantRequestsSigned: false,
    certPem: null,
  };
}
