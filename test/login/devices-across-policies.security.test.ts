/**
 * Attack: devices admitted under one login policy count for all. Gatehouse's own sign-in (the
 * default policy, no device limit) used to register any browser, which an app whose policy
 * allows one device then took for a known device. A device is now registered only under the
 * strictest device limit any login policy in use applies, at Gatehouse's pages, in the console
 * and in 20 sign-ins at once; and the "new device" notice goes out only for a device registered.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readForm } from "../helpers/client.ts";
import { startGatehouse, type TestGatehouse } from "../helpers/gatehouse.ts";
import { journeys } from "../helpers/journeys.ts";
import { startSmtp } from "../helpers/smtp.ts";
import { makeSp, readIdpMetadata, type TestSp } from "../helpers/sp.ts";

const password = "correct horse battery staple";
let gh: TestGatehouse;
let smtp: Awaited<ReturnType<typeof startSmtp>>;
let single: TestSp; // one device only
const j = journeys(() => gh, password);

beforeAll(async () => {
  const singleYaml = 'name: single\nversion: 1\nrules:\n  - name: second device\n    when: { device: { countExceeds: 1 } }\n    then: { deny: { message: "One device only." } }\ndefault: allow\n';
  smtp = await startSmtp();
  gh = await startGatehouse({ GATEHOUSE_SMTP_URL: smtp.url, GATEHOUSE_TRUSTED_PROXIES: "127.0.0.1" }, { policies: { "single.yaml": singleYaml } });
  single = await makeSp(await readIdpMetadata(`${gh.url}/saml/metadata`), "single-app", { acceptedClockSkewMs: 10 * 60_000 });
  await gh.rt.loginPolicies.assign((await gh.addApp({ name: "Single", entityId: single.entityId, acs: [{ url: single.acs, index: 0, isDefault: true }] })).id, "single", "enforce", gh.clock.now());
});
afterAll(async () => {
  await gh.close();
  await smtp.close();
});

const userId = async (username: string) => (await gh.rt.users.byLogin(username))?.id ?? "";
const devicesOf = async (username: string) => gh.rt.devices.forUser(await userId(username));
const eventsOf = async (username: string, type: string) => (await gh.rt.audit.recent(500)).filter((e) => e.username === username && e.type === type);

describe("a device registered through Gatehouse's own sign-in", () => {
  it("is not registered past the strictest limit, so the app with one device still refuses the second browser", async () => {
    await gh.addUser("ann", password, { email: "ann@example.com" });
    const first = j.browser();
    await j.accepted(single, await j.signIn(first, single, "ann"));
    expect(await devicesOf("ann")).toHaveLength(1);
    await smtp.next("ann@example.com", /New sign-in/);

    const second = await j.accountSession(j.browser(), "ann"); // Gatehouse's /login: the default policy, no limit of its own
    expect(await devicesOf("ann")).toHaveLength(1);
    expect(second.cookies.get("gh_device")).toBeUndefined();
    expect((await eventsOf("ann", "device.not_registered"))[0]).toMatchObject({ reason: "device limit 1 reached" });

    const refused = await j.signIn(second, single, "ann"); // through the SSO session: the app's policy runs
    expect(refused.status).toBe(403);
    expect(refused.body).toContain("One device only.");

    // Only the registered device was announced: a marker sent after shows nothing came in between.
    await gh.rt.mailer.send({ to: "ann@example.com", subject: "marker", text: "marker", html: "marker" });
    await smtp.next("ann@example.com", /marker/);
    expect(smtp.mails.filter((m) => m.to === "ann@example.com" && /New sign-in/.test(m.subject))).toHaveLength(1);
  });

  it("cannot be added from the console either", async () => {
    await gh.addUser("bea", password, { email: "bea@example.com" });
    const first = j.browser();
    const secret = await j.enrolTotp(await j.accountSession(first, "bea")); // registered: bea's one device
    expect(await devicesOf("bea")).toHaveLength(1);
    const second = await j.accountSession(j.browser(), "bea");
    await j.stepUp(second, "bea", secret);
    const page = await second.request(j.url("/account"));
    expect(page.body).toContain("Add this device as a trusted device");
    const form = [...page.body.matchAll(/<form/g)].map((_m, i) => readForm(page, i)).find((f) => f.action.endsWith("/account/devices/this/trust"));
    if (!form) throw new Error("no add form");
    expect((await second.submit(form)).headers.get("location")).toBe("/account?problem=device-limit");
    expect(await devicesOf("bea")).toHaveLength(1);
  });

  it("holds when 20 browsers sign in at once", async () => {
    await gh.addUser("cal", password, { email: "cal@example.com" });
    const browsers = Array.from({ length: 20 }, () => j.browser());
    // Parallel tries of one account also meet its throttle (a try is counted before its check): some get 429.
    const done = await Promise.all(browsers.map(async (b) => (await b.submit(readForm(await b.follow(j.url("/login"))), { username: "cal", password })).status));
    const signedIn = done.filter((s) => s === 303).length;
    expect(signedIn).toBeGreaterThan(1);
    expect(done.filter((s) => s !== 303 && s !== 429)).toEqual([]);
    expect(await devicesOf("cal")).toHaveLength(1);
    expect(browsers.filter((b) => b.cookies.has("gh_device"))).toHaveLength(1);
    expect(await eventsOf("cal", "device.registered")).toHaveLength(1);
    expect(await eventsOf("cal", "device.not_registered")).toHaveLength(signedIn - 1);
  });
});
