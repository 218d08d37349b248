/**
 * Attacks on the local sign-in (leg L): replaying a completed or expired transaction, carrying
 * a transaction into another browser, login CSRF, password guessing, and user enumeration.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Browser, readForm, type Page } from "../helpers/client.ts";
import { startGatehouse, type TestGatehouse } from "../helpers/gatehouse.ts";
import { authnRequest, redirectParam } from "../fixtures/authn-requests.ts";

let gh: TestGatehouse;
const issuer = "https://sp.example.test/metadata";
const password = "a long and correct password";

beforeAll(async () => {
  gh = await startGatehouse();
  await gh.addApp({ entityId: issuer, acs: [{ url: "https://sp.example.test/acs", index: 0, isDefault: true }] });
  await gh.addUser("grace", password);
  await gh.addUser("target", password);
});
afterAll(() => gh.close());

async function loginPage(browser: Browser): Promise<Page> {
  return browser.follow(`${gh.url}/saml/sso?SAMLRequest=${redirectParam(authnRequest({ issuer }))}`);
}

const lastAudit = async () => (await gh.rt.audit.recent(1))[0];

describe("login transactions", () => {
  it("issue at most one assertion: a replayed form submission gets an error page", async () => {
    const browser = new Browser();
    const form = readForm(await loginPage(browser));
    const first = await browser.submit(form, { username: "grace", password });
    expect(first.body).toContain("SAMLResponse");
    const replay = await browser.submit(form, { username: "grace", password });
    expect(replay.status).toBe(400);
    expect(replay.body).not.toContain("SAMLResponse");
    expect(await lastAudit()).toMatchObject({ type: "request.rejected", reason: "transaction_not_found" });
  });

  it("expire after ten minutes", async () => {
    const browser = new Browser();
    const form = readForm(await loginPage(browser));
    gh.clock.advance(11 * 60_000);
    try {
      const res = await browser.submit(form, { username: "grace", password });
      expect(res.status).toBe(400);
      expect(res.body).not.toContain("SAMLResponse");
      expect(await lastAudit()).toMatchObject({ reason: "transaction_expired" });
    } finally {
      gh.clock.advance(-11 * 60_000);
    }
  });

  it("belong to the browser that started them", async () => {
    const form = readForm(await loginPage(new Browser()));
    const res = await new Browser().submit(form, { username: "grace", password });
    expect(res.status).toBe(400);
    expect(await lastAudit()).toMatchObject({ reason: "transaction_wrong_browser" });
  });

  it("refuse a login form without its CSRF token", async () => {
    const browser = new Browser();
    const form = readForm(await loginPage(browser));
    const res = await browser.submit(form, { username: "grace", password, csrf: "forged" });
    expect(res.status).toBe(403);
    expect(await lastAudit()).toMatchObject({ reason: "csrf_failed" });
  });

  it("refuse a login form posted from another site", async () => {
    const browser = new Browser();
    const form = readForm(await loginPage(browser));
    const res = await browser.request(form.action, { form: { ...form.fields, username: "grace", password }, headers: { origin: "https://evil.example.test" } });
    expect(res.status).toBe(403);
  });
});

describe("an app that allows no first factor Gatehouse has", () => {
  const closed = "https://closed.example.test/metadata";
  const signInTo = (browser: Browser, entityId: string) => browser.follow(`${gh.url}/saml/sso?SAMLRequest=${redirectParam(authnRequest({ issuer: entityId }))}`);
  beforeAll(async () => {
    const app = await gh.addApp({ entityId: closed, acs: [{ url: "https://closed.example.test/acs", index: 0, isDefault: true }] });
    await gh.rt.loginPolicies.assign(app.id, "first-factor-only", "enforce", gh.clock.now(), []);
    await gh.addUser("ada", password);
  });

  it("refuses the password, and names the first factor in the decision", async () => {
    const browser = new Browser();
    const denied = await browser.submit(readForm(await signInTo(browser, closed)), { username: "ada", password });
    expect(denied.status).toBe(403);
    expect(denied.body).not.toContain("SAMLResponse");
    expect(await lastAudit()).toMatchObject({ type: "policy.decided", outcome: "failure", reason: "first factor password is not allowed for this app", detail: { firstFactor: "password" } });
  });

  it("refuses an SSO session too: it rests on the first factor it was started with", async () => {
    const browser = new Browser();
    const signedIn = await browser.submit(readForm(await signInTo(browser, issuer)), { username: "ada", password });
    expect(signedIn.body).toContain("SAMLResponse");
    const denied = await signInTo(browser, closed);
    expect(denied.status).toBe(403);
    expect(denied.body).not.toContain("SAMLResponse");
    expect(await lastAudit()).toMatchObject({ type: "policy.decided", outcome: "failure", reason: "first factor password (of the SSO session) is not allowed for this app", detail: { firstFactor: "sso_session" } });
  });
});

describe("password guessing", () => {
  it("is slowed from the fifth consecutive failure: even the right password waits", async () => {
    const browser = new Browser();
    for (let i = 1; i <= 5; i++) {
      const res = await browser.submit(readForm(await loginPage(browser)), { username: "target", password: `wrong guess ${i}` });
      expect(res.status).toBe(401);
    }
    const res = await browser.submit(readForm(await loginPage(browser)), { username: "target", password });
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("30");
    expect(res.body).not.toContain("SAMLResponse");
    expect(await lastAudit()).toMatchObject({ type: "login.throttled", username: "target" });
    gh.clock.advance(31_000);
    const later = await browser.submit(readForm(await loginPage(browser)), { username: "target", password });
    expect(later.body).toContain("SAMLResponse");
  });

  it("gets the same answer for an unknown user as for a wrong password", async () => {
    const browser = new Browser();
    const strip = (p: Page) => p.body.replace(/value="[^"]*"/g, "");
    const unknown = await browser.submit(readForm(await loginPage(browser)), { username: "nobody", password: "whatever it is" });
    const wrong = await browser.submit(readForm(await loginPage(browser)), { username: "nobody", password: "whatever it is" });
    const known = await browser.submit(readForm(await loginPage(browser)), { username: "grace", password: "whatever it is" });
    expect(unknown.status).toBe(401);
    expect(known.status).toBe(401);
    expect(strip(known)).toBe(strip(wrong));
    expect(strip(unknown)).toBe(strip(wrong));
    const audits = (await gh.rt.audit.recent(20)).filter((e) => e.type === "login.password.failed").slice(0, 3).map((e) => e.reason);
    expect(audits).toEqual(["wrong password", "unknown user", "unknown user"]);
  });
});
