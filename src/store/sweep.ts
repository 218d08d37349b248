import type { Db } from "./db.ts";

/**
 * How long each kind of row is kept, in ms. A row goes when it can no longer matter to a request;
 * where it still helps a person or a limit (a late submit told "expired", an hour's send budget,
 * the count towards the hard stop) it is kept that much longer.
 */
export interface Lifetimes {
  /** Transactions are kept this long past their expiry, so a late submit is told "expired", not "not found". */
  transactionGraceMs: number;
  /** Sessions are kept this long after they ended (signed out, absolute lifetime, idle). */
  sessionGraceMs: number;
  sessionIdleMs: number;
  /** Email codes are kept this long after they were sent: they count against hourly send budgets. */
  emailCodeMs: number;
  /** A count of failed sign-ins with no failure for this long is forgotten (never one at the hard stop). */
  accountFailureMs: number;
  /** Counts at or above this are kept until an administrator unlocks the account. */
  hardStop: number;
  /** Revoked devices are kept this long (the owner's device list no longer shows them). */
  revokedDeviceMs: number;
  /** A device not seen for this long has no cookie left in any browser. */
  deviceCookieMs: number;
  /** node-saml's request-ID cache (the demo app): far longer than any request lives. */
  samlRequestCacheMs: number;
  auditMs: number;
}

export type SweptTable =
  | "transactions"
  | "seen_requests"
  | "sessions"
  | "email_codes"
  | "account_failures"
  | "devices"
  | "logout_chains"
  | "rate_limits"
  | "saml_request_cache"
  | "audit_events";

/**
 * Each purge deletes at most @batch rows by rowid, chosen through an index on its condition
 * (migration 004), so one statement holds the write lock briefly and never scans the table.
 * Session apps go with their session (ON DELETE CASCADE).
 */
export const purgeStatements: Record<string, { table: SweptTable; sql: string }> = {
  transactions: { table: "transactions", sql: "DELETE FROM transactions WHERE rowid IN (SELECT rowid FROM transactions WHERE expires_at < @transactionsBefore LIMIT @batch)" },
  seenRequests: { table: "seen_requests", sql: "DELETE FROM seen_requests WHERE rowid IN (SELECT rowid FROM seen_requests WHERE expires_at < @now LIMIT @batch)" },
  sessionsEnded: { table: "sessions", sql: "DELETE FROM sessions WHERE rowid IN (SELECT rowid FROM sessions WHERE ended_at < @sessionsEndedBefore LIMIT @batch)" },
  sessionsExpired: { table: "sessions", sql: "DELETE FROM sessions WHERE rowid IN (SELECT rowid FROM sessions WHERE expires_at < @sessionsEndedBefore LIMIT @batch)" },
  sessionsIdle: { table: "sessions", sql: "DELETE FROM sessions WHERE rowid IN (SELECT rowid FROM sessions WHERE last_seen_at < @sessionsIdleBefore LIMIT @batch)" },
  emailCodes: { table: "email_codes", sql: "DELETE FROM email_codes WHERE rowid IN (SELECT rowid FROM email_codes WHERE created_at < @emailCodesBefore LIMIT @batch)" },
  accountFailures: {
    table: "account_failures",
    sql: "DELETE FROM account_failures WHERE rowid IN (SELECT rowid FROM account_failures WHERE last_failure_at < @failuresBefore AND consecutive < @hardStop LIMIT @batch)",
  },
  devicesRevoked: { table: "devices", sql: "DELETE FROM devices WHERE rowid IN (SELECT rowid FROM devices WHERE revoked_at < @revokedBefore LIMIT @batch)" },
  devicesForgotten: { table: "devices", sql: "DELETE FROM devices WHERE rowid IN (SELECT rowid FROM devices WHERE last_seen_at < @devicesUnseenBefore LIMIT @batch)" },
  logoutChains: { table: "logout_chains", sql: "DELETE FROM logout_chains WHERE rowid IN (SELECT rowid FROM logout_chains WHERE expires_at < @now LIMIT @batch)" },
  rateLimits: { table: "rate_limits", sql: "DELETE FROM rate_limits WHERE rowid IN (SELECT rowid FROM rate_limits WHERE expire < @now LIMIT @batch)" },
  samlRequestCache: { table: "saml_request_cache", sql: "DELETE FROM saml_request_cache WHERE rowid IN (SELECT rowid FROM saml_request_cache WHERE created_at < @samlCacheBefore LIMIT @batch)" },
};

// audit_events.at is ISO text: the cutoff is recorded first (the delete trigger allows only rows
// older than it), then the rows go; `id` is the rowid of an AUTOINCREMENT table.
const auditCutoff = "UPDATE audit_retention SET purged_before = @auditBefore WHERE id = 1 AND purged_before < @auditBefore";
export const auditPurge = { table: "audit_events" as const, sql: "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE at < @auditBefore LIMIT @batch)" };

export type SweepCounts = Partial<Record<SweptTable, number>>;

/** The purge of every table that expires: rows that no request or limit can need any more. */
export class StoreSweep {
  readonly #db: Db;
  readonly #purges: { table: SweptTable; stmt: ReturnType<Db["prepare"]> }[];
  readonly #auditCutoff;
  readonly #auditPurge;

  constructor(db: Db) {
    this.#db = db;
    this.#purges = [...Object.values(purgeStatements), auditPurge].map((p) => ({ table: p.table, stmt: db.prepare(p.sql) }));
    this.#auditCutoff = db.prepare(auditCutoff);
    this.#auditPurge = this.#purges.at(-1);
  }

  /**
   * One pass: every purge removes at most `batch` rows. Returns the rows removed per table and
   * whether any purge filled its batch (then call again, after letting requests through).
   */
  async pass(now: number, l: Lifetimes, batch: number): Promise<{ removed: SweepCounts; more: boolean }> {
    const params = {
      now,
      batch,
      transactionsBefore: now - l.transactionGraceMs,
      sessionsEndedBefore: now - l.sessionGraceMs,
      sessionsIdleBefore: now - l.sessionIdleMs - l.sessionGraceMs,
      emailCodesBefore: now - l.emailCodeMs,
      failuresBefore: now - l.accountFailureMs,
      hardStop: l.hardStop,
      revokedBefore: now - l.revokedDeviceMs,
      devicesUnseenBefore: now - l.deviceCookieMs,
      samlCacheBefore: now - l.samlRequestCacheMs,
      auditBefore: new Date(now - l.auditMs).toISOString(),
    };
    const removed: SweepCounts = {};
    let more = false;
    for (const p of this.#purges) {
      const n = this.#db.transaction(() => {
        if (p === this.#auditPurge) this.#auditCutoff.run({ auditBefore: params.auditBefore });
        return p.stmt.run(params).changes;
      })();
      if (n > 0) removed[p.table] = (removed[p.table] ?? 0) + n;
      if (n >= batch) more = true;
    }
    return { removed, more };
  }
}
