/**
 * A data dir made by the Gatehouse of 2026-12-04 (commit dc1ed12, schema 3; made with
 * test/fixtures/datadir-2026-12-04/make-fixture.ts.txt in a checkout of that commit) opens with
 * today's code: every migration since runs, and nothing is lost — users and their passwords,
 * factors (the sealed TOTP seed still opens, KBA answers still verify, the alternate email),
 * devices, apps and their login policies, the audit log, and the persistent NameIDs.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { normaliseAnswer } from "../../src/challenges/kba.ts";
import { verifySecret } from "../../src/crypto/passwords.ts";
import { readForm } from "../helpers/client.ts";
import { startGatehouse, type TestGatehouse } from "../helpers/gatehouse.ts";
import { journeys } from "../helpers/journeys.ts";

const fixture = join(import.meta.dirname, "../fixtures/datadir-2026-12-04");
const latest = Math.max(...readdirSync(join(import.meta.dirname, "../../src/store/migrations")).filter((f) => /^\d{3}_.*\.sql$/.test(f)).map((f) => Number(f.slice(0, 3))));
let gh: TestGatehouse;

beforeAll(async () => {
  gh = await startGatehouse({ GATEHOUSE_KBA: "true", GATEHOUSE_TRUSTED_PROXIES: "127.0.0.1" }, { fromDataDir: fixture });
});
afterAll(async () => {
  await gh?.close();
});

describe("a data dir from the Gatehouse of 2026-12-04", () => {
  it("is migrated to the latest schema", () => {
    expect(gh.rt.db.pragma("user_version", { simple: true })).toBe(latest);
    expect(latest).toBeGreaterThan(3);
    expect(gh.rt.db.pragma("integrity_check", { simple: true })).toBe("ok");
  });

  it("keeps its users, and their passwords still sign them in", async () => {
    const ada = await gh.rt.users.byLogin("ada");
    expect(ada).toMatchObject({ email: "ada@example.com", firstName: "Ada", lastName: "Lovelace", groups: ["admins"], isAdmin: true, status: "active" });
    const j = journeys(() => gh, "bob's long password");
    const b = j.browser();
    const login = await b.follow(j.url("/login"));
    expect((await b.submit(readForm(login), { username: "bob", password: "bob's long password" })).status).toBe(303);
  });

  it("keeps the factors: the sealed authenticator seed opens, the security answers verify, the alternate email stands", async () => {
    const ada = await gh.rt.users.byLogin("ada");
    const bob = await gh.rt.users.byLogin("bob");
    if (!ada || !bob) throw new Error("fixture users missing");
    expect(bob.altEmail).toBe("bob.home@example.org");
    const answers = await gh.rt.kba.get(bob.id);
    expect(answers.map((a) => a.question)).toEqual(["First school?", "First pet?", "A teacher?"]);
    expect(await verifySecret(normaliseAnswer("hill road"), answers[0]?.answerHash ?? "")).toBe(true);
    // The authenticator app: a re-authentication asks for it, and a code from the fixture's seed passes.
    const j = journeys(() => gh, "ada's long password");
    const b = await j.accountSession(j.browser(), "ada");
    await j.stepUp(b, "ada", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP");
  });

  it("keeps devices, apps, login policies and the audit log", async () => {
    const ada = await gh.rt.users.byLogin("ada");
    expect((await gh.rt.devices.forUser(ada?.id ?? "")).map((d) => d.id)).toContain("fixturedevice0001");
    const app = await gh.rt.apps.byEntityId("https://legacy.example/sp");
    expect(app).toMatchObject({ name: "Legacy app", nameIdFormat: "persistent", signResponse: true });
    expect(await gh.rt.loginPolicies.forApp(app?.id ?? null)).toMatchObject({ policyName: "first-factor-only", mode: "report-only" });
    const audit = await gh.rt.audit.recent(500);
    expect(audit.filter((e) => e.reason === "fixture" && e.type === "user.created")).toHaveLength(1);
    expect(audit.filter((e) => e.type === "session.started" && e.ip === "192.0.2.10")).toHaveLength(1);
  });

  it("keeps persistent NameIDs: the new NameID key is the old server secret", () => {
    const keys = join(gh.rt.config.dataDir, "keys");
    expect(readFileSync(join(keys, "nameid-key"), "utf8")).toBe(readFileSync(join(fixture, "keys/server-secret"), "utf8"));
  });
});
