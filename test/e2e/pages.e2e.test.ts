/**
 * The pages around sign-in, in Chromium with the strict CSP: the app launcher used with the
 * keyboard only, a refusal by policy, an error page and signing out. No console or CSP errors.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { browserAvailable, launchChromium, newPage } from "../helpers/chromium.ts";
import { startGatehouse, type TestGatehouse } from "../helpers/gatehouse.ts";

const run = browserAvailable();
const password = "a long and correct password";

describe.skipIf(!run)("pages around sign-in in Chromium", () => {
  let gh: TestGatehouse;
  let browser: Browser;
  let page: Page;
  let errors: string[] = [];

  beforeAll(async () => {
    gh = await startGatehouse({ GATEHOUSE_DEMO: "true" }, { policies: { "closed.yaml": 'name: closed\nversion: 1\nrules: []\ndefault: { deny: { message: "This app is closed for maintenance." } }\n' } });
    await gh.addUser("ada", password, { firstName: "Ada", email: "ada@example.com" });
    const closed = await gh.addApp({ name: "Closed app", entityId: "https://closed.example.test/metadata", acs: [{ url: "https://closed.example.test/acs", index: 0, isDefault: true }] });
    await gh.rt.loginPolicies.assign(closed.id, "closed", "enforce", gh.clock.now());
    browser = await launchChromium();
    ({ page, errors } = await newPage(browser));
  });
  afterAll(async () => {
    await browser?.close();
    await gh?.close();
  });

  it("signs in and launches an app from the list with the keyboard alone", async () => {
    await page.goto(`${gh.url}/`);
    await page.getByRole("link", { name: "Sign in" }).focus();
    await page.keyboard.press("Enter");
    await page.waitForURL(/\/login\?tx=/);
    await page.waitForFunction(() => document.activeElement?.id === "username"); // autofocus, no click
    await page.keyboard.type("ada");
    await page.keyboard.press("Tab");
    await page.keyboard.type(password);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Hello, Ada" }).waitFor();
    const launch = page.getByRole("button", { name: "Open Demo app" });
    for (let i = 0; i < 15 && !(await launch.evaluate((el) => el === document.activeElement)); i++) await page.keyboard.press("Tab");
    await page.keyboard.press("Enter");
    await page.waitForURL(`${gh.url}/demo/acs`);
    await expect(page.locator("#demo-user").textContent()).resolves.toContain("ada@example.com");
  });

  it("explains a refusal by policy without naming the rule", async () => {
    await page.goto(`${gh.url}/`);
    await page.getByRole("button", { name: "Open Closed app" }).click();
    await expect(page.getByRole("heading", { level: 1 }).textContent()).resolves.toBe("Sign-in refused");
    await expect(page.getByRole("alert").textContent()).resolves.toBe("This app is closed for maintenance.");
    const body = (await page.locator("main").textContent()) ?? "";
    expect(body).toMatch(/Reference: P-\d+/);
    expect(body).not.toContain("closed.yaml");
    await page.screenshot({ path: "test-results/refused.png" });
  });

  it("shows an error page with a reference for a broken request", async () => {
    const res = await page.goto(`${gh.url}/saml/sso?SAMLRequest=not-base64!`);
    expect(res?.status()).toBe(400);
    await expect(page.getByRole("alert").textContent()).resolves.toContain("malformed");
    await expect(page.locator("main code").textContent()).resolves.toBe("saml_message_malformed");
  });

  it("signs out and says so", async () => {
    await page.goto(`${gh.url}/`);
    await page.getByRole("button", { name: "Sign out" }).click();
    await expect(page.getByRole("heading", { level: 1 }).textContent()).resolves.toBe("You are signed out");
    await page.goto(`${gh.url}/account`);
    await page.waitForURL(/\/login\?tx=/);
    // The refusal (403) and the error page (400) are meant to be 4xx; anything else is a fault.
    expect(errors.filter((e) => !/^Failed to load resource: the server responded with a status of 4\d\d/.test(e))).toEqual([]);
  });
});
