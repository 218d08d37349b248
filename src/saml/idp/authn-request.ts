import type { Document, Element } from "@xmldom/xmldom";
import { GatehouseError } from "../../errors.ts";
import { firstElement, ns, textOf } from "../xml.ts";

export interface AuthnRequest {
  id: string;
  issuer: string;
  issueInstant: number;
  destination: string | null;
  acsUrl: string | null;
  acsIndex: number | null;
  protocolBinding: string | null;
  forceAuthn: boolean;
  isPassive: boolean;
}

const ncName = /^[A-Za-z_][A-Za-z0-9._-]{0,255}$/;
const xsdDateTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

const bool = (el: Element, name: string): boolean => {
  const v = el.getAttribute(name);
  return v === "true" || v === "1";
};

/** Reads the fields Gatehouse uses from an AuthnRequest, refusing anything out of shape. */
export function readAuthnRequest(doc: Document): AuthnRequest {
  const root = doc.documentElement as Element;
  if (root.localName !== "AuthnRequest" || root.namespaceURI !== ns.samlp) {
    throw new GatehouseError("saml_message_malformed", `expected samlp:AuthnRequest, got ${root.localName}`);
  }
  if (root.getAttribute("Version") !== "2.0") throw new GatehouseError("saml_unsupported", "Version is not 2.0");
  const id = root.getAttribute("ID") ?? "";
  if (!ncName.test(id)) throw new GatehouseError("saml_message_malformed", "missing or malformed ID");
  const instant = root.getAttribute("IssueInstant") ?? "";
  if (!xsdDateTime.test(instant)) throw new GatehouseError("saml_message_malformed", "missing or malformed IssueInstant");
  const issuer = textOf(firstElement("./saml:Issuer", root));
  if (!issuer) throw new GatehouseError("saml_message_malformed", "no Issuer");
  const indexAttr = root.getAttribute("AssertionConsumerServiceIndex");
  if (indexAttr !== null && !/^\d{1,5}$/.test(indexAttr)) throw new GatehouseError("saml_message_malformed", "malformed AssertionConsumerServiceIndex");
  return {
    id,
    issuer,
    issueInstant: Date.parse(instant),
    destination: root.getAttribute("Destination"),
    acsUrl: root.getAttribute("AssertionConsumerServiceURL"),
    acsIndex: indexAttr === null ? null : Number(indexAttr),
    protocolBinding: root.getAttribute("ProtocolBinding"),
    forceAuthn: bool(root, "ForceAuthn"),
    isPassive: bool(root, "IsPassive"),
  };
}
