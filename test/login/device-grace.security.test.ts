/**
 * Attack: the device token rotates at every sign-in, and a token replaced less than a minute
 * ago is forgiven (two tabs signing in at once both present it). A copied cookie used in that
 * minute was taken for the trusted device, skipped the challenge without the browser check,
 * and its holder was handed the current token (so the owner's next sign-in looked like the
 * clone). Now such a token at most stops the device counting as new: it is never trusted,
 * never known to the policy, never rotated, and its holder gets no token.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readForm, type Browser } from "../helpers/client.ts";
import { startGatehouse, type TestGatehouse } from "../helpers/gatehouse.ts";
import { journeys } from "../helpers/journeys.ts";
import { makeSp, readIdpMetadata, type TestSp } from "../helpers/sp.ts";

const password = "correct horse battery staple";
const chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
const firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0";
let gh: TestGatehouse;
let remember: TestSp; // TOTP, trusted devices skip it
let open: TestSp; // no challenge
const j = journeys(() => gh, password);

beforeAll(async () => {
  const rememberYaml = "name: remember\nversion: 1\noptions: { trustedDevicesSkipChallenge: true }\nrules: []\ndefault: { challenge: { methods: [totp] } }\n";
  gh = await startGatehouse({ GATEHOUSE_TRUSTED_PROXIES: "127.0.0.1" }, { policies: { "remember.yaml": rememberYaml } });
  const idp = await readIdpMetadata(`${gh.url}/saml/metadata`);
  remember = await makeSp(idp, "remember-app", { acceptedClockSkewMs: 10 * 60_000 });
  open = await makeSp(idp, "open-app", { acceptedClockSkewMs: 10 * 60_000 });
  await gh.rt.loginPolicies.assign((await gh.addApp({ name: "Remember", entityId: remember.entityId, acs: [{ url: remember.acs, index: 0, isDefault: true }] })).id, "remember", "enforce", gh.clock.now());
  await gh.addApp({ name: "Open", entityId: open.entityId, acs: [{ url: open.acs, index: 0, isDefault: true }] });
});
afterAll(() => gh.close());

const devicesOf = async (username: string) => gh.rt.devices.forUser((await gh.rt.users.byLogin(username))?.id ?? "");
const lastDecision = async () => (await gh.rt.audit.recent(30)).find((e) => e.type === "policy.decided");
const again = async (b: Browser, sp: TestSp, username: string) => {
  b.cookies.delete("gh_session");
  return j.signIn(b, sp, username);
};
const holding = (cookie: string, ua = chrome) => {
  const b = j.browser({ "user-agent": ua });
  b.cookies.set("gh_device", cookie);
  return b;
};

describe("a device token replaced less than a minute ago", () => {
  let owner: Browser;
  let copied = "";
  let hashes: Awaited<ReturnType<typeof gh.rt.devices.hashesOf>>;

  beforeAll(async () => {
    await gh.addUser("gil", password, { email: "gil@example.com" });
    owner = j.browser({ "user-agent": chrome });
    const secret = await j.enrolTotp(await j.accountSession(owner, "gil"));
    owner.cookies.delete("gh_session");
    const challenge = await j.signIn(owner, remember, "gil");
    await j.accepted(remember, await owner.submit(readForm(challenge), { code: j.totpNow(secret, 1), remember: "yes" }));
    copied = owner.cookies.get("gh_device") as string;
    await j.accepted(remember, await again(owner, remember, "gil")); // trusted: skips the challenge, rotates the token
    expect(owner.cookies.get("gh_device")).not.toBe(copied);
    hashes = await gh.rt.devices.hashesOf((await devicesOf("gil"))[0]?.id ?? "");
  });

  it("is not trusted: its holder is challenged, and the policy sees neither a known nor a trusted device", async () => {
    const page = await j.signIn(holding(copied), remember, "gil");
    expect(page.body).toContain("Enter the code from your authenticator app");
    expect((await lastDecision())?.detail).toMatchObject({ device: { known: false, trusted: false } });
  });

  it("gives its holder no token, rotates nothing and registers no second device, even 20 times at once", async () => {
    const thieves = Array.from({ length: 20 }, () => holding(copied));
    const pages = await Promise.all(thieves.map((b) => j.signIn(b, open, "gil")));
    // Parallel tries of one account also meet its throttle (a try is counted before its check): some get 429.
    const signedIn = pages.filter((p) => p.status === 200);
    expect(signedIn.length).toBeGreaterThan(1);
    expect(pages.filter((p) => p.status !== 200 && p.status !== 429)).toEqual([]);
    for (const page of signedIn) await j.accepted(open, page);
    expect(thieves.map((b) => b.cookies.get("gh_device"))).toEqual(thieves.map(() => copied));
    expect(await devicesOf("gil")).toHaveLength(1);
    expect((await devicesOf("gil"))[0]?.revokedAt).toBeNull();
    expect(await gh.rt.devices.hashesOf((await devicesOf("gil"))[0]?.id ?? "")).toEqual(hashes);
  });

  it("is not recognised from another kind of browser", async () => {
    await j.accepted(open, await j.signIn(holding(copied, firefox), open, "gil"));
    expect((await lastDecision())?.detail).toMatchObject({ device: { known: false, browser: "Firefox" } });
    expect(await devicesOf("gil")).toHaveLength(2); // a new device of its own, not the owner's
  });

  it("leaves the owner's browser the trusted device it was", async () => {
    await j.accepted(remember, await again(owner, remember, "gil"));
    expect((await lastDecision())?.detail).toMatchObject({ device: { known: true, trusted: true } });
  });
});
