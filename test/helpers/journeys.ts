import { generateSync } from "otplib";
import { expect } from "vitest";
import { Browser, readForm, type Page } from "./client.ts";
import type { TestGatehouse } from "./gatehouse.ts";
import type { TestSp } from "./sp.ts";

/** The steps a user takes, over HTTP, shared by the challenge and device tests. */
export function journeys(gh: () => TestGatehouse, password: string) {
  const url = (p: string) => new URL(p, gh().url).toString();
  let ipCounter = 10;
  const totpNow = (secret: string, offsetSteps = 0) => generateSync({ secret, epoch: Math.floor(gh().clock.now() / 1000) + offsetSteps * 30 });
  return {
    url,
    totpNow,
    /** A browser behind the trusted proxy, from an address of its own (throttles stay per scenario). */
    browser: (headers: Record<string, string> = {}) => new Browser({ "x-forwarded-for": `198.51.100.${ipCounter++}`, ...headers }),

    /** Signs in to Gatehouse itself (the default login policy) in this browser. */
    async accountSession(b: Browser, username: string): Promise<Browser> {
      const login = await b.follow(url("/login"));
      const done = await b.submit(readForm(login), { username, password });
      expect(done.status).toBe(303);
      return b;
    },

    /**
     * Signs in again with the password and the authenticator app, as the console asks before a
     * change once the account has an app. Moves the clock a minute on, so the code is a fresh step.
     */
    async stepUp(b: Browser, username: string, secret: string, returnTo = "/account"): Promise<void> {
      gh().clock.advance(60_000);
      const login = await b.follow(url(`/login?reauth=1&return=${encodeURIComponent(returnTo)}`));
      const challenge = await b.follow(url((await b.submit(readForm(login), { username, password })).headers.get("location") ?? ""));
      expect(challenge.body).toContain("Enter the code from your authenticator app");
      const done = await b.submit(readForm(challenge), { code: totpNow(secret, 1) });
      expect(done.headers.get("location")).toBe(returnTo);
    },

    /** Sets up an authenticator app from the console; returns the seed the page showed. */
    async enrolTotp(b: Browser): Promise<string> {
      const page = await b.request(url("/account/totp"));
      expect(page.status).toBe(200);
      expect(page.body).toContain("<svg");
      const secret = (/id="totp-secret">([A-Z2-7 ]+)</.exec(page.body)?.[1] ?? "").replace(/ /g, "");
      expect(secret).toMatch(/^[A-Z2-7]{32}$/);
      const saved = await b.submit(readForm(page), { code: totpNow(secret) });
      expect(saved.status).toBe(303);
      return secret;
    },

    /** From the app through the password to whatever comes next (challenge, POST page or refusal). */
    async signIn(b: Browser, sp: TestSp, username: string): Promise<Page> {
      let page = await b.follow(await sp.saml.getAuthorizeUrlAsync("relay", undefined, {}));
      if (page.body.includes('action="/login"')) page = await b.submit(readForm(page), { username, password });
      if (page.status === 303) page = await b.follow(url(page.headers.get("location") as string));
      return page;
    },

    async accepted(sp: TestSp, page: Page): Promise<{ nameId: string | undefined; xml: string }> {
      expect(page.status, page.body.slice(0, 300)).toBe(200);
      const response = readForm(page).fields.SAMLResponse as string;
      const { profile } = await sp.saml.validatePostResponseAsync({ SAMLResponse: response });
      return { nameId: profile?.nameID, xml: Buffer.from(response, "base64").toString("utf8") };
    },
  };
}
