/**
 * What the account page tells its owner: each sign-in once (an app sign-in is one line, not a
 * session line and an assertion line), failed second steps, device times in UTC, and devices of
 * the same kind told apart.
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

beforeAll(async () => {
  const totp = "name: totp\nversion: 1\nrules: []\ndefault: { challenge: { methods: [totp] } }\n";
  gh = await startGatehouse({ GATEHOUSE_TRUSTED_PROXIES: "127.0.0.1" }, { policies: { "totp.yaml": totp } });
  sp = await makeSp(await readIdpMetadata(`${gh.url}/saml/metadata`), "wiki-app", { acceptedClockSkewMs: 10 * 60_000 });
  await gh.rt.loginPolicies.assign((await gh.addApp({ name: "Wiki", entityId: sp.entityId, acs: [{ url: sp.acs, index: 0, isDefault: true }] })).id, "totp", "enforce", gh.clock.now());
  await gh.addUser("ida", password, { email: "ida@example.com" });
});
afterAll(() => gh.close());

/** The rows of a table on the page that follows this heading, as text. */
const rows = (body: string, headingId: string): string[] => {
  const table = new RegExp(`id="${headingId}"[\\s\\S]*?<table[^>]*>([\\s\\S]*?)</table>`).exec(body)?.[1] ?? "";
  return [...table.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((m) => (m[1] ?? "").replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").trim());
};

describe("the account page", () => {
  it("lists an app sign-in once, and a failed second step", async () => {
    const b = j.browser();
    const secret = await j.enrolTotp(await j.accountSession(b, "ida"));
    gh.clock.advance(60_000);
    b.cookies.delete("gh_session");
    const challenge = await j.signIn(b, sp, "ida");
    const wrong = await b.submit(readForm(challenge), { code: "000000" });
    expect(wrong.status).toBe(401);
    await j.accepted(sp, await b.submit(readForm(wrong), { code: j.totpNow(secret, 1) }));

    const signIns = rows((await b.request(j.url("/account"))).body, "h-signins").filter((r) => !r.startsWith("When"));
    expect(signIns.map((r) => r.replace(/^\d{4}-\d\d-\d\d \d\d:\d\d UTC /, "").replace(/ 198\.51\.100\.\d+/, ""))).toEqual([
      "Wiki signed in",
      "Wiki second step failed",
      "Gatehouse signed in",
    ]);
  });

  it("gives device times in UTC and tells devices of the same kind apart", async () => {
    const b = j.browser({ "user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0" });
    const twin = j.browser({ "user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0" });
    await gh.addUser("jo", password, { email: "jo@example.com" });
    await j.accountSession(b, "jo");
    await j.accountSession(twin, "jo");
    const devices = rows((await b.request(j.url("/account"))).body, "h-devices").filter((r) => r.includes("Firefox on Linux"));
    expect(devices).toHaveLength(2);
    for (const row of devices) expect(row).toMatch(/first \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    const ids = devices.map((r) => /ID ([\w-]{6})/.exec(r)?.[1]);
    expect(new Set(ids).size).toBe(2);
    expect(ids).toEqual(expect.arrayContaining((await gh.rt.devices.forUser((await gh.rt.users.byLogin("jo"))?.id ?? "")).map((d) => d.id.slice(0, 6))));
  });
});
