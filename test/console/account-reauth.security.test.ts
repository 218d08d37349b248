/**
 * Attack: the account console is reached through Gatehouse's own default login policy, which
 * asks for the password only. Someone who knows the password of an account protected by an
 * alternate email or security questions must not be able to change its factors (enrol their own
 * authenticator app, replace the alternate email) or trust their device with that password
 * alone. A change needs a recent sign-in with the account's strongest method; trusting a device
 * needs a passed challenge in this session, and a device is added only under the strictest
 * device limit any login policy applies, however many requests arrive at once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setKba } from "../../src/challenges/kba.ts";
import { readForm, type Browser, type Page } from "../helpers/client.ts";
import { startGatehouse, type TestGatehouse } from "../helpers/gatehouse.ts";
import { journeys } from "../helpers/journeys.ts";
import { codeIn, startSmtp } from "../helpers/smtp.ts";

const password = "correct horse battery staple";
let gh: TestGatehouse;
let smtp: Awaited<ReturnType<typeof startSmtp>>;
const j = journeys(() => gh, password);

beforeAll(async () => {
  smtp = await startSmtp();
  const email = "name: email\nversion: 1\nrules: []\ndefault: { challenge: { methods: [email-otp] } }\n";
  const three = 'name: three\nversion: 1\nrules:\n  - name: fourth device\n    when: { device: { countExceeds: 3 } }\n    then: { deny: { message: "Too many devices." } }\ndefault: allow\n';
  gh = await startGatehouse({ GATEHOUSE_SMTP_URL: smtp.url, GATEHOUSE_TRUSTED_PROXIES: "127.0.0.1", GATEHOUSE_KBA: "true" }, { policies: { "email.yaml": email, "three.yaml": three } });
  // An app whose policy allows three devices: the strictest limit in use.
  await gh.rt.loginPolicies.assign((await gh.addApp({ name: "Three", entityId: "https://three.example/sp", acs: [{ url: "https://three.example/acs", index: 0, isDefault: true }] })).id, "three", "enforce", gh.clock.now());
});
afterAll(async () => {
  await gh.close();
  await smtp.close();
});

const userId = async (username: string) => (await gh.rt.users.byLogin(username))?.id ?? "";
const devicesOf = async (username: string) => gh.rt.devices.forUser(await userId(username));
const trustedOf = async (username: string) => (await devicesOf(username)).filter((d) => (d.trustedUntil ?? 0) > gh.clock.now());
const formOf = (page: Page, action: string) => {
  const form = [...page.body.matchAll(/<form/g)].map((_m, i) => readForm(page, i)).find((f) => f.action.endsWith(action));
  if (!form) throw new Error(`no form for ${action}`);
  return form;
};
const reauth = (path: string) => `/login?reauth=1&return=${encodeURIComponent(path)}`;

/** Every change the console offers, tried with this browser's session: where each one went. */
async function tryChanges(b: Browser): Promise<Record<string, string | null>> {
  const page = await b.request(j.url("/account"));
  const csrf = formOf(page, "/account/devices/this/trust").fields.csrf ?? "";
  const post = async (path: string, form: Record<string, string> = {}) => (await b.request(j.url(path), { form: { csrf, ...form } })).headers.get("location");
  return {
    totp: (await b.request(j.url("/account/totp"))).headers.get("location"),
    altEmail: await post("/account/alt-email", { address: "attacker@evil.example" }),
    altEmailRemove: await post("/account/alt-email/remove"),
    trustThis: await post("/account/devices/this/trust"),
  };
}

/** Signs in to Gatehouse under a default policy that asks for an email code, reading the code from real mail. */
async function emailCodeSession(b: Browser, username: string, address: string): Promise<void> {
  await gh.rt.loginPolicies.assign("default", "email", "enforce", gh.clock.now());
  try {
    const login = await b.follow(j.url("/login"));
    const challenge = await b.follow(j.url((await b.submit(readForm(login), { username, password })).headers.get("location") ?? ""));
    expect(challenge.body).toContain("alternate email");
    const done = await b.submit(readForm(challenge), { code: codeIn(await smtp.next(address, /sign-in code/)) });
    expect(done.status).toBe(303);
  } finally {
    await gh.rt.loginPolicies.assign("default", "first-factor-only", "enforce", gh.clock.now());
  }
}

describe("a password alone changes no factor on an account that has another", () => {
  it("refuses every change, and trusting this device, to a password-only session on an account with an alternate email", async () => {
    const user = await gh.addUser("alt", password, { email: "alt@example.com" });
    await gh.rt.users.setAltEmail(user.id, "alt.home@example.org", gh.clock.now());
    const b = await j.accountSession(j.browser(), "alt");
    expect(await tryChanges(b)).toEqual({ totp: reauth("/account/totp"), altEmail: reauth("/account/alt-email"), altEmailRemove: reauth("/account"), trustThis: reauth("/account") });
    expect((await gh.rt.users.byLogin("alt"))?.altEmail).toBe("alt.home@example.org");
    expect(await trustedOf("alt")).toEqual([]);
  });

  it("refuses them to a password-only session on an account with security questions only", async () => {
    const user = await gh.addUser("quiz", password, { email: "quiz@example.com" });
    await setKba(gh.rt.kba, user, [
      { question: "First school?", answer: "Hill Road School" },
      { question: "First pet?", answer: "Rex the dog" },
      { question: "Favourite teacher?", answer: "Mr Brown" },
    ]);
    const b = await j.accountSession(j.browser(), "quiz");
    expect(await tryChanges(b)).toMatchObject({ totp: reauth("/account/totp"), altEmail: reauth("/account/alt-email"), trustThis: reauth("/account") });
    expect(await trustedOf("quiz")).toEqual([]);

    // With the password and the questions the account's settings can change, but the questions
    // alone never make a device trusted (SECURITY.md B.2.3).
    const login = await b.follow(j.url(reauth("/account")));
    const asked = await b.follow(j.url((await b.submit(readForm(login), { username: "quiz", password })).headers.get("location") ?? ""));
    expect(asked.body).toContain("Answer your security questions");
    expect(asked.body).not.toContain('name="remember"');
    const answers: Record<string, string> = { "First school?": "Hill Road School", "First pet?": "Rex the dog", "Favourite teacher?": "Mr Brown" };
    const labels = [...asked.body.matchAll(/<label for="f-answer\d">([^<]+)<\/label>/g)].map((m) => m[1] ?? "");
    expect(labels).toHaveLength(2);
    const done = await b.submit(readForm(asked), { answer0: answers[labels[0] ?? ""] ?? "", answer1: answers[labels[1] ?? ""] ?? "" });
    expect(done.headers.get("location")).toBe("/account");
    expect((await b.request(j.url("/account/totp"))).status).toBe(200);
    const page = await b.request(j.url("/account"));
    expect((await b.submit(formOf(page, "/account/devices/this/trust"))).headers.get("location")).toBe("/account?problem=trust-needs-challenge");
    expect(await trustedOf("quiz")).toEqual([]);
  });

  it("accepts changes after a sign-in with the email code, but not once the account has an authenticator app", async () => {
    const user = await gh.addUser("eve", password, { email: "eve@example.com" });
    await gh.rt.users.setAltEmail(user.id, "eve.home@example.org", gh.clock.now());
    const b = j.browser();
    await emailCodeSession(b, "eve", "eve.home@example.org");
    expect((await b.request(j.url("/account/totp"))).status).toBe(200);
    const page = await b.request(j.url("/account"));
    expect((await b.submit(formOf(page, "/account/devices/this/trust"))).headers.get("location")).toBe("/account?done=device-trusted");
    expect(await trustedOf("eve")).toHaveLength(1);

    const secret = await j.enrolTotp(b);
    expect(secret).not.toBe("");
    // The authenticator app is now the strongest method: the email-code session no longer suffices.
    expect((await b.request(j.url("/account/totp"))).headers.get("location")).toBe(reauth("/account/totp"));
  });

  it("lets a password change an account that has no other method, but not trust a device, and says why", async () => {
    await gh.addUser("pia", password, { email: "pia@example.com" });
    const b = await j.accountSession(j.browser(), "pia");
    expect((await b.request(j.url("/account/totp"))).status).toBe(200);
    const page = await b.request(j.url("/account"));
    const refused = await b.submit(formOf(page, "/account/devices/this/trust"));
    expect(refused.headers.get("location")).toBe("/account?problem=trust-needs-challenge");
    expect(await trustedOf("pia")).toEqual([]);
    const shown = await b.request(j.url(refused.headers.get("location") ?? ""));
    expect(shown.body).toContain("Trusting a device needs a code from your authenticator app or your alternate email");
    expect(shown.body).not.toContain("Saved.");
    const other = (await devicesOf("pia"))[0];
    if (!other) throw new Error("no device");
    expect((await b.submit(formOf(shown, `/account/devices/${other.id}/trust`))).headers.get("location")).toBe("/account?problem=trust-needs-challenge");
    expect(await trustedOf("pia")).toEqual([]);
    expect((await gh.rt.audit.recent(5)).find((e) => e.type === "factor.changed")).toMatchObject({ outcome: "failure", username: "pia", reason: "trusting a device without a passed authenticator app or email code" });
  });
});

describe("adding this device from the console", () => {
  it("holds to the strictest device limit in use when 20 requests arrive at once", async () => {
    await gh.addUser("max", password, { email: "max@example.com" });
    const b = await j.accountSession(j.browser(), "max");
    const secret = await j.enrolTotp(b);
    await j.stepUp(b, "max", secret);
    expect(await devicesOf("max")).toHaveLength(1);
    b.cookies.delete("gh_device"); // this browser now looks new: each request would add it
    const page = await b.request(j.url("/account"));
    const form = formOf(page, "/account/devices/this/trust");
    const results = await Promise.all(Array.from({ length: 20 }, () => b.request(form.action, { form: form.fields })));
    const where = results.map((r) => r.headers.get("location"));
    expect(where.filter((l) => l === "/account?done=device-trusted")).toHaveLength(2);
    expect(where.filter((l) => l === "/account?problem=device-limit")).toHaveLength(18);
    expect(await devicesOf("max")).toHaveLength(3); // the policy "three" lets no fourth in
    const full = await b.request(j.url("/account?problem=device-limit"));
    expect(full.body).toContain("This device was not added");
  });
});
