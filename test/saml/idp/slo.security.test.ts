/**
 * Hostile LogoutRequests at the SLO endpoint (leg D-in). A registered app's signed LogoutRequest
 * ends sessions, so a captured one must not work twice or hours later, a SessionIndex must name
 * a session Gatehouse really gave that app for that NameID (else the answer is not Success and
 * nothing ends), and malformed escapes in the Redirect-binding signature are a 400, not a fault.
 * Every answer Gatehouse sends is checked by @node-saml/node-saml acting as the app.
 */
import { createSign } from "node:crypto";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import type { Profile } from "@node-saml/node-saml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Browser, readForm, type Page } from "../../helpers/client.ts";
import { startGatehouse, type TestGatehouse } from "../../helpers/gatehouse.ts";
import { makeSp, readIdpMetadata, type IdpFromMetadata, type TestSp } from "../../helpers/sp.ts";

const password = "correct horse battery staple";
let gh: TestGatehouse;
let idp: IdpFromMetadata;
let sp: TestSp;
let other: TestSp;

beforeAll(async () => {
  gh = await startGatehouse();
  await gh.addUser("ada", password, { email: "ada@example.com" });
  idp = await readIdpMetadata(`${gh.url}/saml/metadata`);
  sp = await makeSp(idp, "app-one");
  other = await makeSp(idp, "app-two");
  for (const s of [sp, other]) await gh.addApp({ entityId: s.entityId, acs: [{ url: s.acs, index: 0, isDefault: true }], sloUrl: s.slo, sloBinding: "HTTP-Redirect", certPem: s.certPem });
});
afterAll(() => gh.close());

const lastAudit = async () => (await gh.rt.audit.recent(1))[0];

/** Signs in to the app in this browser (asking for the password only if Gatehouse does); the profile the app accepted. */
async function signIn(browser: Browser, app: TestSp = sp): Promise<Profile> {
  let page: Page = await browser.follow(await app.saml.getAuthorizeUrlAsync("", undefined, {}), {}, gh.url);
  if (page.body.includes('action="/login"')) page = await browser.submit(readForm(page), { username: "ada", password });
  const { profile } = await app.saml.validatePostResponseAsync({ SAMLResponse: readForm(page).fields.SAMLResponse as string });
  if (!profile) throw new Error("no profile");
  return profile;
}

/** Whether this browser still has a Gatehouse session: SSO goes straight to the POST page. */
async function stillSignedIn(browser: Browser, app: TestSp = sp): Promise<boolean> {
  const page = await browser.request(await app.saml.getAuthorizeUrlAsync("", undefined, {}));
  return page.status === 200 && page.body.includes("SAMLResponse");
}

/** Gatehouse's answer, a Redirect-binding LogoutResponse at the app's SLO URL, as the app reads it. */
async function appReads(answer: Page, app: TestSp = sp) {
  expect(answer.status).toBe(303);
  const location = new URL(answer.headers.get("location") as string);
  expect(`${location.origin}${location.pathname}`).toBe(app.slo);
  const xml = inflateRawSync(Buffer.from(location.searchParams.get("SAMLResponse") as string, "base64")).toString("utf8");
  const verdict = await app.saml.validateRedirectAsync(Object.fromEntries(location.searchParams), location.search.slice(1)).then(
    (r) => ({ loggedOut: r.loggedOut, error: null }),
    (e: unknown) => ({ loggedOut: false, error: (e as Error).message }),
  );
  return { ...verdict, xml };
}

/** A LogoutRequest from the app, shaped by hand (the attack), signed with the app's key for the Redirect binding. */
function logoutQuery(o: { id?: string; instant?: Date; notOnOrAfter?: Date; nameId?: string; sessionIndex?: string; app?: TestSp }): string {
  const app = o.app ?? sp;
  const xml =
    `<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${o.id ?? `_lr${Math.random().toString(16).slice(2)}`}" Version="2.0" IssueInstant="${(o.instant ?? new Date()).toISOString()}" Destination="${gh.url}/saml/slo"${o.notOnOrAfter ? ` NotOnOrAfter="${o.notOnOrAfter.toISOString()}"` : ""}>` +
    `<saml:Issuer>${app.entityId}</saml:Issuer><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">${o.nameId ?? "ada@example.com"}</saml:NameID>` +
    `${o.sessionIndex ? `<samlp:SessionIndex>${o.sessionIndex}</samlp:SessionIndex>` : ""}</samlp:LogoutRequest>`;
  const q = `SAMLRequest=${encodeURIComponent(deflateRawSync(Buffer.from(xml)).toString("base64"))}&SigAlg=${encodeURIComponent("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")}`;
  return `${q}&Signature=${encodeURIComponent(createSign("RSA-SHA256").update(q).sign(app.keyPem, "base64"))}`;
}

describe("SessionIndex: Success only when the session it names has ended", () => {
  it("keeps one SessionIndex per session and app, so a LogoutRequest with the first sign-in's index still ends the session", async () => {
    const browser = new Browser();
    const first = await signIn(browser);
    const second = await signIn(browser); // the same session, no password: a second assertion
    expect(second.sessionIndex).toBe(first.sessionIndex);
    const answer = await browser.request(await sp.saml.getLogoutUrlAsync(first, "", {}));
    expect(await appReads(answer)).toMatchObject({ loggedOut: true, error: null });
    expect(await stillSignedIn(browser)).toBe(false);
  });

  it("gives each app of a session its own SessionIndex", async () => {
    const browser = new Browser();
    const one = await signIn(browser, sp);
    const two = await signIn(browser, other);
    expect(two.sessionIndex).not.toBe(one.sessionIndex);
  });

  const refusals: [name: string, tamper: (p: Profile, otherApp: Profile) => Partial<Profile>][] = [
    ["a SessionIndex Gatehouse never gave", () => ({ sessionIndex: "_never-issued" })],
    ["this session's SessionIndex with another NameID", () => ({ nameID: "eve@example.com" })],
    ["the SessionIndex Gatehouse gave another app", (_p, o) => ({ sessionIndex: o.sessionIndex })],
  ];
  it.each(refusals)("answers %s with Requester/UnknownPrincipal and ends nothing", async (_name, tamper) => {
    const browser = new Browser();
    const mine = await signIn(browser, sp);
    const theirs = await signIn(browser, other);
    const answer = await browser.request(await sp.saml.getLogoutUrlAsync({ ...mine, ...tamper(mine, theirs) }, "", {}));
    const read = await appReads(answer);
    expect(read.error).toMatch(/Bad status code: urn:oasis:names:tc:SAML:2.0:status:Requester/);
    expect(read.xml).toContain('Value="urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal"');
    expect(await lastAudit()).toMatchObject({ type: "saml.logout.request_received", outcome: "failure", reason: "unknown_session" });
    expect(await stillSignedIn(browser, sp)).toBe(true);
    expect(await stillSignedIn(browser, other)).toBe(true);
  });

  it("answers a LogoutRequest without SessionIndex for the session this browser holds, and ends it", async () => {
    const browser = new Browser();
    const profile = await signIn(browser);
    const url = await sp.saml.getLogoutUrlAsync({ ...profile, sessionIndex: undefined }, "", {});
    expect(inflateRawSync(Buffer.from(new URL(url).searchParams.get("SAMLRequest") as string, "base64")).toString()).not.toContain("SessionIndex");
    const answer = await browser.request(url);
    expect(await appReads(answer)).toMatchObject({ loggedOut: true, error: null });
    expect(await stillSignedIn(browser)).toBe(false);
  });

  it("answers a LogoutRequest without SessionIndex from a browser with no such session with Requester/UnknownPrincipal", async () => {
    const profile = await signIn(new Browser());
    const stranger = new Browser();
    const read = await appReads(await stranger.request(await sp.saml.getLogoutUrlAsync({ ...profile, sessionIndex: undefined }, "", {})));
    expect(read.error).toMatch(/Bad status code: urn:oasis:names:tc:SAML:2.0:status:Requester/);
    expect(await lastAudit()).toMatchObject({ type: "saml.logout.request_received", outcome: "failure", reason: "unknown_session" });
  });
});

describe("freshness and replay of LogoutRequests", () => {
  const minutes = (n: number) => new Date(Date.now() + n * 60_000);
  const stale: [name: string, query: (index: string) => string][] = [
    ["issued an hour ago", (sessionIndex) => logoutQuery({ sessionIndex, instant: minutes(-60) })],
    ["issued ten minutes in the future", (sessionIndex) => logoutQuery({ sessionIndex, instant: minutes(10) })],
    ["past its own NotOnOrAfter", (sessionIndex) => logoutQuery({ sessionIndex, notOnOrAfter: minutes(-10) })],
  ];
  it.each(stale)("refuses a LogoutRequest %s and ends nothing", async (_name, query) => {
    const browser = new Browser();
    const profile = await signIn(browser);
    const answer = await browser.request(`${gh.url}/saml/slo?${query(profile.sessionIndex as string)}`);
    expect(answer.status).toBe(400);
    expect(answer.headers.get("location")).toBeNull();
    expect(answer.body).toContain("saml_logout_stale");
    expect(await lastAudit()).toMatchObject({ type: "saml.logout.rejected", outcome: "failure", reason: "saml_logout_stale" });
    expect(await stillSignedIn(browser)).toBe(true);
  });

  it("refuses a LogoutRequest seen before, even once it names a session that has ended", async () => {
    const browser = new Browser();
    const url = await sp.saml.getLogoutUrlAsync(await signIn(browser), "", {});
    expect(await appReads(await browser.request(url))).toMatchObject({ loggedOut: true });
    await signIn(browser); // a new session, which the captured request must not touch
    const again = await browser.request(url);
    expect(again.status).toBe(400);
    expect(again.body).toContain("saml_logout_replayed");
    expect(await lastAudit()).toMatchObject({ type: "saml.logout.rejected", reason: "saml_logout_replayed" });
    expect(await stillSignedIn(browser)).toBe(true);
  });

  it("refuses the same LogoutRequest fired 20 times at once, but once", async () => {
    const browser = new Browser();
    const query = logoutQuery({ sessionIndex: (await signIn(browser)).sessionIndex });
    const answers = await Promise.all(Array.from({ length: 20 }, () => new Browser().request(`${gh.url}/saml/slo?${query}`)));
    expect(answers.filter((a) => a.status === 303)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 400 && a.body.includes("saml_logout_replayed"))).toHaveLength(19);
  });

  it("keeps LogoutRequest IDs apart from AuthnRequest IDs: one ID may serve both once", async () => {
    const shared = `_shared${Math.random().toString(16).slice(2)}`;
    const fixed = await makeSp(idp, "app-one", { generateUniqueId: () => shared, privateKey: sp.keyPem, acceptedClockSkewMs: 2_000 });
    const browser = new Browser();
    const profile = await signIn(browser, fixed); // AuthnRequest ID = shared
    const answer = await browser.request(await fixed.saml.getLogoutUrlAsync(profile, "", {})); // LogoutRequest ID = shared
    expect(answer.headers.get("location")).toContain("SAMLResponse=");
    expect(await appReads(answer, fixed)).toMatchObject({ loggedOut: true, error: null });
  });
});

describe("malformed percent-escapes in the Redirect-binding signature", () => {
  const cases: [param: string, tamper: (q: string) => string][] = [
    ["SigAlg", (q) => q.replace(/SigAlg=[^&]*/, "SigAlg=%E0%A4%A")],
    ["Signature", (q) => q.replace(/Signature=[^&]*/, "Signature=%zz")],
  ];
  it.each(cases)("answers a malformed %s escape with a catalogued 400 and an audit event", async (_param, tamper) => {
    const browser = new Browser();
    const profile = await signIn(browser);
    const answer = await browser.request(`${gh.url}/saml/slo?${tamper(logoutQuery({ sessionIndex: profile.sessionIndex }))}`);
    expect(answer.status).toBe(400);
    expect(answer.body).toContain("saml_message_malformed");
    expect(answer.body).not.toContain("sign-in request"); // a sign-out message is not called a sign-in
    expect(await lastAudit()).toMatchObject({ type: "saml.logout.rejected", outcome: "failure", reason: "saml_message_malformed" });
    expect(await stillSignedIn(browser)).toBe(true);
  });
});
