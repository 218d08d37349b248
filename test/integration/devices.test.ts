/**
 * Devices at login: registered after a sign-in (with a notice by mail), counted against a
 * policy's limit, trusted after a challenge where the policy allows it, and given away by a
 * copied cookie. The app is @node-saml/node-saml; mail arrives at a real SMTP server.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readForm, type Browser } from "../helpers/client.ts";
import { startGatehouse, type TestGatehouse } from "../helpers/gatehouse.ts";
import { journeys } from "../helpers/journeys.ts";
import { startSmtp } from "../helpers/smtp.ts";
import { makeSp, readIdpMetadata, type TestSp } from "../helpers/sp.ts";

const password = "correct horse battery staple";
let gh: TestGatehouse;
let smtp: Awaited<ReturnType<typeof startSmtp>>;
let limited: TestSp; // at most 2 devices
let remember: TestSp; // TOTP, trusted devices skip it
const j = journeys(() => gh, password);

beforeAll(async () => {
  const limitedYaml = 'name: limited\nversion: 1\nrules:\n  - name: third device\n    when: { device: { countExceeds: 2 } }\n    then: { deny: { message: "You have too many devices." } }\ndefault: allow\n';
  const rememberYaml = "name: remember\nversion: 1\noptions: { trustedDevicesSkipChallenge: true }\nrules: []\ndefault: { challenge: { methods: [totp] } }\n";
  smtp = await startSmtp();
  gh = await startGatehouse({ GATEHOUSE_SMTP_URL: smtp.url, GATEHOUSE_TRUSTED_PROXIES: "127.0.0.1" }, { policies: { "limited.yaml": limitedYaml, "remember.yaml": rememberYaml } });
  const idp = await readIdpMetadata(`${gh.url}/saml/metadata`);
  limited = await makeSp(idp, "limited-app", { acceptedClockSkewMs: 10 * 60_000 });
  remember = await makeSp(idp, "remember-app", { acceptedClockSkewMs: 10 * 60_000 });
  await gh.rt.loginPolicies.assign((await gh.addApp({ name: "Limited", entityId: limited.entityId, acs: [{ url: limited.acs, index: 0, isDefault: true }] })).id, "limited", "enforce", gh.clock.now());
  await gh.rt.loginPolicies.assign((await gh.addApp({ name: "Remember", entityId: remember.entityId, acs: [{ url: remember.acs, index: 0, isDefault: true }] })).id, "remember", "enforce", gh.clock.now());
});
afterAll(async () => {
  await gh.close();
  await smtp.close();
});

const devicesOf = async (username: string) => gh.rt.devices.forUser((await gh.rt.users.byLogin(username))?.id ?? "");
const lastDecision = async () => (await gh.rt.audit.recent(30)).find((e) => e.type === "policy.decided");
/** Signs in again in the same browser with the password (the SSO session forgotten). */
const again = async (b: Browser, sp: TestSp, username: string) => {
  b.cookies.delete("gh_session");
  return j.signIn(b, sp, username);
};

describe("devices at sign-in", () => {
  it("registers a new device with a notice, then knows it and rotates its token at every sign-in", async () => {
    await gh.addUser("ada", password, { email: "ada@example.com" });
    const b = j.browser({ "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36" });
    await j.accepted(limited, await j.signIn(b, limited, "ada"));
    expect(await devicesOf("ada")).toHaveLength(1);
    expect((await devicesOf("ada"))[0]).toMatchObject({ browser: "Chrome", os: "Linux", mobile: false });
    expect((await smtp.next("ada@example.com", /New sign-in/)).text).toContain("a new device: Chrome on Linux");
    const first = b.cookies.get("gh_device");
    expect(first).toMatch(/^[\w-]+\.[\w-]+$/);
    expect(JSON.stringify(gh.rt.db.prepare("SELECT * FROM devices").all())).not.toContain((first ?? "").split(".")[1]);

    await j.accepted(limited, await again(b, limited, "ada"));
    expect((await lastDecision())?.detail).toMatchObject({ device: { known: true, registeredCount: 1 } });
    expect(b.cookies.get("gh_device")).not.toBe(first);
    expect(await devicesOf("ada")).toHaveLength(1);
  });

  it("does not know a device whose cookie comes back from another kind of browser", async () => {
    await gh.addUser("gus", password, { email: "gus@example.com" });
    const chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
    const firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0";
    const b = j.browser({ "user-agent": chrome });
    await j.accepted(limited, await j.signIn(b, limited, "gus"));
    const copy = j.browser({ "user-agent": firefox });
    copy.cookies.set("gh_device", b.cookies.get("gh_device") as string);
    await j.accepted(limited, await j.signIn(copy, limited, "gus"));
    expect((await lastDecision())?.detail).toMatchObject({ device: { known: false, browser: "Firefox", registeredCount: 1 } });
    await j.accepted(limited, await again(b, limited, "gus"));
    expect((await lastDecision())?.detail).toMatchObject({ device: { known: true, browser: "Chrome" } });
  });

  it("applies the policy's action to a new device once the limit is reached, and lets known devices in", async () => {
    await gh.addUser("bo", password, { email: "bo@example.com" });
    const [b1, b2, b3] = [j.browser(), j.browser(), j.browser()];
    await j.accepted(limited, await j.signIn(b1, limited, "bo"));
    await j.accepted(limited, await j.signIn(b2, limited, "bo"));
    const third = await j.signIn(b3, limited, "bo");
    expect(third.status).toBe(403);
    expect(third.body).toContain("You have too many devices.");
    expect(await devicesOf("bo")).toHaveLength(2);
    await j.accepted(limited, await again(b1, limited, "bo"));
  });

  it("does not count another user's device cookie as this user's device", async () => {
    await gh.addUser("cy", password, { email: "cy@example.com" });
    const [c1, c2] = [j.browser(), j.browser()];
    await j.accepted(limited, await j.signIn(c1, limited, "cy"));
    await j.accepted(limited, await j.signIn(c2, limited, "cy"));
    // fi's device cookie, stolen into cy's third browser: still a new device for cy.
    await gh.addUser("fi", password, { email: "fi@example.com" });
    const b = j.browser();
    await j.accepted(limited, await j.signIn(b, limited, "fi"));
    b.cookies.delete("gh_session");
    const page = await j.signIn(b, limited, "cy");
    expect(page.status).toBe(403);
    expect((await lastDecision())?.detail).toMatchObject({ device: { known: false, registeredCount: 2 } });
  });

  it("revokes a device when an old copy of its cookie comes back, and tells its owner", async () => {
    await gh.addUser("di", password, { email: "di@example.com" });
    const b = j.browser();
    await j.accepted(limited, await j.signIn(b, limited, "di"));
    await smtp.next("di@example.com", /New sign-in/);
    const copied = b.cookies.get("gh_device") as string;
    await j.accepted(limited, await again(b, limited, "di")); // rotates the token
    gh.clock.advance(61_000);
    const thief = j.browser();
    thief.cookies.set("gh_device", copied);
    await j.accepted(limited, await j.signIn(thief, limited, "di"));
    expect((await gh.rt.audit.recent(30)).find((e) => e.type === "device.revoked")).toMatchObject({ username: "di", reason: "a replaced device token was presented again (copied cookie)" });
    expect((await smtp.next("di@example.com", /device of your Gatehouse account was removed/)).text).toContain("copied");
    // The genuine browser's device is gone too: it counts as new from now on.
    await j.accepted(limited, await again(b, limited, "di"));
    expect((await lastDecision())?.detail).toMatchObject({ device: { known: false } });
  });
});

describe("trusted devices", () => {
  let evSecret = "";
  it("skip the challenge when the policy allows it, and the assertion does not claim multi-factor", async () => {
    await gh.addUser("ev", password, { email: "ev@example.com" });
    const b = j.browser();
    const secret = await j.enrolTotp(await j.accountSession(b, "ev"));
    evSecret = secret;
    b.cookies.delete("gh_session");
    const challenge = await j.signIn(b, remember, "ev");
    expect(challenge.body).toContain("Remember this device for 30 days");
    const first = await j.accepted(remember, await b.submit(readForm(challenge), { code: j.totpNow(secret, 1), remember: "yes" }));
    expect(first.xml).toContain("https://refeds.org/profile/mfa");
    expect((await devicesOf("ev"))[0]?.trustedUntil).toBeGreaterThan(gh.clock.now() + 29 * 86_400_000);

    const skipped = await again(b, remember, "ev");
    const { xml } = await j.accepted(remember, skipped);
    expect(xml).toContain("PasswordProtectedTransport");
    expect(await lastDecision()).toMatchObject({ reason: "allow (policy said challenge) by default" });
    expect((await lastDecision())?.detail).toMatchObject({ note: "challenge skipped: trusted device (policy option)" });

    // Another browser is not trusted: challenged again.
    const other = await j.signIn(j.browser(), remember, "ev");
    expect(other.body).toContain("Enter the code from your authenticator app");
  });

  it("can be listed, untrusted and removed by their owner in the console", async () => {
    const b = j.browser();
    await j.accountSession(b, "ev");
    await j.stepUp(b, "ev", evSecret); // changes need the authenticator app, not the password alone
    let page = await b.request(j.url("/account"));
    expect(page.body).toContain("Your devices");
    const forms = () => [...page.body.matchAll(/<form/g)].map((_m, i) => readForm(page, i));
    const trusted = (await devicesOf("ev")).find((d) => (d.trustedUntil ?? 0) > gh.clock.now());
    if (!trusted) throw new Error("no trusted device");
    const untrust = forms().find((f) => f.action.endsWith(`/account/devices/${trusted.id}/untrust`));
    if (!untrust) throw new Error("no untrust form");
    expect((await b.submit(untrust)).status).toBe(303);
    expect((await gh.rt.devices.byId(trusted.id))?.trustedUntil).toBeNull();
    page = await b.request(j.url("/account"));
    const remove = forms().find((f) => f.action.endsWith(`/account/devices/${trusted.id}/remove`));
    if (!remove) throw new Error("no remove form");
    expect((await b.submit(remove)).status).toBe(303);
    expect((await devicesOf("ev")).map((d) => d.id)).not.toContain(trusted.id);
    // Someone else's device ID is not found, whatever the form says.
    const other = (await devicesOf("ada"))[0]?.id ?? "";
    const forged = await b.submit({ action: j.url(`/account/devices/${other}/remove`), fields: { csrf: remove.fields.csrf ?? "" } });
    expect(forged.status).toBe(404);
    expect(await devicesOf("ada")).toHaveLength(1);
  });

  it("stop being trusted after 30 days", async () => {
    await gh.addUser("fay", password, { email: "fay@example.com" });
    const b = j.browser();
    const secret = await j.enrolTotp(await j.accountSession(b, "fay"));
    // Gatehouse's own sign-in under the same policy: no app, so the clock can move a month.
    await gh.rt.loginPolicies.assign("default", "remember", "enforce", gh.clock.now());
    try {
      const signInToGatehouse = async () => {
        b.cookies.delete("gh_session");
        const login = await b.follow(j.url("/login"));
        return b.follow(j.url((await b.submit(readForm(login), { username: "fay", password })).headers.get("location") ?? "/"));
      };
      const challenge = await signInToGatehouse();
      expect(challenge.body).toContain("Remember this device");
      await b.submit(readForm(challenge), { code: j.totpNow(secret, 1), remember: "yes" });
      expect((await signInToGatehouse()).body).toContain("Hello,"); // trusted: no challenge
      gh.clock.advance(30 * 86_400_000 + 60_000);
      expect((await signInToGatehouse()).body).toContain("Enter the code from your authenticator app");
      expect((await lastDecision())?.detail).toMatchObject({ device: { known: true, trusted: false } });
    } finally {
      await gh.rt.loginPolicies.assign("default", "first-factor-only", "enforce", gh.clock.now());
    }
  });
});
