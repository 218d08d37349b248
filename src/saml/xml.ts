import { DOMParser, type Document, type Element } from "@xmldom/xmldom";
import xpath from "xpath";
import { SignedXml } from "xml-crypto";
import { GatehouseError } from "../errors.ts";

export const ns = {
  samlp: "urn:oasis:names:tc:SAML:2.0:protocol",
  saml: "urn:oasis:names:tc:SAML:2.0:assertion",
  md: "urn:oasis:names:tc:SAML:2.0:metadata",
  ds: "http://www.w3.org/2000/09/xmldsig#",
} as const;

export const select = xpath.useNamespaces(ns);

// Entities and DTDs have no place in SAML and are the door to XXE and expansion bombs.
const forbidden = /<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST)/i;

/**
 * Parses inbound XML strictly: refuses DTDs and entity declarations, and stops at the first
 * warning or error the parser reports (xmldom otherwise recovers from malformed input).
 */
export function parseStrict(xml: string): Document {
  if (forbidden.test(xml)) throw new GatehouseError("saml_message_forbidden_xml", "DOCTYPE or entity declaration");
  if (xml.includes("\u0000")) throw new GatehouseError("saml_message_malformed", "NUL byte in XML");
  let doc: Document;
  try {
    doc = new DOMParser({
      onError: (level, message) => {
        throw new Error(`${level}: ${message}`);
      },
    }).parseFromString(xml, "text/xml");
  } catch (e) {
    throw new GatehouseError("saml_message_malformed", `XML parse: ${(e as Error).message.slice(0, 200)}`);
  }
  if (!doc.documentElement) throw new GatehouseError("saml_message_malformed", "no root element");
  return doc;
}

export const firstElement = (expr: string, node: Node | Document | Element): Element | undefined => {
  const r = select(expr, node as Node);
  return Array.isArray(r) ? (r[0] as unknown as Element | undefined) : undefined;
};

export const allElements = (expr: string, node: Node | Document | Element): Element[] => {
  const r = select(expr, node as Node);
  return Array.isArray(r) ? (r as unknown as Element[]) : [];
};

export const textOf = (el: Element | undefined): string | undefined => el?.textContent?.trim() ?? undefined;

const xsdDateTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** An xs:dateTime attribute in milliseconds, or undefined when it is missing or out of shape. */
export function instantOf(el: Element, name: string): number | undefined {
  const value = el.getAttribute(name) ?? "";
  if (!xsdDateTime.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

const allowedSignatureAlgorithms = [
  "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
  "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
];

/**
 * Verifies the enveloped signature on the document's root element with a pinned certificate
 * (KeyInfo ignored), and returns the root parsed from the signed bytes only.
 */
export function verifyRootSignature(xml: string, doc: Document, certPem: string): Document {
  const root = doc.documentElement as Element;
  const signatures = allElements("./ds:Signature", root);
  if (signatures.length !== 1) throw new GatehouseError("saml_signature_required", `expected one root signature, found ${signatures.length}`);
  const signature = signatures[0] as Element;
  const method = firstElement("./ds:SignedInfo/ds:SignatureMethod", signature)?.getAttribute("Algorithm") ?? "";
  if (!allowedSignatureAlgorithms.includes(method)) throw new GatehouseError("saml_signature_invalid", `signature algorithm not allowed: ${method}`);
  const sig = new SignedXml({ publicCert: certPem, getCertFromKeyInfo: () => null });
  sig.loadSignature(signature as unknown as globalThis.Node);
  let valid = false;
  try {
    valid = sig.checkSignature(xml);
  } catch (e) {
    throw new GatehouseError("saml_signature_invalid", (e as Error).message.slice(0, 200));
  }
  const refs = sig.getSignedReferences();
  if (!valid || refs.length !== 1) throw new GatehouseError("saml_signature_invalid", "signature does not verify");
  const signedDoc = parseStrict(refs[0] as string);
  const signedRoot = signedDoc.documentElement as Element;
  if (signedRoot.localName !== root.localName || signedRoot.getAttribute("ID") !== root.getAttribute("ID")) {
    throw new GatehouseError("saml_signature_invalid", "the signature does not cover the message root");
  }
  return signedDoc;
}
