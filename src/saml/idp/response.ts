import { create } from "xmlbuilder2";
import type { XMLBuilder } from "xmlbuilder2/lib/interfaces.js";
import { isoSeconds } from "../../clock.ts";
import type { SigningKey } from "../../crypto/keys.ts";
import { samlId } from "../../crypto/tokens.ts";
import { ns } from "../xml.ts";
import { signElement } from "./sign.ts";
import type { Status } from "./status.ts";

export { authnContexts } from "./authn-context.ts";

export interface Attribute {
  name: string;
  values: string[];
}

export interface ResponseInput {
  issuer: string;
  destination: string; // the registered ACS URL
  audience: string; // the app's entity ID
  inResponseTo: string | null; // null for IdP-initiated
  nameId: string;
  nameIdFormat: string;
  sessionIndex: string;
  authnInstant: number;
  authnContext: string;
  attributes: Attribute[];
  now: number;
  lifetimeMs: number;
  signAssertion: boolean;
  signResponse: boolean;
}

const attrs = (o: Record<string, string | null>): Record<string, string> =>
  Object.fromEntries(Object.entries(o).filter((e): e is [string, string] => e[1] !== null));

/** Builds the SAML Response from data (never from string templates) and signs it. */
export function buildResponse(input: ResponseInput, key: SigningKey): { xml: string; responseId: string; assertionId: string } {
  const responseId = samlId();
  const assertionId = samlId();
  const instant = isoSeconds(input.now);
  const notOnOrAfter = isoSeconds(input.now + input.lifetimeMs);

  const doc = create({ version: "1.0", encoding: "UTF-8" });
  const response = doc.ele(ns.samlp, "samlp:Response", attrs({
    "xmlns:saml": ns.saml,
    ID: responseId,
    Version: "2.0",
    IssueInstant: instant,
    Destination: input.destination,
    InResponseTo: input.inResponseTo,
  }));
  response.ele(ns.saml, "saml:Issuer").txt(input.issuer);
  response.ele(ns.samlp, "samlp:Status").ele(ns.samlp, "samlp:StatusCode", { Value: "urn:oasis:names:tc:SAML:2.0:status:Success" });

  const assertion = response.ele(ns.saml, "saml:Assertion", {
    "xmlns:xs": "http://www.w3.org/2001/XMLSchema",
    "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
    ID: assertionId,
    Version: "2.0",
    IssueInstant: instant,
  });
  assertion.ele(ns.saml, "saml:Issuer").txt(input.issuer);
  const subject = assertion.ele(ns.saml, "saml:Subject");
  subject.ele(ns.saml, "saml:NameID", { Format: input.nameIdFormat }).txt(input.nameId);
  subject
    .ele(ns.saml, "saml:SubjectConfirmation", { Method: "urn:oasis:names:tc:SAML:2.0:cm:bearer" })
    .ele(ns.saml, "saml:SubjectConfirmationData", attrs({
      // No NotBefore here: python3-saml (Sentry) allows no clock drift on SubjectConfirmationData.
      NotOnOrAfter: notOnOrAfter,
      Recipient: input.destination,
      InResponseTo: input.inResponseTo,
    }));
  assertion
    .ele(ns.saml, "saml:Conditions", { NotBefore: instant, NotOnOrAfter: notOnOrAfter })
    .ele(ns.saml, "saml:AudienceRestriction")
    .ele(ns.saml, "saml:Audience")
    .txt(input.audience);
  assertion
    .ele(ns.saml, "saml:AuthnStatement", { AuthnInstant: isoSeconds(input.authnInstant), SessionIndex: input.sessionIndex })
    .ele(ns.saml, "saml:AuthnContext")
    .ele(ns.saml, "saml:AuthnContextClassRef")
    .txt(input.authnContext);
  // python3-saml (Sentry) requires an AttributeStatement; it must not be empty per the schema.
  if (input.attributes.length > 0) {
    const statement = assertion.ele(ns.saml, "saml:AttributeStatement");
    for (const a of input.attributes) addAttribute(statement, a);
  }

  let xml = doc.end({ headless: false });
  if (input.signAssertion) xml = signElement(xml, "Assertion", assertionId, key);
  if (input.signResponse) xml = signElement(xml, "Response", responseId, key);
  return { xml, responseId, assertionId };
}

function addAttribute(statement: XMLBuilder, a: Attribute): void {
  const el = statement.ele(ns.saml, "saml:Attribute", { Name: a.name, NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:basic" });
  for (const v of a.values) el.ele(ns.saml, "saml:AttributeValue", { "xsi:type": "xs:string" }).txt(v);
}

/**
 * A Response that carries only a status (no assertion), e.g. Responder / NoAuthnContext. It goes
 * to the registered ACS like any Response and is always signed: it is all the app receives.
 */
export function buildStatusResponse(input: { issuer: string; destination: string; inResponseTo: string | null; status: Status; now: number }, key: SigningKey): { xml: string; responseId: string } {
  const responseId = samlId();
  const doc = create({ version: "1.0", encoding: "UTF-8" });
  const response = doc.ele(ns.samlp, "samlp:Response", attrs({
    "xmlns:saml": ns.saml,
    ID: responseId,
    Version: "2.0",
    IssueInstant: isoSeconds(input.now),
    Destination: input.destination,
    InResponseTo: input.inResponseTo,
  }));
  response.ele(ns.saml, "saml:Issuer").txt(input.issuer);
  const code = response.ele(ns.samlp, "samlp:Status").ele(ns.samlp, "samlp:StatusCode", { Value: input.status.code });
  if (input.status.detail) code.ele(ns.samlp, "samlp:StatusCode", { Value: input.status.detail });
  return { xml: signElement(doc.end({ headless: false }), "Response", responseId, key), responseId };
}
