/**
 * Every purge and every hot-path lookup is answered through an index. A statement that scans a
 * whole table costs time in proportion to everything ever stored: on the SSO path
 * (`DELETE FROM seen_requests WHERE expires_at < ?` used to run on every request) that turns a
 * full table into slow sign-ins for everyone. The lookups are the repositories' own statements,
 * captured as they are prepared, so the test follows the SQL the code runs.
 */
import { describe, expect, it } from "vitest";
import { AuditLog } from "../../src/audit/audit.ts";
import { fixedClock } from "../../src/clock.ts";
import { openDb, type Db } from "../../src/store/db.ts";
import { DeviceRepository } from "../../src/store/devices.ts";
import { EmailCodeRepository } from "../../src/store/email-codes.ts";
import { LogoutChainRepository } from "../../src/store/logout-chains.ts";
import { SessionRepository } from "../../src/store/sessions.ts";
import { auditPurge, purgeStatements } from "../../src/store/sweep.ts";

const db = openDb(":memory:");

/** The SQL each repository prepares. */
function preparedBy(build: (db: Db) => unknown): string[] {
  const seen: string[] = [];
  const spy = new Proxy(db, {
    get(target, prop) {
      if (prop === "prepare") return (sql: string) => (seen.push(sql), target.prepare(sql));
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  build(spy);
  return seen.map((s) => s.replace(/\s+/g, " "));
}

const prepared = [
  ...preparedBy((d) => new SessionRepository(d)),
  ...preparedBy((d) => new EmailCodeRepository(d)),
  ...preparedBy((d) => new DeviceRepository(d)),
  ...preparedBy((d) => new LogoutChainRepository(d)),
  ...preparedBy((d) => new AuditLog(d, fixedClock(0))),
];

/** EXPLAIN QUERY PLAN lines, with every parameter bound to null. */
function plan(sql: string): string[] {
  const names = [...new Set([...sql.matchAll(/@(\w+)/g)].map((m) => m[1] as string))];
  const stmt = db.prepare(`EXPLAIN QUERY PLAN ${sql}`);
  const rows = (names.length ? stmt.all(Object.fromEntries(names.map((n) => [n, null]))) : stmt.all(...Array<null>((sql.match(/\?/g) ?? []).length).fill(null))) as { detail: string }[];
  return rows.map((r) => r.detail);
}

/** A line that reads every row of a table (or of an index, in full). */
const fullScan = (line: string): boolean => /^SCAN (?!CONSTANT ROW)/.test(line);

const hotLookups: [what: string, sql: RegExp][] = [
  ["a session by its ID hash", /FROM sessions WHERE id_hash = \?/],
  ["an app sign-in by its SessionIndex (single logout)", /FROM session_apps WHERE session_index = \?/],
  ["a session's app sign-ins", /FROM session_apps WHERE session_hash = \?/],
  ["the latest email code for a user and purpose", /FROM email_codes WHERE user_id = @userId AND purpose = @purpose/],
  ["the codes sent for an IP in the last hour", /FROM email_codes WHERE ip = @ip AND created_at > @since/],
  ["the codes sent to a user in the last hour", /FROM email_codes WHERE user_id = @userId AND created_at > @since/],
  ["a user's devices", /FROM devices WHERE user_id = \? AND revoked_at IS NULL/],
  ["a device by its ID", /FROM devices WHERE id = \?/],
  ["a logout chain by the request it waits for", /FROM logout_chains WHERE current_request_id = \?/],
  ["a user's sign-ins on their account page", /FROM audit_events WHERE user_id = @userId AND \(/],
  ["whether a user signed in from an IP before (every password attempt)", /FROM audit_events WHERE user_id = @userId AND type = 'session.started' AND ip = @ip/],
];

describe("hot-path lookups use an index", () => {
  it.each(hotLookups)("%s", (_what, pattern) => {
    const sql = prepared.find((s) => pattern.test(s));
    expect(sql, `no repository statement matches ${String(pattern)}`).toBeDefined();
    const lines = plan(sql as string);
    expect(lines.filter(fullScan)).toEqual([]);
    expect(lines.some((l) => l.startsWith("SEARCH"))).toBe(true);
  });

  it("whether a user signed in from an IP before is answered from the index alone, not by reading the user's audit rows", () => {
    const sql = prepared.find((s) => /FROM audit_events WHERE user_id = @userId AND type = 'session.started' AND ip = @ip/.test(s)) as string;
    expect(plan(sql)).toEqual(["SEARCH audit_events USING COVERING INDEX audit_sign_in_lookup (user_id=? AND ip=?)"]);
  });

  it("the latest email code needs no sort", () => {
    const sql = prepared.find((s) => /FROM email_codes WHERE user_id = @userId AND purpose = @purpose/.test(s)) as string;
    expect(plan(sql).filter((l) => l.includes("TEMP B-TREE"))).toEqual([]);
  });
});

describe("every purge uses an index", () => {
  it.each([...Object.entries(purgeStatements), ["audit", auditPurge] as const])("%s", (_name, { sql }) => {
    const lines = plan(sql);
    expect(lines.filter(fullScan)).toEqual([]);
    expect(lines.some((l) => /^SEARCH \w+ USING (COVERING )?INDEX/.test(l))).toBe(true);
  });
});
