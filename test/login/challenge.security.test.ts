/**
 * Hostile input on the paths this work added: the sign-in's return address (an open-redirect
 * attempt), the challenge forms (oversized, unknown method, a method not offered, a second pass
 * of the same challenge) and the account forms (oversized, malformed). Each gets a 4xx page,
 * an audit entry, and nothing issued or changed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readForm } from "../helpers/client.ts";
import { startGatehouse, type TestGatehouse } from "../helpers/gatehouse.ts";
import { journeys } from "../helpers/journeys.ts";
import { makeSp, readIdpMetadata, type TestSp } from "../helpers/sp.ts";

const password = "correct horse battery staple";
let gh: TestGatehouse;
let sp: TestSp;
const j = journeys(() => gh, password);
let secret = "";

beforeAll(async () => {
  gh = await startGatehouse({ GATEHOUSE_TRUSTED_PROXIES: "127.0.0.1" }, { policies: { "verify.yaml": "name: verify\nversion: 1\nrules: []\ndefault: { challenge: { methods: [totp] } }\n" } });
  await gh.addUser("ada", password, { email: "ada@example.com" });
  sp = await makeSp(await readIdpMetadata(`${gh.url}/saml/metadata`), "hostile-app", { acceptedClockSkewMs: 10 * 60_000 });
  await gh.rt.loginPolicies.assign((await gh.addApp({ entityId: sp.entityId, acs: [{ url: sp.acs, index: 0, isDefault: true }] })).id, "verify", "enforce", gh.clock.now());
  secret = await j.enrolTotp(await j.accountSession(j.browser(), "ada"));
});
afterAll(() => gh.close());

const lastRejection = async () => (await gh.rt.audit.recent(10)).find((e) => e.type === "request.rejected");

describe("the return address after signing in to Gatehouse", () => {
  it.each(["https://evil.example/", "//evil.example/account", "/account/../logout", "/\\evil.example", "/accounts"])("never leaves the account pages: %s", async (target) => {
    const b = j.browser();
    const login = await b.follow(j.url(`/login?return=${encodeURIComponent(target)}`));
    const done = await b.submit(readForm(login), { username: "ada", password });
    expect(done.status).toBe(303);
    expect(done.headers.get("location")).toBe("/");
  });
});

describe("the challenge forms", () => {
  it.each([
    ["an oversized code", { code: "1".repeat(5000) }, 400, "bad_request"],
    ["an answer for a method that was not asked", { method: "kba", answer0: "x", answer1: "y" }, 400, "bad_request"],
    ["an unknown field value for remember", { code: "123456", remember: "always" }, 400, "bad_request"],
  ])("refuse %s with a page and an audit entry", async (_name, extra, status, reason) => {
    const b = j.browser();
    const page = await j.signIn(b, sp, "ada");
    const res = await b.submit(readForm(page), extra);
    expect(res.status).toBe(status);
    expect(res.body).not.toContain("SAMLResponse");
    expect(await lastRejection()).toMatchObject({ reason });
  });

  it("refuse choosing a method the policy did not offer", async () => {
    const b = j.browser();
    const page = await j.signIn(b, sp, "ada");
    const choose = { action: j.url("/login/challenge/choose"), fields: { tx: readForm(page).fields.tx ?? "", csrf: readForm(page).fields.csrf ?? "", method: "email-otp" } };
    expect((await b.submit(choose)).status).toBe(400);
    expect(await lastRejection()).toMatchObject({ reason: "bad_request" });
  });

  it("issue one assertion per transaction: passing the same challenge again is refused", async () => {
    const b = j.browser();
    const page = await j.signIn(b, sp, "ada");
    await j.accepted(sp, await b.submit(readForm(page), { code: j.totpNow(secret, 1) }));
    const again = await b.submit(readForm(page), { code: j.totpNow(secret, 1) });
    expect(again.status).toBe(400);
    expect(again.body).not.toContain("SAMLResponse");
    expect(await lastRejection()).toMatchObject({ reason: "transaction_not_found" });
  });
});

describe("the account forms", () => {
  it("refuse a malformed or oversized change and keep what was there", async () => {
    const b = await j.accountSession(j.browser(), "ada");
    await j.stepUp(b, "ada", secret, "/account/alt-email");
    const form = readForm(await b.request(j.url("/account/alt-email")));
    expect((await b.submit(form, { address: "not an address" })).status).toBe(400);
    expect((await b.submit(form, { address: `${"a".repeat(300)}@example.org` })).status).toBe(400);
    const totp = readForm(await b.request(j.url("/account/totp")));
    expect((await b.submit(totp, { pending: "v1.forged.value.x", code: "123456" })).status).toBe(303); // expired or forged seed: start again
    expect((await b.submit(totp, { pending: "x".repeat(5000), code: "123456" })).status).toBe(400);
    expect((await gh.rt.users.byLogin("ada"))?.altEmail).toBeNull();
    expect(await lastRejection()).toMatchObject({ reason: "bad_request" });
  });
});
