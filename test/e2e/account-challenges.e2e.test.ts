/**
 * The end user's whole journey in Chromium: set up an alternate email, then (after confirming
 * it's you with a code sent there) security questions and an authenticator app (from the QR
 * page) in the account console, then meet each challenge when signing in to the demo app, and
 * finally trust the device so the next sign-in skips it.
 * Mail goes to the dev outbox, which the console shows in demo mode.
 */
import { generateSync } from "otplib";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { browserAvailable, launchChromium, newPage } from "../helpers/chromium.ts";
import { startGatehouse, type TestGatehouse } from "../helpers/gatehouse.ts";

const run = browserAvailable();
const password = "a long and correct password";

describe.skipIf(!run)("challenges and the account console in Chromium", () => {
  let gh: TestGatehouse;
  let browser: Browser;
  let page: Page;
  let secret = "";
  let errors: string[] = [];

  beforeAll(async () => {
    const verify = "name: verify\nversion: 1\noptions: { trustedDevicesSkipChallenge: true }\nrules: []\ndefault: { challenge: { methods: [totp, kba, email-otp] } }\n";
    gh = await startGatehouse({ GATEHOUSE_DEMO: "true", GATEHOUSE_KBA: "true" }, { policies: { "verify.yaml": verify } });
    await gh.addUser("ada", password, { firstName: "Ada", email: "ada@example.com" });
    await gh.rt.loginPolicies.assign((await gh.rt.apps.builtin("demo"))?.id ?? "", "verify", "enforce", gh.clock.now());
    browser = await launchChromium();
    ({ page, errors } = await newPage(browser));
  });
  afterAll(async () => {
    await browser?.close();
    await gh?.close();
  });

  const codeNow = (offsetSteps: number) => generateSync({ secret, epoch: Math.floor(gh.clock.now() / 1000) + offsetSteps * 30 });

  async function latestCode(subject: RegExp): Promise<string> {
    const outbox = await page.context().newPage();
    await outbox.goto(`${gh.url}/account/outbox`);
    const text = await outbox.locator("section", { hasText: subject }).first().textContent();
    await outbox.close();
    return /\b(\d{6})\b/.exec(text ?? "")?.[1] ?? "";
  }

  async function toChallenge(): Promise<void> {
    await page.goto(`${gh.url}/demo`);
    await page.getByRole("button", { name: "Sign in to the demo app" }).click();
    await page.waitForURL(/\/login\/challenge\?tx=/);
  }

  async function signedIntoDemo(): Promise<void> {
    await page.waitForURL(`${gh.url}/demo/acs`);
    await expect(page.locator("#demo-user").textContent()).resolves.toContain("ada@example.com");
  }

  it("sets a confirmed alternate email, then security questions after confirming it's you with a code sent there", async () => {
    await page.goto(`${gh.url}/login`);
    await page.getByLabel("Username or email").fill("ada");
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${gh.url}/`);
    await page.getByRole("link", { name: "Your account and devices" }).click();
    // No other method yet: the password is all the account has, so it is enough.
    await page.getByRole("row", { name: /Alternate email/ }).getByRole("link", { name: "Add" }).click();
    await page.getByLabel("Alternate email address").fill("ada.home@example.org");
    await page.getByRole("button", { name: "Send a code" }).click();
    await expect(page.getByRole("status").textContent()).resolves.toContain("a•••@example.org");
    await page.getByLabel("Code from the email").fill(await latestCode(/Confirm your alternate email/));
    await page.getByRole("button", { name: "Confirm address" }).click();
    await expect(page.getByRole("row", { name: /Alternate email/ }).textContent()).resolves.toContain("ada.home@example.org");

    // Now the account has an email code: a password-only sign-in no longer changes it.
    await page.getByRole("row", { name: /Security questions/ }).getByRole("link", { name: "Set up" }).click();
    await page.waitForURL(/\/login\?/);
    await expect(page.getByLabel("Username or email").inputValue()).resolves.toBe("ada");
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(/\/login\/challenge\?tx=/);
    await page.getByLabel("6-digit code").fill(await latestCode(/sign-in code/));
    await page.getByRole("button", { name: "Continue" }).click();
    await page.waitForURL(`${gh.url}/account/kba`);
    for (const [i, answer] of ["Hill Road School", "Ipswich", "Mr Brown"].entries()) await page.locator(`#a${i}`).fill(answer);
    await page.getByRole("button", { name: "Save all three" }).click();
    await expect(page.getByRole("row", { name: /Security questions/ }).textContent()).resolves.toContain("Set");
  });

  it("sets up an authenticator app from the QR page", async () => {
    // Set last: once the account has an app, changes ask for it (and this test has one code step to spend).
    await page.getByRole("row", { name: /Authenticator app/ }).getByRole("link", { name: "Set up" }).click();
    await expect(page.getByRole("img", { name: "QR code for your authenticator app" }).locator("svg").count()).resolves.toBe(1);
    await page.screenshot({ path: "test-results/account-totp.png" });
    secret = ((await page.locator("#totp-secret").textContent()) ?? "").replace(/\s/g, "");
    // On a narrow screen the typed key wraps between its 4-letter groups, never inside one
    // (phone widths: where a line ends depends on the width, so several are tried).
    for (const width of [280, 300, 340, 375, 390]) {
      await page.setViewportSize({ width, height: 800 });
      const lines = await page.locator("#totp-secret").evaluate((el) => {
        const text = el.firstChild as Text;
        return [...text.data.matchAll(/\S+/g)].map((m) => {
          const range = document.createRange();
          range.setStart(text, m.index);
          range.setEnd(text, m.index + m[0].length);
          return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
        });
      });
      expect(lines, `at ${width} px`).toEqual(Array(8).fill(1));
    }
    await page.setViewportSize({ width: 1280, height: 720 }); // playwright's default
    await page.getByLabel("6-digit code").fill(codeNow(0));
    await page.getByRole("button", { name: "Confirm and save" }).click();
    await expect(page.getByRole("status").textContent()).resolves.toContain("Saved");
    await expect(page.getByRole("row", { name: /Authenticator app/ }).textContent()).resolves.toContain("Set up");
  });

  it("meets the security questions at sign-in to the demo app and passes them", async () => {
    await toChallenge();
    await page.getByRole("button", { name: "Answers to two of your security questions" }).click();
    const answers: Record<string, string> = { "first school": "hill road school", town: "IPSWICH", teacher: "mr  brown" };
    for (const input of await page.locator("input[name^=answer]").all()) {
      const label = (await page.locator(`label[for="${(await input.getAttribute("id")) ?? ""}"]`).textContent()) ?? "";
      await input.fill(Object.entries(answers).find(([k]) => label.toLowerCase().includes(k))?.[1] ?? "");
    }
    await page.getByRole("button", { name: "Continue" }).click();
    await signedIntoDemo();
  });

  it("meets an email code at sign-in and passes it", async () => {
    await toChallenge();
    await page.getByRole("button", { name: "A code sent to your alternate email" }).click();
    await expect(page.getByRole("status").textContent()).resolves.toContain("We sent a code");
    await page.getByLabel("6-digit code").fill(await latestCode(/sign-in code/));
    await page.getByRole("button", { name: "Continue" }).click();
    await signedIntoDemo();
  });

  it("passes the authenticator app, remembers the device, and the next sign-in skips the challenge", async () => {
    await toChallenge();
    await page.getByRole("button", { name: "A code from your authenticator app" }).click();
    await page.getByLabel("6-digit code").fill(codeNow(1));
    await page.getByLabel(/Remember this device/).check();
    await page.getByRole("button", { name: "Continue" }).click();
    await signedIntoDemo();
    await page.goto(`${gh.url}/demo`);
    await page.getByRole("button", { name: "Sign in to the demo app" }).click();
    await signedIntoDemo(); // straight through: trusted device
    await page.goto(`${gh.url}/account`);
    await expect(page.getByRole("row", { name: /this device/ }).textContent()).resolves.toMatch(/until \d{4}-/);
    const signIns = (await page.locator("#h-signins + table").textContent()) ?? "";
    expect(signIns).toContain("Demo app");
    expect(signIns).not.toContain("refused");
    await page.screenshot({ path: "test-results/account-console.png", fullPage: true });
    expect(errors).toEqual([]);
  });
});
