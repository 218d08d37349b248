import { createVerify, createSign, type KeyObject } from "node:crypto";
import zlib from "node:zlib";
import { GatehouseError } from "../errors.ts";

const base64 = /^[A-Za-z0-9+/]*={0,2}$/;

export interface Limits {
  maxSamlMessageBytes: number;
  maxInflatedBytes: number;
}

/** Strict base64: Buffer.from silently skips characters that are not base64. */
function strictBase64(value: string, maxChars: number, what: string): Buffer {
  if (value.length > maxChars) throw new GatehouseError("saml_message_too_large", `${what}: ${value.length} encoded bytes`);
  const compact = value.replace(/[\r\n]/g, "");
  if (compact.length === 0 || compact.length % 4 !== 0 || !base64.test(compact)) throw new GatehouseError("saml_message_malformed", `${what} is not base64`);
  return Buffer.from(compact, "base64");
}

export const decodeBase64 = (value: string, limits: Limits): Buffer => strictBase64(value, limits.maxSamlMessageBytes, "message");

// An RSA-8192 signature is 1,368 base64 characters.
const maxSignatureChars = 2048;

/** HTTP-Redirect: base64 of raw deflate. Inflation is capped: a small payload can expand a thousandfold. */
export function decodeRedirectMessage(value: string, limits: Limits): string {
  const deflated = decodeBase64(value, limits);
  try {
    return zlib.inflateRawSync(deflated, { maxOutputLength: limits.maxInflatedBytes }).toString("utf8");
  } catch (e) {
    if ((e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") throw new GatehouseError("saml_message_too_large", "inflated message over the cap");
    throw new GatehouseError("saml_message_malformed", "not deflated data");
  }
}

export const decodePostMessage = (value: string, limits: Limits): string => decodeBase64(value, limits).toString("utf8");

export const encodeRedirectMessage = (xml: string): string => zlib.deflateRawSync(Buffer.from(xml, "utf8")).toString("base64");

export const redirectSigAlgs: Record<string, string> = {
  "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": "RSA-SHA256",
  "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": "RSA-SHA512",
};

/** The raw (still URL-encoded) value of a query parameter; the signature covers these exact bytes. */
function rawParam(rawQuery: string, name: string): string | undefined {
  const found = rawQuery.split("&").filter((p) => p.startsWith(`${name}=`));
  if (found.length > 1) throw new GatehouseError("saml_message_malformed", `parameter ${name} repeated`);
  return found[0]?.slice(name.length + 1);
}

/** decodeURIComponent throws a URIError on a malformed `%` escape: that is malformed input, not a fault. */
function uriDecode(value: string, name: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new GatehouseError("saml_message_malformed", `malformed percent-escape in ${name}`);
  }
}

/**
 * Verifies an HTTP-Redirect binding signature (SAML Bindings §3.4.4.1): not XML-DSig but a
 * signature over `SAMLRequest=…&RelayState=…&SigAlg=…` as they were encoded in the URL.
 */
export function verifyRedirectSignature(rawQuery: string, messageParam: "SAMLRequest" | "SAMLResponse", certPem: string): void {
  const message = rawParam(rawQuery, messageParam);
  const relay = rawParam(rawQuery, "RelayState");
  const sigAlg = rawParam(rawQuery, "SigAlg");
  const signature = rawParam(rawQuery, "Signature");
  if (!message || !sigAlg || !signature) throw new GatehouseError("saml_signature_required", "redirect binding without Signature/SigAlg");
  const sigAlgUri = uriDecode(sigAlg, "SigAlg");
  const alg = redirectSigAlgs[sigAlgUri];
  if (!alg) throw new GatehouseError("saml_signature_invalid", `SigAlg not allowed: ${sigAlgUri.slice(0, 100)}`);
  const signedString = `${messageParam}=${message}${relay !== undefined ? `&RelayState=${relay}` : ""}&SigAlg=${sigAlg}`;
  const sigBytes = strictBase64(uriDecode(signature, "Signature"), maxSignatureChars, "Signature");
  const ok = createVerify(alg).update(signedString).verify(certPem, sigBytes);
  if (!ok) throw new GatehouseError("saml_signature_invalid", "redirect binding signature does not verify");
}

/** Builds a signed HTTP-Redirect URL for a message we send (LogoutRequest / LogoutResponse). */
export function signedRedirectUrl(target: string, param: "SAMLRequest" | "SAMLResponse", xml: string, relayState: string | null, key: KeyObject): string {
  const sigAlg = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
  let query = `${param}=${encodeURIComponent(encodeRedirectMessage(xml))}`;
  if (relayState) query += `&RelayState=${encodeURIComponent(relayState)}`;
  query += `&SigAlg=${encodeURIComponent(sigAlg)}`;
  const signature = createSign("RSA-SHA256").update(query).sign(key).toString("base64");
  query += `&Signature=${encodeURIComponent(signature)}`;
  const url = new URL(target);
  return `${target}${url.search ? "&" : "?"}${query}`;
}
