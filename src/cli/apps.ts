import { readFileSync } from "node:fs";
import { z } from "zod";
import { fetchMetadata, readSpMetadata, assertHttpUrl, type SpDescription } from "../saml/metadata/sp-metadata.ts";
import { userFields, type AttributeMapping, type NewApp } from "../store/apps.ts";
import { systemClock } from "../clock.ts";
import type { Config } from "../config.ts";
import type { App } from "../store/apps.ts";
import { parseCommand, withRuntime, type Options } from "./args.ts";

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

export const appHelp = {
  add: `Usage: node src/main.ts app add (--metadata-url URL | --metadata-file FILE | --entity-id ID --acs URL [--slo URL])
                            [--name NAME] [--nameid-format email|persistent|unspecified]
                            [--attribute NAME=FIELD ...] [--sign-response] [--cert-file PEM]

FIELD is one of id, username, email, firstName, lastName, groups.
--cert-file registers the app's signing certificate: its AuthnRequests and LogoutRequests are then verified.`,
  "add-sentry": `Usage: node src/main.ts app add-sentry --org SLUG [--url https://sentry.io] [--attribute NAME=FIELD ...]

Registers a Sentry organization (generic SAML2 provider): entity ID <url>/saml/metadata/<slug>/,
ACS <url>/saml/acs/<slug>/, SLO <url>/saml/sls/<slug>/, NameID email. Attributes default to
user_id=id user_email=email first_name=firstName last_name=lastName; type the same names into
Sentry's attribute mapping ("IdP User ID", "User Email", "First Name", "Last Name").`,
  list: `Usage: node src/main.ts app list`,
  remove: `Usage: node src/main.ts app remove ID`,
} as const;

const describeApp = (a: App): string =>
  `${a.id}  ${a.name}\n    entity ID ${a.entityId}\n    ACS ${a.acs.map((x) => x.url).join(", ")}${a.sloUrl ? `\n    SLO ${a.sloUrl}` : ""}\n    NameID ${a.nameIdFormat}; attributes ${a.attributes.map((m) => `${m.name}=${m.field}`).join(" ") || "none"}`;

/** `app add|add-sentry|list|remove`. */
export async function appCommand(config: Config, sub: string | undefined, args: string[]): Promise<void> {
  const attributeOption: Options = { attribute: { type: "string", multiple: true } };
  if (sub === "add") {
    const { values, positionals } = parseCommand(
      args,
      {
        "metadata-url": { type: "string" },
        "metadata-file": { type: "string" },
        "entity-id": { type: "string" },
        acs: { type: "string" },
        slo: { type: "string" },
        name: { type: "string" },
        "nameid-format": { type: "string" },
        "sign-response": { type: "boolean" },
        "cert-file": { type: "string" },
        ...attributeOption,
      },
      appHelp.add,
    );
    if (positionals.length) throw new UsageError(`unexpected ${positionals.join(" ")}\n\n${appHelp.add}`);
    if (values["metadata-url"]) console.log(`Fetching ${values["metadata-url"] as string} …`);
    const app = await appFromOptions(values);
    await withRuntime(config, async (rt) => {
      const added = await rt.apps.add(app, systemClock.now());
      await rt.audit.record({ type: "app.registered", outcome: "success", appId: added.id, reason: "cli" });
      console.log(`Registered:\n${describeApp(added)}`);
    });
    return;
  }
  if (sub === "add-sentry") {
    const { values } = parseCommand(args, { org: { type: "string" }, url: { type: "string" }, ...attributeOption }, appHelp["add-sentry"]);
    if (!values.org) throw new UsageError(`--org SLUG is required\n\n${appHelp["add-sentry"]}`);
    const app = sentryApp(values.org as string, values.url as string | undefined);
    if (Array.isArray(values.attribute) && values.attribute.length) app.attributes = parseAttributes(values.attribute as string[]);
    await withRuntime(config, async (rt) => {
      const added = await rt.apps.add(app, systemClock.now());
      await rt.audit.record({ type: "app.registered", outcome: "success", appId: added.id, reason: "cli add-sentry" });
      console.log(`Registered:\n${describeApp(added)}\n`);
      console.log(`In Sentry (Settings → Auth → SAML2), give the IdP as either:
  Metadata URL: ${config.entityId}
  or the fields — Entity ID: ${config.entityId}
                  SSO URL:   ${config.baseUrl}/saml/sso
                  SLO URL:   ${config.baseUrl}/saml/slo
                  x509 cert: the certificate in ${config.dataDir}/keys/signing-cert.pem
Then map: IdP User ID = ${added.attributes.find((a) => a.field === "id")?.name ?? "?"}, User Email = ${added.attributes.find((a) => a.field === "email")?.name ?? "?"}, First Name = ${added.attributes.find((a) => a.field === "firstName")?.name ?? "-"}, Last Name = ${added.attributes.find((a) => a.field === "lastName")?.name ?? "-"}`);
    });
    return;
  }
  if (sub === "list") {
    parseCommand(args, {}, appHelp.list);
    await withRuntime(config, async (rt) => {
      const apps = await rt.apps.list();
      if (apps.length === 0) console.log("No apps registered.");
      for (const a of apps) console.log(describeApp(a));
    });
    return;
  }
  if (sub === "remove") {
    const { positionals } = parseCommand(args, {}, appHelp.remove);
    const id = positionals[0];
    if (!id || positionals.length > 1) throw new UsageError(`give one app ID\n\n${appHelp.remove}`);
    await withRuntime(config, async (rt) => {
      if (!(await rt.apps.remove(id))) throw new UsageError(`no app with ID ${id} (see: app list)`);
      await rt.audit.record({ type: "app.removed", outcome: "success", appId: id, reason: "cli" });
      console.log(`Removed ${id}.`);
    });
    return;
  }
  throw new UsageError(`unknown app command ${sub ?? "(none)"}: use add, add-sentry, list or remove`);
}
