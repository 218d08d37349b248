/**
 * Every table that expires is swept: rows nothing can use any more are removed, rows that a
 * request, a limit or a person may still need are kept. Time moves on the injected clock.
 */
import { describe, expect, it } from "vitest";
import { pino } from "pino";
import { AuditLog } from "../../src/audit/audit.ts";
import { fixedClock } from "../../src/clock.ts";
import { loadConfig } from "../../src/config.ts";
import { Sweeper } from "../../src/ops/sweeper.ts";
import { openDb } from "../../src/store/db.ts";
import { DeviceRepository } from "../../src/store/devices.ts";
import { LogoutChainRepository } from "../../src/store/logout-chains.ts";
import { SessionRepository } from "../../src/store/sessions.ts";
import { SeenRequestRepository } from "../../src/store/transactions.ts";
import { UserRepository } from "../../src/store/users.ts";

const minute = 60_000;
const hour = 60 * minute;
const day = 24 * hour;
const t0 = Date.UTC(2026, 10, 23, 12);

async function store(env: Record<string, string> = {}, batch?: number) {
  const clock = fixedClock(t0);
  const db = openDb(":memory:");
  const config = loadConfig(env);
  const audit = new AuditLog(db, clock);
  const sweeper = new Sweeper({ db, clock, config, audit, log: pino({ level: "silent" }) }, { batch });
  const user = await new UserRepository(db).add({ username: "alice", email: "alice@example.com" }, t0);
  db.prepare("INSERT INTO apps (id, name, entity_id, acs_json, nameid_format, created_at) VALUES ('app1', 'App', 'https://app.example/', '[]', 'email', ?)").run(t0);
  const ids = (table: string, column: string) => (db.prepare(`SELECT ${column} AS id FROM ${table} ORDER BY ${column}`).all() as { id: string }[]).map((r) => r.id);
  return { clock, db, config, audit, sweeper, user, ids };
}

describe("the sweeper", () => {
  it("removes a transaction a lifetime after it expired, not before", async () => {
    const { clock, db, sweeper, ids } = await store();
    const add = db.prepare("INSERT INTO transactions (id, binding_hash, state, client_ip, created_at, expires_at) VALUES (?, 'h', 'started', '192.0.2.1', ?, ?)");
    add.run("done-long-ago", t0, t0 + 10 * minute);
    add.run("just-expired", t0 + 15 * minute, t0 + 25 * minute);
    add.run("open", t0 + 25 * minute, t0 + 35 * minute);
    clock.set(t0 + 26 * minute); // first: past expiry by 16 min (> a 10-minute lifetime); second: by 1 min
    expect(await sweeper.sweep()).toMatchObject({ transactions: 1 });
    expect(ids("transactions", "id")).toEqual(["just-expired", "open"]);
  });

  it("removes seen AuthnRequest IDs once they could no longer be fresh", async () => {
    const { clock, sweeper, db, ids } = await store();
    const seen = new SeenRequestRepository(db);
    await seen.remember("app1", "_old", t0 + 16 * minute);
    await seen.remember("app1", "_new", t0 + 30 * minute);
    clock.advance(20 * minute);
    await sweeper.sweep();
    expect(ids("seen_requests", "request_id")).toEqual(["_new"]);
  });

  it("removes sessions an hour after they ended, expired or went idle, and their app sign-ins with them", async () => {
    const { clock, db, sweeper, user, ids } = await store();
    const sessions = new SessionRepository(db);
    const session = async (idHash: string, at: number, absolute = day) => {
      await sessions.add({ idHash, userId: user.id, authMethod: "password", authTime: at, createdAt: at, lastSeenAt: at, expiresAt: at + absolute });
      await sessions.addApp(idHash, { appId: "app1", sessionIndex: `_idx-${idHash}`, nameId: "alice@example.com", nameIdFormat: "email", signedInAt: at });
    };
    await session("signed-out", t0);
    await session("signed-out-lately", t0);
    await session("absolute", t0, 3 * hour);
    await session("idle", t0);
    await session("live", t0);
    clock.advance(5 * hour);
    await sessions.end("signed-out", t0 + minute);
    await sessions.end("signed-out-lately", clock.now() - 10 * minute);
    await sessions.touch("signed-out-lately", clock.now());
    await sessions.touch("absolute", clock.now());
    await sessions.touch("live", clock.now() - 30 * minute); // idle for half an hour: still live
    await sweeper.sweep();
    expect(ids("sessions", "id_hash")).toEqual(["live", "signed-out-lately"]);
    expect(ids("session_apps", "session_hash")).toEqual(["live", "signed-out-lately"]);
  });

  it("removes email codes a day after they were sent, used or not", async () => {
    const { clock, db, sweeper, user, ids } = await store();
    const add = db.prepare("INSERT INTO email_codes (id, user_id, purpose, address, ip, code_hash, created_at, expires_at, used_at) VALUES (?, ?, 'login', 'a@example.com', '192.0.2.1', 'x', ?, ?, ?)");
    add.run("sent-yesterday", user.id, t0, t0 + 10 * minute, null);
    add.run("used-this-morning", user.id, t0 + 20 * hour, t0 + 20 * hour + 10 * minute, t0 + 20 * hour + minute);
    clock.advance(25 * hour);
    await sweeper.sweep();
    // The morning's code still counts against the hourly and daily send budgets.
    expect(ids("email_codes", "id")).toEqual(["used-this-morning"]);
  });

  it("forgets failed sign-ins after a quiet week, but keeps a hard-stopped account until it is unlocked", async () => {
    const { clock, db, sweeper, ids } = await store();
    const add = db.prepare("INSERT INTO account_failures (account_key, consecutive, last_failure_at) VALUES (?, ?, ?)");
    add.run("login:quiet", 7, t0);
    add.run("login:lately", 3, t0 + 5 * day);
    add.run("user:hard-stopped", 100, t0);
    add.run("user:almost", 99, t0);
    clock.advance(8 * day);
    await sweeper.sweep();
    expect(ids("account_failures", "account_key")).toEqual(["login:lately", "user:hard-stopped"]);
    clock.advance(365 * day);
    await sweeper.sweep();
    expect(ids("account_failures", "account_key")).toEqual(["user:hard-stopped"]);
  });

  it("removes revoked devices after 30 days and devices whose cookie can no longer exist", async () => {
    const { clock, db, sweeper, user, ids } = await store();
    const devices = new DeviceRepository(db);
    const device = (id: string, at: number) => devices.addUnderLimit({ id, userId: user.id, tokenHash: `hash-${id}`, browser: "Firefox", os: "Linux", mobile: false, ip: "192.0.2.1", now: at }, null);
    await device("revoked-long-ago", t0);
    await device("revoked-lately", t0);
    await device("unseen-for-400-days", t0);
    await device("in-use", t0);
    await devices.revoke("revoked-long-ago", user.id, t0 + day);
    clock.advance(401 * day);
    await devices.rotate("revoked-lately", "hash-revoked-lately", "hash-revoked-lately-2", "192.0.2.1", clock.now() - 3 * day);
    await devices.revoke("revoked-lately", user.id, clock.now() - 2 * day);
    await devices.rotate("in-use", "hash-in-use", "hash-in-use-2", "192.0.2.1", clock.now() - day);
    await sweeper.sweep();
    expect(ids("devices", "id")).toEqual(["in-use", "revoked-lately"].sort());
  });

  it("removes abandoned logout chains, expired rate-limit counters and old SAML request IDs", async () => {
    const { clock, db, sweeper, ids } = await store();
    const chains = new LogoutChainRepository(db);
    const chain = (id: string, expiresAt: number) => chains.save({ id, pending: [], currentRequestId: `_r-${id}`, currentAppId: "app1", initiatorAppId: null, initiatorRequestId: null, relayState: null, expiresAt });
    await chain("abandoned", t0 + 10 * minute);
    await chain("walking", t0 + 2 * hour);
    const limit = db.prepare("INSERT INTO rate_limits (key, points, expire) VALUES (?, 1, ?)");
    limit.run("login_ip:192.0.2.1", t0 + 10 * minute);
    limit.run("login_ip:192.0.2.2", t0 + 2 * hour);
    limit.run("forever", null);
    const cached = db.prepare("INSERT INTO saml_request_cache (key, value, created_at) VALUES (?, 'v', ?)");
    cached.run("demo:_old", t0 - day);
    cached.run("demo:_new", t0 + 30 * minute);
    clock.advance(hour);
    await sweeper.sweep();
    expect(ids("logout_chains", "id")).toEqual(["walking"]);
    expect(ids("rate_limits", "key")).toEqual(["forever", "login_ip:192.0.2.2"]);
    expect(ids("saml_request_cache", "key")).toEqual(["demo:_new"]);
  });

  it("keeps audit events for GATEHOUSE_AUDIT_RETENTION_DAYS, and the log stays append-only inside it", async () => {
    const { clock, db, audit, sweeper } = await store({ GATEHOUSE_AUDIT_RETENTION_DAYS: "30" });
    await audit.record({ type: "user.created", outcome: "success", username: "old" });
    clock.advance(20 * day);
    await audit.record({ type: "user.created", outcome: "success", username: "recent" });
    clock.advance(11 * day);
    await sweeper.sweep();
    expect((await audit.recent(10)).map((e) => e.username)).toEqual(["recent"]);
    expect(() => db.exec("DELETE FROM audit_events")).toThrow(/append-only/);
    expect(() => db.exec("UPDATE audit_retention SET purged_before = ''")).toThrow(/only moves forward/);
  });

  it("keeps audit events 400 days by default", async () => {
    const { clock, audit, sweeper } = await store();
    await audit.record({ type: "user.created", outcome: "success", username: "a" });
    clock.advance(399 * day);
    await sweeper.sweep();
    expect(await audit.recent(10)).toHaveLength(1);
    clock.advance(2 * day);
    await sweeper.sweep();
    expect(await audit.recent(10)).toHaveLength(0);
  });

  it("purges in batches until nothing expired is left", async () => {
    const { clock, db, sweeper, ids } = await store({}, 10);
    const seen = new SeenRequestRepository(db);
    for (let i = 0; i < 35; i++) await seen.remember("app1", `_old${i}`, t0 + minute);
    await seen.remember("app1", "_live", t0 + hour);
    clock.advance(2 * minute);
    expect(await sweeper.sweep()).toEqual({ seen_requests: 35 });
    expect(ids("seen_requests", "request_id")).toEqual(["_live"]);
  });

  it("sweeps as soon as it is started, and stops", async () => {
    const { clock, db, sweeper, ids } = await store();
    await new SeenRequestRepository(db).remember("app1", "_old", t0 + minute);
    clock.advance(2 * minute);
    sweeper.start();
    await new Promise((resolve) => setImmediate(resolve)); // the first sweep was queued before this
    await sweeper.stop();
    expect(ids("seen_requests", "request_id")).toEqual([]);
  });
});
