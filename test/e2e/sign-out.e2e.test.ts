/**
 * Signing out at Gatehouse in Chromium, with an app on another origin: the Sentry-faithful SP
 * (python3-saml, ../shared/sentry-sp) on its own port of 127.0.0.1. The sign-out form posts to
 * /logout under `form-action 'self'`; Chromium applies form-action to every redirect that follows
 * a form submission, so /logout must never answer with a redirect off our origin. The app's SLO
 * endpoint must be reached, its LogoutResponse accepted, the page must end on "You are signed out",
 * and the console must stay free of CSP violations.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sentryApp } from "../../src/cli/apps.ts";
import { browserAvailable, launchChromium, newPage } from "../helpers/chromium.ts";
import { startGatehouse, type TestGatehouse } from "../helpers/gatehouse.ts";
import { sentrySpAvailable, startSentrySp, type SentrySp } from "../helpers/sentry-sp.ts";

const run = browserAvailable() && sentrySpAvailable();
const password = "a long and correct password";

describe.skipIf(!run)("signing out at Gatehouse in Chromium, with Sentry on another origin", () => {
  let gh: TestGatehouse;
  let sentry: SentrySp;
  let browser: Browser;

  beforeAll(async () => {
    gh = await startGatehouse();
    await gh.addUser("ada", password, { firstName: "Ada", lastName: "Lovelace", email: "ada@example.com" });
    sentry = await startSentrySp(`${gh.url}/saml/metadata`, ["identifier=user_id", "user_email=user_email", "first_name=first_name", "last_name=last_name"]);
    await gh.rt.apps.add(sentryApp("acme", sentry.base), gh.clock.now());
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    sentry?.stop();
    await gh?.close();
  });

  /** From Sentry's organization page through Gatehouse's sign-in to Sentry's ACS, which accepts. */
  async function signInToSentry(page: Page): Promise<void> {
    expect(new URL(sentry.base).origin).not.toBe(new URL(gh.url).origin);
    await page.goto(`${sentry.base}/organizations/acme/`);
    await page.waitForURL(/\/login\?tx=/);
    await page.getByLabel("Username or email").fill("ada");
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${sentry.base}/saml/acs/acme/`);
    expect(JSON.parse(await page.locator("body").innerText())).toMatchObject({ ok: true, identity: { email: "ada@example.com" } });
  }

  const slsEvents = () => sentry.events.filter((e) => e.event === "sls");

  /**
   * A page whose console errors (CSP violations among them) are collected with where they came
   * from. The Python harness serves no favicon: Chromium's 404 for it is the harness, not us.
   */
  async function consoleWatched(): Promise<{ page: Page; errors: string[] }> {
    const { page } = await newPage(browser);
    const errors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error" && m.location().url !== `${sentry.base}/favicon.ico`) errors.push(`${m.text()} (${m.location().url})`);
    });
    page.on("pageerror", (e) => errors.push(e.message));
    return { page, errors };
  }

  it("reaches Sentry's SLO endpoint, accepts its LogoutResponse and ends on 'You are signed out'", async () => {
    const { page, errors } = await consoleWatched();
    await signInToSentry(page);
    const before = slsEvents().length;
    await page.goto(`${gh.url}/`);
    await expect(page.getByRole("heading", { name: "Hello, Ada" }).count()).resolves.toBe(1);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(new RegExp(`^${gh.url}/saml/slo\\?SAMLResponse=`));
    await expect(page.getByRole("heading", { level: 1 }).textContent()).resolves.toBe("You are signed out");
    // Sentry validated our LogoutRequest and ended its own session for this browser.
    expect(slsEvents().slice(before)).toEqual([expect.objectContaining({ status: 302, errors: [], local_session_deleted: true })]);
    // ...and Gatehouse accepted Sentry's (unsigned, InResponseTo-bound) LogoutResponse.
    const types = (await gh.rt.audit.recent(6)).map((e) => `${e.type}:${e.outcome}`);
    expect(types).toContain("saml.logout.response_received:success");
    expect(types).toContain("saml.logout.completed:success");
    expect(errors).toEqual([]);
    // Gatehouse's session is gone too.
    await page.goto(`${gh.url}/`);
    await expect(page.getByRole("link", { name: "Sign in" }).count()).resolves.toBe(1);
  });

  it("gets there with scripts disabled through the visible Continue link", async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    page.setDefaultTimeout(8000);
    // The POST page to Sentry's ACS needs its Continue button without scripts.
    await page.goto(`${sentry.base}/organizations/acme/`);
    await page.getByLabel("Username or email").fill("ada");
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("button", { name: "Continue" }).click();
    await page.waitForURL(`${sentry.base}/saml/acs/acme/`);
    const before = slsEvents().length;
    await page.goto(`${gh.url}/`);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("link", { name: "Continue" }).click();
    await page.waitForURL(new RegExp(`^${gh.url}/saml/slo\\?SAMLResponse=`));
    await expect(page.getByRole("heading", { level: 1 }).textContent()).resolves.toBe("You are signed out");
    expect(slsEvents().slice(before)).toEqual([expect.objectContaining({ errors: [], local_session_deleted: true })]);
    await context.close();
  });
});
