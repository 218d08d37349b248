import type { Element } from "@xmldom/xmldom";
import type { AcsEndpoint, NameIdFormat } from "../../store/apps.ts";
import { nameIdFormats } from "../../store/apps.ts";
import { GatehouseError } from "../../errors.ts";
import { allElements, firstElement, parseStrict, textOf } from "../xml.ts";
import { bindings } from "./idp-metadata.ts";

export interface SpDescription {
  entityId: string;
  acs: AcsEndpoint[];
  sloUrl: string | null;
  sloBinding: "HTTP-Redirect" | "HTTP-POST" | null;
  nameIdFormat: NameIdFormat | null;
  certPem: string | null;
  wantRequestsSigned: boolean;
}

const maxMetadataBytes = 1024 * 1024;

/** Reads what Gatehouse needs from SP metadata; only HTTP-POST ACS endpoints are usable. */
export function readSpMetadata(xml: string): SpDescription {
  if (xml.length > maxMetadataBytes) throw new GatehouseError("saml_message_too_large", "metadata over 1 MiB");
  const doc = parseStrict(xml);
  const root = doc.documentElement as Element;
  const entity = root.localName === "EntityDescriptor" ? root : firstElement(".//md:EntityDescriptor[md:SPSSODescriptor]", root);
  const sp = entity && firstElement("./md:SPSSODescriptor", entity);
  const entityId = entity?.getAttribute("entityID");
  if (!entity || !sp || !entityId) throw new GatehouseError("saml_message_malformed", "no EntityDescriptor with an SPSSODescriptor and entityID");

  const acs = allElements("./md:AssertionConsumerService", sp)
    .filter((el) => el.getAttribute("Binding") === bindings.post)
    .map((el, i) => ({
      url: el.getAttribute("Location") ?? "",
      index: Number(el.getAttribute("index") ?? i),
      isDefault: el.getAttribute("isDefault") === "true",
    }));
  if (acs.length === 0) throw new GatehouseError("saml_message_malformed", "no AssertionConsumerService with the HTTP-POST binding");
  for (const a of acs) assertHttpUrl(a.url, "AssertionConsumerService Location");
  if (!acs.some((a) => a.isDefault)) (acs[0] as AcsEndpoint).isDefault = true;

  const slo = allElements("./md:SingleLogoutService", sp);
  const sloEl = slo.find((el) => el.getAttribute("Binding") === bindings.redirect) ?? slo.find((el) => el.getAttribute("Binding") === bindings.post);
  const sloUrl = sloEl?.getAttribute("Location") ?? null;
  if (sloUrl) assertHttpUrl(sloUrl, "SingleLogoutService Location");

  const keys = allElements("./md:KeyDescriptor", sp).filter((k) => (k.getAttribute("use") ?? "signing") === "signing");
  const certText = textOf(keys.map((k) => firstElement(".//ds:X509Certificate", k)).find(Boolean))?.replace(/\s+/g, "");
  const certPem = certText ? toPem(certText) : null;

  const formats = allElements("./md:NameIDFormat", sp).map((el) => textOf(el));
  const known = Object.entries(nameIdFormats).find(([, uri]) => formats.includes(uri));

  return {
    entityId,
    acs,
    sloUrl,
    sloBinding: sloEl ? (sloEl.getAttribute("Binding") === bindings.redirect ? "HTTP-Redirect" : "HTTP-POST") : null,
    nameIdFormat: (known?.[0] as NameIdFormat | undefined) ?? null,
    certPem,
    wantRequestsSigned: certPem !== null && sp.getAttribute("AuthnRequestsSigned") === "true",
  };
}

export function toPem(base64Der: string): string {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64Der)) throw new GatehouseError("saml_message_malformed", "certificate is not base64");
  return `-----BEGIN CERTIFICATE-----\n${base64Der.match(/.{1,64}/g)?.join("\n") ?? ""}\n-----END CERTIFICATE-----\n`;
}

export function assertHttpUrl(value: string, what: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new GatehouseError("saml_message_malformed", `${what} is not a URL: ${value.slice(0, 100)}`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new GatehouseError("saml_message_malformed", `${what} must be http(s): ${value.slice(0, 100)}`);
}

/** Fetches SP metadata by URL with a timeout and a size cap. */
export async function fetchMetadata(url: string): Promise<string> {
  assertHttpUrl(url, "metadata URL");
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000), redirect: "follow" });
  if (!res.ok) throw new Error(`metadata URL answered HTTP ${res.status}`);
  const length = Number(res.headers.get("content-length") ?? 0);
  if (length > maxMetadataBytes) throw new Error("metadata over 1 MiB");
  const text = await res.text();
  if (text.length > maxMetadataBytes) throw new Error("metadata over 1 MiB");
  return text;
}
