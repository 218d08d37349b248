import type { Document, Element } from "@xmldom/xmldom";
import { GatehouseError } from "../../errors.ts";
import { allElements, firstElement, instantOf, ns, textOf } from "../xml.ts";
import type { RequestedAuthnContext } from "./authn-context.ts";

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
  requestedAuthnContext: RequestedAuthnContext | null;
}

const ncName = /^[A-Za-z_][A-Za-z0-9._-]{0,255}$/;
const comparisons = ["exact", "minimum", "maximum", "better"] as const;
const maxContextRefs = 10;

const bool = (el: Element, name: string): boolean => {
  const v = el.getAttribute(name);
  return v === "true" || v === "1";
};

/** `<samlp:RequestedAuthnContext>` (SAML Core §3.3.2.2.1): a comparison and class or declaration references. */
function readRequestedAuthnContext(root: Element): RequestedAuthnContext | null {
  const found = allElements("./samlp:RequestedAuthnContext", root);
  if (found.length === 0) return null;
  const el = found[0] as Element;
  if (found.length > 1) throw new GatehouseError("saml_message_malformed", "RequestedAuthnContext given more than once");
  const comparison = el.getAttribute("Comparison") ?? "exact";
  if (!(comparisons as readonly string[]).includes(comparison)) throw new GatehouseError("saml_message_malformed", `RequestedAuthnContext Comparison ${comparison.slice(0, 40)}`);
  const refs = (name: string) => allElements(`./saml:${name}`, el).map((r) => textOf(r) ?? "");
  const classRefs = refs("AuthnContextClassRef");
  const declRefs = refs("AuthnContextDeclRef");
  if (classRefs.length > 0 && declRefs.length > 0) throw new GatehouseError("saml_message_malformed", "RequestedAuthnContext mixes class and declaration references");
  const all = [...classRefs, ...declRefs];
  if (all.length === 0 || all.length > maxContextRefs || all.some((r) => r === "" || r.length > 512)) {
    throw new GatehouseError("saml_message_malformed", "RequestedAuthnContext needs 1 to 10 non-empty references");
  }
  return { comparison: comparison as RequestedAuthnContext["comparison"], classRefs, declRefs };
}

/** Reads the fields Gatehouse uses from an AuthnRequest, refusing anything out of shape. */
export function readAuthnRequest(doc: Document): AuthnRequest {
  const root = doc.documentElement as Element;
  if (root.localName !== "AuthnRequest" || root.namespaceURI !== ns.samlp) {
    throw new GatehouseError("saml_message_malformed", `expected samlp:AuthnRequest, got ${root.localName}`);
  }
  if (root.getAttribute("Version") !== "2.0") throw new GatehouseError("saml_unsupported", "Version is not 2.0");
  const id = root.getAttribute("ID") ?? "";
  if (!ncName.test(id)) throw new GatehouseError("saml_message_malformed", "missing or malformed ID");
  const issueInstant = instantOf(root, "IssueInstant");
  if (issueInstant === undefined) throw new GatehouseError("saml_message_malformed", "missing or malformed IssueInstant");
  const issuer = textOf(firstElement("./saml:Issuer", root));
  if (!issuer) throw new GatehouseError("saml_message_malformed", "no Issuer");
  const indexAttr = root.getAttribute("AssertionConsumerServiceIndex");
  if (indexAttr !== null && !/^\d{1,5}$/.test(indexAttr)) throw new GatehouseError("saml_message_malformed", "malformed AssertionConsumerServiceIndex");
  return {
    id,
    issuer,
    issueInstant,
    destination: root.getAttribute("Destination"),
    acsUrl: root.getAttribute("AssertionConsumerServiceURL"),
    acsIndex: indexAttr === null ? null : Number(indexAttr),
    protocolBinding: root.getAttribute("ProtocolBinding"),
    forceAuthn: bool(root, "ForceAuthn"),
    isPassive: bool(root, "IsPassive"),
    requestedAuthnContext: readRequestedAuthnContext(root),
  };
}
