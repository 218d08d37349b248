/**
 * The account console's guards: signed-in only, a recent sign-in for every change, CSRF on
 * every form, nothing saved that was not confirmed, and every change audited and announced.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readForm } from "../helpers/client.ts";
import { startGatehouse, type TestGatehouse } from "../helpers/gatehouse.ts";
import { journeys } from "../helpers/journeys.ts";

const password = "correct horse battery staple";
let gh: TestGatehouse;
const j = journeys(() => gh, password);

beforeAll(async () => {
  gh = await startGatehouse({ GATEHOUSE_TRUSTED_PROXIES: "127.0.0.1", GATEHOUSE_KBA: "false" });
  await gh.addUser("ada", password, { email: "ada@example.com" });
});
afterAll(() => gh.close());

describe("the account console", () => {
  it("sends a visitor without a session to sign in, and back to the account page after", async () => {
    const b = j.browser();
    const first = await b.request(j.url("/account"));
    expect(first.status).toBe(303);
    expect(first.headers.get("location")).toBe("/login?return=%2Faccount");
    const login = await b.follow(j.url(first.headers.get("location") as string));
    const done = await b.submit(readForm(login), { username: "ada", password });
    expect(done.headers.get("location")).toBe("/account");
    expect((await b.request(j.url("/account"))).body).toContain("Signed in as <strong>ada</strong>");
  });

  it("asks for the password again before a change when the sign-in is older than ten minutes", async () => {
    const b = await j.accountSession(j.browser(), "ada");
    gh.clock.advance(11 * 60_000);
    const page = await b.request(j.url("/account/totp"));
    expect(page.status).toBe(303);
    expect(page.headers.get("location")).toBe("/login?reauth=1&return=%2Faccount%2Ftotp");
    const login = await b.follow(j.url(page.headers.get("location") as string));
    expect(login.body).toContain('action="/login"'); // a password prompt, although a session exists
    const back = await b.submit(readForm(login), { username: "ada", password });
    expect(back.headers.get("location")).toBe("/account/totp");
    expect((await b.request(j.url("/account/totp"))).body).toContain("<svg");
  });

  let secret = "";
  it("saves nothing on a wrong first code, and keeps the working app when a replacement is not confirmed", async () => {
    const b = await j.accountSession(j.browser(), "ada");
    const page = await b.request(j.url("/account/totp"));
    const wrong = await b.submit(readForm(page), { code: "000000" });
    expect(wrong.status).toBe(400);
    expect(await gh.rt.totp.get((await gh.rt.users.byLogin("ada"))?.id ?? "")).toBeUndefined();
    secret = await j.enrolTotp(b);
    const before = (await gh.rt.totp.get((await gh.rt.users.byLogin("ada"))?.id ?? ""))?.secretSealed;
    // With an app set up, a password-only sign-in no longer allows changes: the app is asked for.
    const guarded = await b.request(j.url("/account/totp"));
    expect(guarded.headers.get("location")).toBe("/login?reauth=1&return=%2Faccount%2Ftotp");
    await j.stepUp(b, "ada", secret, "/account/totp");
    const replace = await b.request(j.url("/account/totp"));
    expect(replace.body).toContain("Your current app keeps working until the new one is confirmed");
    expect((await gh.rt.totp.get((await gh.rt.users.byLogin("ada"))?.id ?? ""))?.secretSealed).toBe(before);
    expect(secret).not.toBe("");
    const changes = (await gh.rt.audit.recent(20)).filter((e) => e.type === "factor.changed");
    expect(changes.map((e) => e.outcome)).toEqual(["success", "failure"]);
  });

  it("never lets a password alone remove the authenticator app", async () => {
    const b = await j.accountSession(j.browser(), "ada");
    const page = await b.request(j.url("/account"));
    const remove = [...page.body.matchAll(/<form/g)].map((_m, i) => readForm(page, i)).find((f) => f.action.endsWith("/account/totp/remove"));
    if (!remove) throw new Error("no remove form");
    const refused = await b.submit(remove);
    expect(refused.headers.get("location")).toBe("/login?reauth=1&return=%2Faccount");
    expect(await gh.rt.totp.get((await gh.rt.users.byLogin("ada"))?.id ?? "")).toBeDefined();
  });

  it("refuses a change without the session's CSRF token", async () => {
    const b = await j.accountSession(j.browser(), "ada");
    await j.stepUp(b, "ada", secret);
    const page = await b.request(j.url("/account"));
    const remove = [...page.body.matchAll(/<form/g)].map((_m, i) => readForm(page, i)).find((f) => f.action.endsWith("/account/totp/remove"));
    if (!remove) throw new Error("no remove form");
    expect((await b.submit(remove, { csrf: "forged" })).status).toBe(403);
    expect((await b.request(remove.action, { form: remove.fields, headers: { origin: "https://evil.example" } })).status).toBe(403);
    expect(await gh.rt.totp.get((await gh.rt.users.byLogin("ada"))?.id ?? "")).toBeDefined();
  });

  it("offers no security questions when an admin has switched KBA off", async () => {
    const b = await j.accountSession(j.browser(), "ada");
    expect((await b.request(j.url("/account"))).body).not.toContain("Security questions");
    expect((await b.request(j.url("/account/kba"))).status).toBe(404);
  });
});
