/**
 * Hostile input at the SSO endpoint (leg D-in). An attacker controls every byte an app's
 * browser sends: unknown issuers, unregistered ACS URLs (assertion theft by redirect),
 * malformed base64, deflate bombs, oversized requests, DTDs and entities, replays.
 * Each must end on Gatehouse's own error page with a 4xx, an audit event, and no assertion.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignedXml } from "xml-crypto";
import { Browser, readForm, type Page } from "../../helpers/client.ts";
import { startGatehouse, type TestGatehouse } from "../../helpers/gatehouse.ts";
import { journeys } from "../../helpers/journeys.ts";
import { makeSp, readIdpMetadata, type TestSp } from "../../helpers/sp.ts";
import { authnRequest, deflateBomb, redirectParam, withDoctype } from "../../fixtures/authn-requests.ts";
import { generateSigningKey } from "../../../src/crypto/keys.ts";
import { createSign } from "node:crypto";

let gh: TestGatehouse;
const issuer = "https://sp.example.test/metadata";
const acs = "https://sp.example.test/acs";
const password = "correct horse battery staple";

beforeAll(async () => {
  gh = await startGatehouse({}, { policies: { "totp.yaml": "name: totp\nversion: 1\nrules: []\ndefault: { challenge: { methods: [totp] } }\n" } });
  await gh.addApp({ entityId: issuer, acs: [{ url: acs, index: 0, isDefault: true }] });
});
afterAll(() => gh.close());

async function sso(query: string): Promise<{ status: number; body: string; location: string | null }> {
  const res = await new Browser().request(`${gh.url}/saml/sso?${query}`);
  return { status: res.status, body: res.body, location: res.headers.get("location") };
}

async function lastAudit() {
  return (await gh.rt.audit.recent(1))[0];
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
    expect(await lastAudit()).toMatchObject({ type: "saml.authn_request.rejected", outcome: "failure", reason: code });
  });

  it("refuses a replayed AuthnRequest", async () => {
    const query = `SAMLRequest=${redirectParam(authnRequest({ issuer, id: "_replay-me" }))}`;
    expect((await sso(query)).status).toBe(303);
    const again = await sso(query);
    expect(again.status).toBe(400);
    expect(await lastAudit()).toMatchObject({ type: "saml.authn_request.rejected", reason: "saml_request_replayed" });
  });

  it("refuses an oversized form body on the POST binding", async () => {
    const res = await new Browser().request(`${gh.url}/saml/sso`, { form: { SAMLRequest: "A".repeat(600 * 1024) } });
    expect(res.status).toBe(413);
    expect(await lastAudit()).toMatchObject({ reason: "payload_too_large" });
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
    await gh.addApp({ entityId: signedIssuer, acs: [{ url: "https://signed-sp.example.test/acs", index: 0, isDefault: true }], certPem: k.certPem, wantRequestsSigned: true });
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
    expect(await lastAudit()).toMatchObject({ reason: "saml_signature_required" });
  });

  it("refuses a request signed with another key", async () => {
    const res = await sso(signedQuery(authnRequest({ issuer: signedIssuer }), otherKeyPem));
    expect(res.status).toBe(403);
    expect(await lastAudit()).toMatchObject({ reason: "saml_signature_invalid" });
  });

  const malformed: [param: string, tamper: (q: string) => string][] = [
    ["SigAlg", (q) => q.replace(/SigAlg=[^&]*/, "SigAlg=%E0%A4%A")],
    ["Signature", (q) => q.replace(/Signature=[^&]*/, "Signature=%zz")],
  ];
  it.each(malformed)("answers a malformed percent-escape in %s with a catalogued 400 and an audit event", async (_param, tamper) => {
    const res = await sso(tamper(signedQuery(authnRequest({ issuer: signedIssuer }), keyPem)));
    expect(res.status).toBe(400);
    expect(res.body).toContain("saml_message_malformed");
    expect(await lastAudit()).toMatchObject({ type: "saml.authn_request.rejected", outcome: "failure", reason: "saml_message_malformed" });
  });

  it("refuses a weak signature algorithm", async () => {
    const q = `SAMLRequest=${redirectParam(authnRequest({ issuer: signedIssuer }))}&SigAlg=${encodeURIComponent("http://www.w3.org/2000/09/xmldsig#rsa-sha1")}`;
    const res = await sso(`${q}&Signature=${encodeURIComponent(createSign("RSA-SHA1").update(q).sign(keyPem, "base64"))}`);
    expect(res.status).toBe(403);
    expect(await lastAudit()).toMatchObject({ reason: "saml_signature_invalid" });
  });
});

/**
 * RequestedAuthnContext (SAML Core §3.3.2.2.1): an app that asks for an authentication context
 * gets one that meets the request, or a Response with Responder/NoAuthnContext at its registered
 * ACS, never an assertion that claims something else. node-saml, as the app, reads every answer.
 */
describe("RequestedAuthnContext", () => {
  const mfa = "https://refeds.org/profile/mfa";
  const ppt = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";
  const kerberos = "urn:oasis:names:tc:SAML:2.0:ac:classes:Kerberos";
  const j = journeys(() => gh, password);
  let idp: Awaited<ReturnType<typeof readIdpMetadata>>;
  let secret: string;

  beforeAll(async () => {
    idp = await readIdpMetadata(`${gh.url}/saml/metadata`);
    await gh.addUser("mia", password, { email: "mia@example.com" });
    secret = await j.enrolTotp(await j.accountSession(j.browser(), "mia"));
    // Both apps are registered by the entity IDs makeSp gives them; only the policy differs.
    for (const name of ["password-app", "totp-app"]) {
      const app = await gh.addApp({ name, entityId: `https://${name}.example.test/saml/metadata`, acs: [{ url: `https://${name}.example.test/saml/acs`, index: 0, isDefault: true }] });
      if (name === "totp-app") await gh.rt.loginPolicies.assign(app.id, "totp", "enforce", gh.clock.now());
    }
  });

  type Comparison = "exact" | "minimum" | "maximum" | "better";
  /** The app asks; mia signs in (the password, then a TOTP code where the app's policy asks for one). */
  async function ask(appName: "password-app" | "totp-app", classes: string[], comparison: Comparison): Promise<{ app: TestSp; first: Page; page: Page }> {
    const app = await makeSp(idp, appName, { disableRequestedAuthnContext: false, authnContext: classes, racComparison: comparison, acceptedClockSkewMs: 10 * 60_000 });
    const b = j.browser();
    const first = await b.request(await app.saml.getAuthorizeUrlAsync("relay", undefined, {}));
    let page = await j.signIn(b, app, "mia");
    if (page.body.includes("Enter the code from your authenticator app")) {
      gh.clock.advance(60_000); // a fresh TOTP step for every sign-in
      page = await b.submit(readForm(page), { code: j.totpNow(secret) });
    }
    return { app, first, page };
  }

  async function expectNoAuthnContext(app: TestSp, page: Page): Promise<void> {
    expect(page.status).toBe(200);
    const form = readForm(page);
    expect(form.action).toBe(app.acs); // the registered ACS, nowhere else
    expect(form.fields.RelayState).toBe("relay");
    const xml = Buffer.from(form.fields.SAMLResponse as string, "base64").toString("utf8");
    await expect(app.saml.validatePostResponseAsync({ SAMLResponse: form.fields.SAMLResponse as string })).rejects.toThrow("SAML provider returned Responder error: NoAuthnContext");
    expect(xml).not.toContain("<saml:Assertion");
    expect(xml).toMatch(/InResponseTo="_/);
    // Signed by the key in Gatehouse's metadata (checked with xml-crypto, not Gatehouse's code).
    const verifier = new SignedXml({ publicCert: idp.certPem, getCertFromKeyInfo: () => null });
    verifier.loadSignature(/<ds:Signature[\s\S]*<\/ds:Signature>/.exec(xml)?.[0] as string);
    expect(verifier.checkSignature(xml)).toBe(true);
    expect((await gh.rt.audit.recent(5)).find((e) => e.type === "saml.response.refused")).toMatchObject({ outcome: "failure", reason: "no_authn_context" });
  }

  const afterSignIn: [name: string, app: "password-app" | "totp-app", classes: string[], comparison: Comparison, expected: string | null][] = [
    ["MFA (exact) after the password alone", "password-app", [mfa], "exact", null],
    ["MFA (exact) after a TOTP code", "totp-app", [mfa], "exact", mfa],
    ["PasswordProtectedTransport (exact) after a TOTP code", "totp-app", [ppt], "exact", ppt],
    ["PasswordProtectedTransport (minimum) after a TOTP code", "totp-app", [ppt], "minimum", mfa],
    ["MFA (minimum) after the password alone", "password-app", [mfa], "minimum", null],
    ["PasswordProtectedTransport (better) after the password alone", "password-app", [ppt], "better", null],
    ["PasswordProtectedTransport (better) after a TOTP code", "totp-app", [ppt], "better", mfa],
    ["MFA (maximum) after the password alone", "password-app", [mfa], "maximum", ppt],
    ["Kerberos or MFA (exact) after a TOTP code", "totp-app", [kerberos, mfa], "exact", mfa],
  ];
  it.each(afterSignIn)("answers %s as the specification says", async (_name, appName, classes, comparison, expected) => {
    const { app, page } = await ask(appName, classes, comparison);
    if (expected === null) return expectNoAuthnContext(app, page);
    const { profile } = await app.saml.validatePostResponseAsync({ SAMLResponse: readForm(page).fields.SAMLResponse as string });
    expect(profile?.nameID).toBe("mia@example.com");
    const xml = Buffer.from(readForm(page).fields.SAMLResponse as string, "base64").toString("utf8");
    expect(/<saml:AuthnContextClassRef>([^<]*)</.exec(xml)?.[1]).toBe(expected);
  });

  const never: [name: string, classes: string[], comparison: Comparison][] = [
    ["a class Gatehouse never asserts (Kerberos, exact)", [kerberos], "exact"],
    ["better than MFA", [mfa], "better"],
  ];
  it.each(never)("answers %s with NoAuthnContext at once, without asking for a password", async (_name, classes, comparison) => {
    const { app, first } = await ask("password-app", classes, comparison);
    expect(first.headers.get("location")).toBeNull(); // no detour through /login
    await expectNoAuthnContext(app, first);
  });

  it("refuses a RequestedAuthnContext with an unknown Comparison", async () => {
    const extra = `<samlp:RequestedAuthnContext Comparison="whatever"><saml:AuthnContextClassRef>${mfa}</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>`;
    const res = await sso(`SAMLRequest=${redirectParam(authnRequest({ issuer, extra }))}`);
    expect(res.status).toBe(400);
    expect(await lastAudit()).toMatchObject({ type: "saml.authn_request.rejected", reason: "saml_message_malformed" });
  });
});
