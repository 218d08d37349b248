/**
 * Sentry as the app: ../shared/sentry-sp runs python3-saml with Sentry's exact settings (strict
 * mode, attribute Names, no drift on SubjectConfirmationData). If it accepts, Sentry would too.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sentryApp } from "../../src/cli/apps.ts";
import { Browser, readForm } from "../helpers/client.ts";
import { startGatehouse, type TestGatehouse } from "../helpers/gatehouse.ts";
import { sentrySpAvailable, startSentrySp, type SentrySp } from "../helpers/sentry-sp.ts";
import { redirectPageTarget } from "../helpers/sp.ts";

const run = sentrySpAvailable();
const password = "a long and correct password";

describe.skipIf(!run)("Sentry (python3-saml, strict) as the app", () => {
  let gh: TestGatehouse;
  let sentry: SentrySp;

  beforeAll(async () => {
    gh = await startGatehouse();
    await gh.addUser("ada", password, { firstName: "Ada", lastName: "Lovelace", email: "ada@example.com" });
    sentry = await startSentrySp(`${gh.url}/saml/metadata`, ["identifier=user_id", "user_email=user_email", "first_name=first_name", "last_name=last_name"]);
    await gh.rt.apps.add(sentryApp("acme", sentry.base), Date.now());
  }, 60_000);
  afterAll(async () => {
    sentry?.stop();
    await gh?.close();
  });

  async function signInToSentry(browser: Browser) {
    const start = await browser.request(`${sentry.base}/organizations/acme/`);
    expect(start.status).toBe(302);
    const ssoUrl = start.headers.get("location") as string;
    expect(ssoUrl.startsWith(`${gh.url}/saml/sso?SAMLRequest=`)).toBe(true);
    let page = await browser.follow(ssoUrl);
    if (page.body.includes('action="/login"')) page = await browser.submit(readForm(page), { username: "ada", password });
    const post = readForm(page);
    expect(post.action).toBe(`${sentry.base}/saml/acs/acme/`);
    expect(post.fields.RelayState).toBe(`${sentry.base}/auth/login/acme/`);
    return browser.submit(post);
  }

  it("accepts an SP-initiated sign-in and maps the identity from attribute Names", async () => {
    const acs = await signInToSentry(new Browser());
    const result = JSON.parse(acs.body) as Record<string, unknown>;
    expect(acs.status, acs.body).toBe(200);
    expect(result.flow).toBe("sp-initiated");
    expect(result.identity).toMatchObject({ email: "ada@example.com", name: "Ada Lovelace" });
    expect((result.identity as { id: string }).id).toBe((await gh.rt.users.byLogin("ada"))?.id);
    expect(result.nameid).toBe("ada@example.com");
  });

  it("accepts an IdP-initiated launch from the Gatehouse app list", async () => {
    const browser = new Browser();
    await signInToSentry(browser);
    const appId = (await gh.rt.apps.byEntityId(`${sentry.base}/saml/metadata/acme/`))?.id as string;
    const home = await browser.request(`${gh.url}/`);
    const index = [...home.body.matchAll(/<form/g)].findIndex((_m, i) => readForm(home, i).action.endsWith(`/apps/${appId}/launch`));
    const post = readForm(await browser.submit(readForm(home, index)));
    const acs = await browser.submit(post);
    expect(acs.status, acs.body).toBe(200);
    expect((JSON.parse(acs.body) as { flow: string }).flow).toBe("idp-initiated");
  });

  it("signs out of Sentry by a LogoutRequest over HTTP-Redirect when the user signs out at Gatehouse", async () => {
    const browser = new Browser();
    await signInToSentry(browser);
    const home = await browser.request(`${gh.url}/`);
    const out = await browser.submit(readForm(home, [...home.body.matchAll(/<form/g)].length - 1));
    const sls = redirectPageTarget(out);
    expect(sls.startsWith(`${sentry.base}/saml/sls/acme/?SAMLRequest=`)).toBe(true);
    const answer = await browser.request(sls);
    expect(answer.status, answer.body).toBe(302);
    const done = await browser.follow(answer.headers.get("location") as string);
    expect(done.status).toBe(200);
    expect(done.body).toContain("You are signed out");
    const slsEvent = sentry.events.filter((e) => e.event === "sls").at(-1);
    expect(slsEvent).toMatchObject({ errors: [] });
  });
});
