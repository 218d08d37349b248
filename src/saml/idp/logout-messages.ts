import type { Document, Element } from "@xmldom/xmldom";
import { create } from "xmlbuilder2";
import { isoSeconds } from "../../clock.ts";
import { GatehouseError } from "../../errors.ts";
import { allElements, firstElement, instantOf, ns, textOf } from "../xml.ts";
import { statusCodes, type Status } from "./status.ts";

export interface LogoutRequestIn {
  id: string;
  issuer: string;
  issueInstant: number;
  nameId: string;
  sessionIndexes: string[];
  destination: string | null;
  notOnOrAfter: number | null;
}

export interface LogoutResponseIn {
  id: string;
  issuer: string;
  inResponseTo: string;
  success: boolean;
}

const idPattern = /^[A-Za-z_][A-Za-z0-9._-]{0,255}$/;
const maxSessionIndexes = 20;

function root(doc: Document, name: string): Element {
  const el = doc.documentElement as Element;
  if (el.localName !== name || el.namespaceURI !== ns.samlp) throw new GatehouseError("saml_logout_invalid", `expected samlp:${name}, got ${el.localName}`);
  if (el.getAttribute("Version") !== "2.0") throw new GatehouseError("saml_logout_invalid", "Version is not 2.0");
  const id = el.getAttribute("ID") ?? "";
  if (!idPattern.test(id)) throw new GatehouseError("saml_logout_invalid", "missing or malformed ID");
  return el;
}

const issuerOf = (el: Element): string => {
  const issuer = textOf(firstElement("./saml:Issuer", el));
  if (!issuer) throw new GatehouseError("saml_logout_invalid", "no Issuer");
  return issuer;
};

export function readLogoutRequest(doc: Document): LogoutRequestIn {
  const el = root(doc, "LogoutRequest");
  const nameId = textOf(firstElement("./saml:NameID", el));
  if (!nameId) throw new GatehouseError("saml_logout_invalid", "no NameID (encrypted NameIDs are not supported)");
  const issueInstant = instantOf(el, "IssueInstant");
  if (issueInstant === undefined) throw new GatehouseError("saml_logout_invalid", "missing or malformed IssueInstant");
  const notOnOrAfter = el.hasAttribute("NotOnOrAfter") ? instantOf(el, "NotOnOrAfter") : null;
  if (notOnOrAfter === undefined) throw new GatehouseError("saml_logout_invalid", "malformed NotOnOrAfter");
  const sessionIndexes = allElements("./samlp:SessionIndex", el).map((s) => textOf(s) ?? "");
  if (sessionIndexes.length > maxSessionIndexes || sessionIndexes.some((i) => i === "" || i.length > 256)) {
    throw new GatehouseError("saml_logout_invalid", "empty, overlong or too many SessionIndex elements");
  }
  return { id: el.getAttribute("ID") as string, issuer: issuerOf(el), issueInstant, nameId, sessionIndexes, destination: el.getAttribute("Destination"), notOnOrAfter };
}

export function readLogoutResponse(doc: Document): LogoutResponseIn {
  const el = root(doc, "LogoutResponse");
  const inResponseTo = el.getAttribute("InResponseTo") ?? "";
  if (!idPattern.test(inResponseTo)) throw new GatehouseError("saml_logout_invalid", "missing InResponseTo");
  const status = firstElement("./samlp:Status/samlp:StatusCode", el)?.getAttribute("Value");
  return { id: el.getAttribute("ID") as string, issuer: issuerOf(el), inResponseTo, success: status === statusCodes.success };
}

interface MessageHead {
  id: string;
  issuer: string;
  destination: string;
  now: number;
}

/** The root and Issuer every logout message starts with; `extra` adds its own attributes. */
function messageRoot(name: "LogoutRequest" | "LogoutResponse", p: MessageHead, extra: Record<string, string>) {
  const doc = create({ version: "1.0", encoding: "UTF-8" });
  const root = doc.ele(ns.samlp, `samlp:${name}`, { "xmlns:saml": ns.saml, ID: p.id, Version: "2.0", IssueInstant: isoSeconds(p.now), Destination: p.destination, ...extra });
  root.ele(ns.saml, "saml:Issuer").txt(p.issuer);
  return { doc, root };
}

export function buildLogoutRequest(p: MessageHead & { nameId: string; nameIdFormat: string; sessionIndex: string; lifetimeMs: number }): string {
  const { doc, root } = messageRoot("LogoutRequest", p, { NotOnOrAfter: isoSeconds(p.now + p.lifetimeMs) });
  root.ele(ns.saml, "saml:NameID", { Format: p.nameIdFormat }).txt(p.nameId);
  root.ele(ns.samlp, "samlp:SessionIndex").txt(p.sessionIndex);
  return doc.end();
}

export function buildLogoutResponse(p: MessageHead & { inResponseTo: string; status: Status }): string {
  const { doc, root } = messageRoot("LogoutResponse", p, { InResponseTo: p.inResponseTo });
  const code = root.ele(ns.samlp, "samlp:Status").ele(ns.samlp, "samlp:StatusCode", { Value: p.status.code });
  if (p.status.detail) code.ele(ns.samlp, "samlp:StatusCode", { Value: p.status.detail });
  return doc.end();
}
