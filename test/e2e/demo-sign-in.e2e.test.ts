import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { browserAvailable, launchChromium } from "../helpers/chromium.ts";
import { startGatehouse, type TestGatehouse } from "../helpers/gatehouse.ts";

const run = browserAvailable();

describe.skipIf(!run)("the demo app in Chromium", () => {
  let gh: TestGatehouse;
  let browser: Browser;

  beforeAll(async () => {
    gh = await startGatehouse({ GATEHOUSE_DEMO: "true" });
    await gh.addUser("ada", "a long and correct password", { firstName: "Ada", lastName: "Lovelace", email: "ada@example.com" });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await gh?.close();
  });

  /** From the demo app's start page to Gatehouse's sign-in form, filled and sent. */
  async function signInFromDemo(page: Page, password: string): Promise<void> {
    await page.goto(`${gh.url}/demo`);
    await page.getByRole("button", { name: "Sign in to the demo app" }).click();
    await page.getByLabel("Username or email").fill("ada");
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
  }

  it("walks the whole SAML round trip: demo app → sign-in page → signed assertion accepted", async () => {
    const page = await browser.newPage();
    page.setDefaultTimeout(8000);
    const cspErrors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") cspErrors.push(m.text());
    });
    await page.goto(`${gh.url}/demo`);
    await page.getByRole("button", { name: "Sign in to the demo app" }).click();
    await page.waitForURL(/\/login\?tx=/);
    await expect(page.getByRole("heading", { name: "Sign in" }).textContent()).resolves.toBe("Sign in");
    await expect(page.getByText("to continue to Demo app").count()).resolves.toBe(1);
    await page.getByLabel("Username or email").fill("ada");
    await page.getByLabel("Password").fill("a long and correct password");
    await page.getByRole("button", { name: "Sign in" }).click();
    // The auto-POST page submits itself to the demo ACS with a same-origin script.
    await page.waitForURL(`${gh.url}/demo/acs`);
    await expect(page.locator("#demo-user").textContent()).resolves.toContain("ada@example.com");
    await expect(page.locator("table.attributes").textContent()).resolves.toContain("Lovelace");
    await page.screenshot({ path: "test-results/demo-signed-in.png" });
    expect(cspErrors).toEqual([]);
    // The SSO session now lets the user in without the password.
    await page.goto(`${gh.url}/demo`);
    await page.getByRole("button", { name: "Sign in to the demo app" }).click();
    await page.waitForURL(`${gh.url}/demo/acs`);
    await expect(page.locator("#demo-user").textContent()).resolves.toContain("ada@example.com");
  });

  it("shows a wrong password on the sign-in page without leaving it", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signInFromDemo(page, "not the password at all");
    await expect(page.locator("#login-error").textContent()).resolves.toBe("The username or password is incorrect.");
    await context.close();
  });

  it("posts the response with scripts disabled through the visible Continue button", async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await signInFromDemo(page, "a long and correct password");
    await page.getByRole("button", { name: "Continue" }).click();
    await page.waitForURL(`${gh.url}/demo/acs`);
    await expect(page.locator("#demo-user").textContent()).resolves.toContain("ada@example.com");
    await context.close();
  });
});
