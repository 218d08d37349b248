/**
 * Hostile input at the SSO endpoint (leg D-in). An attacker controls every byte an app's
 * browser sends: unknown issuers, unregistered ACS URLs (assertion theft by redirect),
 * malformed base64, deflate bombs, oversized requests, DTDs and entities, replays.
 * Each must end on Gatehouse's own error page with a 4xx, an audit event, and no assertion.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Browser } from "../../helpers/client.ts";
import { startGatehouse, type TestGatehouse } from "../../helpers/gatehouse.ts";
import { authnRequest, deflateBomb, redirectParam, withDoctype } from "../../fixtures/authn-requests.ts";
import { generateSigningKey } from "../../../src/crypto/keys.ts";
import { createSign } from "node:crypto";

let gh: TestGatehouse;
const issuer = "https://sp.example.test/metadata";
const acs = "https://sp.example.test/acs";

beforeAll(async () => {
  gh = await startGatehouse();
  gh.addApp({ entityId: issuer, acs: [{ url: acs, index: 0, isDefault: true }] });
});
afterAll(() => gh.close());

async function sso(query: string): Promise<{ status: number; body: string; location: string | null }> {
  const res = await new Browser().request(`${gh.url}/saml/sso?${query}`);
  return { status: res.status, body: res.body, location: res.headers.get("location") };
}

function lastAudit() {
  return gh.rt.audit.recent(1)[0];
}

const cases: [name: string, query: () => string, status: number, code: string][] = [
  ["unknown issuer", () => `SAMLRequest=${redirectParam(authnRequest({ issuer: "https://evil.example.test/" }))}`, 403, "saml_unknown_app"],
  ["unregistered ACS URL", () => `SAMLRequest=${redirectParam(authnRequest({ issuer, acs: "https://evil.example.test/acs" }))}`, 403, "saml_acs_not_registered"],
  ["ACS URL that only starts with the registered one", () => `SAMLRequest=${redirectParam(authnRequest({ issuer, acs: `${acs}/../evil` }))}`, 403, "saml_acs_not_registered"],
  ["malformed base64", () => "SAMLRequest=%%%not-base64!!", 400, "saml_message_malformed"],
  ["base64 that is not deflated", () => `SAMLRequest=${encodeURIComponent(Buffer.from("hello world, not deflate").toString("base64"))}`, 400, "saml_message_malformed"],
  ["deflate bomb", () => `SAMLRequest=${deflateBomb(issuer)}`, 413, "saml_message_too_large"],
  ["oversized request", () => `SAMLRequest=${"A".repeat(270 * 1024)}`, 413, "saml_message_too_large"],
  ["DTD with entities", () => `SAMLRequest=${redirectParam(withDoctype(authnRequest({ issuer })))}`, 400, "saml_message_forbidden_xml"],
  ["malformed XML", () => `SAMLRequest=${redirectParam("<samlp:AuthnRequest><unclosed>")}`, 400, "saml_message_malformed"],
  ["SAMLRequest given twice", () => { const p = redirectParam(authnRequest({ issuer })); return `SAMLRequest=${p}&SAMLRequest=${p}`; }, 400, "saml_message_malformed"],
  ["request issued an hour ago", () => `SAMLRequest=${redirectParam(authnRequest({ issuer, instant: new Date(Date.now() - 3600_000).toISOString() }))}`, 400, "saml_request_stale"],
  ["wrong Destination", () => `SAMLRequest=${redirectParam(authnRequest({ issuer, destination: "https://other-idp.example.test/sso" }))}`, 400, "saml_message_malformed"],
  ["no SAMLRequest at all", () => "RelayState=x", 400, "saml_message_missing"],
];

describe("the SSO endpoint refuses hostile requests", () => {
  it.each(cases)("%s", async (_name, query, status, code) => {
    const res = await sso(query());
    expect(res.status).toBe(status);
    expect(res.location).toBeNull(); // never redirected anywhere
    expect(res.body).not.toContain("SAMLResponse");
    expect(res.body).toContain(code); // the reference shown on our page
    expect(lastAudit()).toMatchObject({ type: "saml.authn_request.rejected", outcome: "failure", reason: code });
  });

  it("refuses a replayed AuthnRequest", async () => {
    const query = `SAMLRequest=${redirectParam(authnRequest({ issuer, id: "_replay-me" }))}`;
    expect((await sso(query)).status).toBe(303);
    const again = await sso(query);
    expect(again.status).toBe(400);
    expect(lastAudit()).toMatchObject({ type: "saml.authn_request.rejected", reason: "saml_request_replayed" });
  });

  it("refuses an oversized form body on the POST binding", async () => {
    const res = await new Browser().request(`${gh.url}/saml/sso`, { form: { SAMLRequest: "A".repeat(600 * 1024) } });
    expect(res.status).toBe(413);
    expect(lastAudit()).toMatchObject({ reason: "payload_too_large" });
  });
});

describe("signed AuthnRequests", () => {
  const signedIssuer = "https://signed-sp.example.test/metadata";
  let keyPem: string;
  let otherKeyPem: string;

  beforeAll(async () => {
    const k = await generateSigningKey("signed-sp", new Date());
    keyPem = k.keyPem;
    otherKeyPem = (await generateSigningKey("attacker", new Date())).keyPem;
    gh.addApp({ entityId: signedIssuer, acs: [{ url: "https://signed-sp.example.test/acs", index: 0, isDefault: true }], certPem: k.certPem, wantRequestsSigned: true });
  });

  const signedQuery = (xml: string, key: string) => {
    const q = `SAMLRequest=${redirectParam(xml)}&SigAlg=${encodeURIComponent("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")}`;
    return `${q}&Signature=${encodeURIComponent(createSign("RSA-SHA256").update(q).sign(key, "base64"))}`;
  };

  it("accepts a request signed with the registered key", async () => {
    const res = await sso(signedQuery(authnRequest({ issuer: signedIssuer }), keyPem));
    expect(res.status).toBe(303);
    expect(res.location).toMatch(/^\/login\?tx=/);
  });

  it("refuses an unsigned request from an app that signs its requests", async () => {
    const res = await sso(`SAMLRequest=${redirectParam(authnRequest({ issuer: signedIssuer }))}`);
    expect(res.status).toBe(403);
    expect(lastAudit()).toMatchObject({ reason: "saml_signature_required" });
  });

  it("refuses a request signed with another key", async () => {
    const res = await sso(signedQuery(authnRequest({ issuer: signedIssuer }), otherKeyPem));
    expect(res.status).toBe(403);
    expect(lastAudit()).toMatchObject({ reason: "saml_signature_invalid" });
  });

  it("refuses a weak signature algorithm", async () => {
    const q = `SAMLRequest=${redirectParam(authnRequest({ issuer: signedIssuer }))}&SigAlg=${encodeURIComponent("http://www.w3.org/2000/09/xmldsig#rsa-sha1")}`;
    const res = await sso(`${q}&Signature=${encodeURIComponent(createSign("RSA-SHA1").update(q).sign(keyPem, "base64"))}`);
    expect(res.status).toBe(403);
    expect(lastAudit()).toMatchObject({ reason: "saml_signature_invalid" });
  });
});
