import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ValidateInResponseTo } from "@node-saml/node-saml";
import { Browser, readForm, type Page } from "../helpers/client.ts";
import { startGatehouse, type TestGatehouse } from "../helpers/gatehouse.ts";
import { makeSp, readIdpMetadata, redirectPageTarget, type IdpFromMetadata, type TestSp } from "../helpers/sp.ts";

let gh: TestGatehouse;
let idp: IdpFromMetadata;
let sp: TestSp;
let sp2: TestSp;
const password = "correct horse battery staple";

beforeAll(async () => {
  gh = await startGatehouse({}, { policies: { "closed.yaml": 'name: closed\nversion: 1\nrules: []\ndefault: { deny: { message: "Closed for maintenance." } }\n' } });
  await gh.addUser("ada", password, { firstName: "Ada", lastName: "Lovelace", email: "ada@example.com", groups: ["eng"] });
  idp = await readIdpMetadata(`${gh.url}/saml/metadata`);
  sp = await makeSp(idp, "app-one");
  sp2 = await makeSp(idp, "app-two", { wantAuthnResponseSigned: false });
  await gh.addApp({ entityId: sp.entityId, acs: [{ url: sp.acs, index: 0, isDefault: true }], sloUrl: sp.slo, sloBinding: "HTTP-Redirect", certPem: sp.certPem });
  await gh.addApp({ entityId: sp2.entityId, acs: [{ url: sp2.acs, index: 0, isDefault: true }], signResponse: false });
});
afterAll(() => gh.close());

/** Walks from an SSO URL to the POST page, signing in if Gatehouse asks. */
async function signIn(browser: Browser, ssoPage: Page, creds = { username: "ada", password }): Promise<Page> {
  let page = ssoPage;
  if (page.status === 303 && page.headers.get("location")?.startsWith("/login")) page = await browser.follow(new URL(page.headers.get("location") as string, gh.url).toString());
  if (page.body.includes('action="/login"')) page = await browser.submit(readForm(page), creds);
  return page;
}

function samlPost(page: Page): { action: string; SAMLResponse: string; RelayState?: string } {
  expect(page.status).toBe(200);
  const form = readForm(page);
  return { action: form.action, SAMLResponse: form.fields.SAMLResponse as string, RelayState: form.fields.RelayState };
}

describe("SP-initiated sign-in", () => {
  it("over HTTP-Redirect returns a signed response the app accepts, with RelayState unchanged", async () => {
    const browser = new Browser();
    const url = await sp.saml.getAuthorizeUrlAsync("https://app-one.example.test/after?x=1&y=2", undefined, {});
    const page = await signIn(browser, await browser.request(url));
    const post = samlPost(page);
    expect(post.action).toBe(sp.acs);
    expect(post.RelayState).toBe("https://app-one.example.test/after?x=1&y=2");
    expect(page.headers.get("cache-control")).toContain("no-store");
    expect(page.headers.get("content-security-policy")).toContain("form-action 'self' https://app-one.example.test");
    const { profile } = await sp.saml.validatePostResponseAsync({ SAMLResponse: post.SAMLResponse });
    expect(profile?.nameID).toBe("ada@example.com");
    expect(profile?.issuer).toBe(idp.entityId);
    expect(profile?.firstName).toBe("Ada");
    expect(profile?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(profile?.sessionIndex).toMatch(/^_/);
  });

  it("over HTTP-POST returns a response the app accepts", async () => {
    const browser = new Browser();
    // node-saml deflates POST-binding requests unless told not to; the binding (SAML Bindings §3.5.4) is plain base64.
    const postSp = await makeSp(idp, "app-one", { skipRequestCompression: true, privateKey: sp.keyPem });
    const html = await postSp.saml.getAuthorizeFormAsync("relay-post", undefined, {});
    const form = readForm({ status: 200, url: idp.ssoPost, headers: new Headers(), body: html });
    expect(form.fields.SAMLRequest).toBeTruthy();
    const page = await signIn(browser, await browser.submit(form));
    const post = samlPost(page);
    expect(post.RelayState).toBe("relay-post");
    const { profile } = await postSp.saml.validatePostResponseAsync({ SAMLResponse: post.SAMLResponse });
    expect(profile?.nameID).toBe("ada@example.com");
  });

  it("does not ask again for the password when a second app is opened in the same session", async () => {
    const browser = new Browser();
    await signIn(browser, await browser.request(await sp.saml.getAuthorizeUrlAsync("", undefined, {})));
    const second = await browser.request(await sp2.saml.getAuthorizeUrlAsync("", undefined, {}));
    const post = samlPost(second); // straight to the POST page: no login redirect
    const { profile } = await sp2.saml.validatePostResponseAsync({ SAMLResponse: post.SAMLResponse });
    expect(profile?.nameID).toBe("ada@example.com");
    const types = (await gh.rt.audit.recent(5)).map((e) => e.type);
    expect(types).toContain("session.reused");
  });

  it("gives a response the app rejects once anything in it is tampered with", async () => {
    const browser = new Browser();
    const page = await signIn(browser, await browser.request(await sp.saml.getAuthorizeUrlAsync("", undefined, {})));
    const xml = Buffer.from(samlPost(page).SAMLResponse, "base64").toString("utf8");
    const tamperings: [string, string][] = [
      ["NameID", xml.replace("ada@example.com</saml:NameID>", "eve@example.com</saml:NameID>")],
      ["attribute", xml.replace(">Ada<", ">Eve<")],
      ["audience", xml.replace(`<saml:Audience>${sp.entityId}`, "<saml:Audience>https://other.example.test")],
      ["signature value", xml.replace(/<ds:SignatureValue>(.)/, (_m, c: string) => `<ds:SignatureValue>${c === "A" ? "B" : "A"}`)],
    ];
    for (const [what, bad] of tamperings) {
      expect(bad, what).not.toBe(xml);
      await expect(sp.saml.validatePostResponseAsync({ SAMLResponse: Buffer.from(bad).toString("base64") }), what).rejects.toThrow();
    }
  });
});

describe("IdP-initiated sign-in", () => {
  it("launches an app by POST with a CSRF token and the app accepts the unsolicited response", async () => {
    const browser = new Browser();
    await signIn(browser, await browser.follow(`${gh.url}/login`));
    const home = await browser.request(`${gh.url}/`);
    const appId = (await gh.rt.apps.byEntityId(sp.entityId))?.id as string;
    const launch = readForm(home, [...home.body.matchAll(/<form/g)].findIndex((_m, i) => readForm(home, i).action.includes(appId)));
    const page = await browser.submit(launch);
    const post = samlPost(page);
    const unsolicited = await makeSp(idp, "app-one", { validateInResponseTo: ValidateInResponseTo.ifPresent });
    const { profile } = await unsolicited.saml.validatePostResponseAsync({ SAMLResponse: post.SAMLResponse });
    expect(profile?.nameID).toBe("ada@example.com");
    expect(profile?.inResponseTo).toBeUndefined();
    // The click is an attempt; the assertion issued after the app's policy is the outcome.
    const events = await gh.rt.audit.recent(10);
    const launched = events.findIndex((e) => e.type === "app.launched");
    const issued = events.findIndex((e) => e.type === "saml.response.issued");
    expect(events[launched]).toMatchObject({ outcome: "info", appId });
    expect(events[issued]).toMatchObject({ outcome: "success", appId });
    expect(issued).toBeLessThan(launched); // newest first: issued after the launch
  });

  it("audits a launch the app's policy refuses as an attempt, and the refusal as the outcome", async () => {
    const closed = await gh.addApp({ name: "Closed", entityId: "https://closed.example.test/metadata", acs: [{ url: "https://closed.example.test/acs", index: 0, isDefault: true }] });
    await gh.rt.loginPolicies.assign(closed.id, "closed", "enforce", gh.clock.now());
    const browser = new Browser();
    await signIn(browser, await browser.follow(`${gh.url}/login`));
    const home = await browser.request(`${gh.url}/`);
    const launch = readForm(home, [...home.body.matchAll(/<form/g)].findIndex((_m, i) => readForm(home, i).action.includes(closed.id)));
    const page = await browser.submit(launch);
    expect(page.body).not.toContain("SAMLResponse");
    const events = (await gh.rt.audit.recent(10)).filter((e) => e.appId === closed.id);
    expect(events.map((e) => e.outcome)).not.toContain("success");
    expect(events.find((e) => e.type === "app.launched")).toMatchObject({ outcome: "info" });
  });

  it("refuses a launch without the CSRF token", async () => {
    const browser = new Browser();
    await signIn(browser, await browser.follow(`${gh.url}/login`));
    const appId = (await gh.rt.apps.byEntityId(sp.entityId))?.id as string;
    const page = await browser.request(`${gh.url}/apps/${appId}/launch`, { form: {} });
    expect(page.status).toBe(403);
    expect(page.body).not.toContain("SAMLResponse");
  });
});

describe("single logout", () => {
  it("ends the session on an app's signed LogoutRequest and answers with a LogoutResponse the app accepts", async () => {
    const browser = new Browser();
    const page = await signIn(browser, await browser.request(await sp.saml.getAuthorizeUrlAsync("", undefined, {})));
    const { profile } = await sp.saml.validatePostResponseAsync({ SAMLResponse: samlPost(page).SAMLResponse });
    const logoutUrl = await sp.saml.getLogoutUrlAsync(profile as NonNullable<typeof profile>, "bye", {});
    const answer = await browser.request(logoutUrl);
    expect(answer.status).toBe(303);
    const location = new URL(answer.headers.get("location") as string);
    expect(`${location.origin}${location.pathname}`).toBe(sp.slo);
    const query = Object.fromEntries(location.searchParams);
    const result = await sp.saml.validateRedirectAsync(query, location.search.slice(1));
    expect(result.loggedOut).toBe(true);
    expect(query.RelayState).toBe("bye");
    // The session is gone: the next sign-in asks for the password again.
    const again = await browser.request(await sp.saml.getAuthorizeUrlAsync("", undefined, {}));
    expect(again.headers.get("location")).toMatch(/^\/login\?tx=/);
  });

  it("tells the other apps of the session when the user signs out at Gatehouse", async () => {
    const browser = new Browser();
    const page = await signIn(browser, await browser.request(await sp.saml.getAuthorizeUrlAsync("", undefined, {})));
    await sp.saml.validatePostResponseAsync({ SAMLResponse: samlPost(page).SAMLResponse });
    const home = await browser.request(`${gh.url}/`);
    const logoutForm = readForm(home, [...home.body.matchAll(/<form/g)].length - 1);
    expect(logoutForm.action).toBe(`${gh.url}/logout`);
    const out = await browser.submit(logoutForm);
    // An answer to a form post never redirects off-origin (CSP form-action): a page navigates on.
    expect(out.headers.get("location")).toBeNull();
    const location = new URL(redirectPageTarget(out));
    expect(`${location.origin}${location.pathname}`).toBe(sp.slo);
    const query = Object.fromEntries(location.searchParams);
    const request = await sp.saml.validateRedirectAsync(query, location.search.slice(1));
    expect(request.loggedOut).toBe(true);
    expect(request.profile?.nameID).toBe("ada@example.com");
    const responseUrl = await sp.saml.getLogoutResponseUrlAsync(request.profile as NonNullable<typeof request.profile>, "", {}, true);
    // Our LogoutRequest is single-use: of ten copies of the app's answer at once, one moves the
    // sign-out on (a compare-and-set on the chain; it decides once the store answers over a network).
    const answers = await Promise.all(Array.from({ length: 10 }, () => browser.request(responseUrl)));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 400)).toHaveLength(9);
    const done = answers.find((a) => a.status === 200);
    expect(done?.body).toContain("You are signed out");
    const received = (await gh.rt.audit.recent(50)).filter((e) => e.type === "saml.logout.response_received" && (e.detail as { inResponseTo?: string } | null)?.inResponseTo === request.profile?.ID);
    expect(received).toHaveLength(1);
  });

  it("refuses an unsigned LogoutRequest and ends nothing", async () => {
    const browser = new Browser();
    const page = await signIn(browser, await browser.request(await sp.saml.getAuthorizeUrlAsync("", undefined, {})));
    const { profile } = await sp.saml.validatePostResponseAsync({ SAMLResponse: samlPost(page).SAMLResponse });
    const unsigned = await makeSp(idp, "app-one", { privateKey: undefined });
    const url = await unsigned.saml.getLogoutUrlAsync(profile as NonNullable<typeof profile>, "", {});
    expect(url).not.toContain("Signature=");
    const answer = await browser.request(url);
    expect(answer.status).toBe(403);
    expect((await gh.rt.audit.recent(1))[0]).toMatchObject({ type: "saml.logout.rejected", reason: "saml_signature_required" });
    const again = await browser.request(await sp.saml.getAuthorizeUrlAsync("", undefined, {}));
    expect(again.status).toBe(200); // still signed in: straight to the POST page
  });
});
