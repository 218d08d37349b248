import type { Db } from "../store/db.ts";
import type { Clock } from "../clock.ts";
import { currentRequestId } from "../request-context.ts";
import { RejectionSampler } from "./sampler.ts";

/** Every kind of event Gatehouse records. */
export const auditTypes = [
  "saml.authn_request.accepted",
  "saml.authn_request.rejected",
  "saml.response.issued",
  "saml.response.refused",
  "saml.logout.request_received",
  "saml.logout.rejected",
  "saml.logout.request_sent",
  "saml.logout.response_received",
  "saml.logout.completed",
  "login.password.succeeded",
  "login.password.failed",
  "login.throttled",
  "policy.decided",
  "policy.assigned",
  "challenge.started",
  "challenge.passed",
  "challenge.failed",
  "challenge.throttled",
  "challenge.code_sent",
  "device.registered",
  "device.not_registered",
  "device.trusted",
  "device.untrusted",
  "device.revoked",
  "factor.changed",
  "session.started",
  "session.reused",
  "session.ended",
  "app.launched",
  "app.registered",
  "app.removed",
  "user.created",
  "user.unlocked",
  "request.rejected",
  "request.rejections_counted", // anonymous rejections held back in a minute, counted (audit/sampler.ts)
] as const;
export type AuditType = (typeof auditTypes)[number];

export interface AuditEvent {
  type: AuditType;
  outcome: "success" | "failure" | "info";
  userId?: string | null;
  username?: string | null;
  appId?: string | null;
  ip?: string | null;
  transactionId?: string | null;
  reason?: string | null;
  detail?: Record<string, unknown>;
  /** The request it happened in (X-Request-ID, on every log line of that request); absent: the request being served. */
  requestId?: string | null;
}

export interface StoredAuditEvent extends Required<Omit<AuditEvent, "detail">> {
  id: number;
  at: string;
  detail: Record<string, unknown> | null;
}

// Never written, whatever a caller passes (ASVS 16.2.5).
const secretKeys = /pass(word)?|secret|token|code|answer|cookie|authorization|otp/i;
const maxString = 1000;

/** Strips control characters (log injection) and caps length. */
const clean = (s: string): string => s.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, " ").slice(0, maxString);

function redact(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return clean(value);
  if (depth > 4 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.slice(0, 200).map((v) => redact(v, depth + 1));
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, secretKeys.test(k) ? "[redacted]" : redact(v, depth + 1)]),
  );
}

/**
 * Append-only audit log: the table refuses UPDATE, and DELETE of anything younger than the
 * retention cutoff (store/sweep.ts). Anonymous rejections beyond a few a minute are counted
 * into one summary event instead of one row each (audit/sampler.ts).
 */
export class AuditLog {
  readonly #insert;
  readonly #recent;
  readonly #signIns;
  readonly #signedInFrom;
  readonly #clock: Clock;
  readonly #sampler: RejectionSampler;
  readonly #observer: ((e: AuditEvent) => void) | undefined;

  /** `observer` sees every event recorded, a counted rejection too (ops/metrics.ts counts them: metrics never drift from the audit). */
  constructor(db: Db, clock: Clock, sampler = new RejectionSampler(), observer?: (e: AuditEvent) => void) {
    this.#clock = clock;
    this.#sampler = sampler;
    this.#observer = observer;
    this.#insert = db.prepare(
      `INSERT INTO audit_events (at, type, outcome, user_id, username, app_id, ip, transaction_id, reason, detail_json, request_id)
       VALUES (@at, @type, @outcome, @userId, @username, @appId, @ip, @transactionId, @reason, @detail, @requestId)`,
    );
    // One line per sign-in: an app's is its assertion (its session start is the same sign-in),
    // Gatehouse's own is its session start; refusals and failed second steps too.
    this.#signIns = db.prepare<[{ userId: string; limit: number }], { at: string; ip: string | null; appId: string | null; type: AuditType; outcome: string; reason: string | null }>(
      `SELECT at, ip, app_id AS appId, type, outcome, reason FROM audit_events
       WHERE user_id = @userId AND ((type = 'session.started' AND app_id IS NULL) OR type = 'saml.response.issued'
         OR (type IN ('policy.decided', 'challenge.failed') AND outcome = 'failure'))
       ORDER BY id DESC LIMIT @limit`,
    );
    this.#signedInFrom = db.prepare<[{ userId: string; ip: string }], { one: number }>(
      "SELECT 1 AS one FROM audit_events WHERE user_id = @userId AND type = 'session.started' AND ip = @ip LIMIT 1",
    );
    this.#recent = db.prepare<[number], Record<string, unknown>>(
      `SELECT id, at, type, outcome, user_id AS userId, username, app_id AS appId, ip, transaction_id AS transactionId,
              reason, detail_json AS detail, request_id AS requestId FROM audit_events ORDER BY id DESC LIMIT ?`,
    );
  }

  /** Appends the event and returns its ID (a reference a user can quote; for a counted rejection, its kind's row). */
  async record(e: AuditEvent): Promise<number> {
    const now = this.#clock.now();
    this.#summarise(this.#sampler.roll(now), now);
    const admitted = this.#sampler.admit(e);
    if (!admitted.write) {
      this.#observer?.(e);
      return admitted.id;
    }
    const id = this.#write(e, now);
    if (admitted.key) this.#sampler.written(admitted.key, id);
    this.#observer?.(e);
    return id;
  }

  /** Writes what the sampler has counted and not yet summarised (on shutdown, or by the sweeper). */
  async flush(): Promise<void> {
    const now = this.#clock.now();
    this.#summarise(this.#sampler.roll(now) ?? this.#sampler.drain(), now);
  }

  #summarise(summary: ReturnType<RejectionSampler["drain"]>, now: number): void {
    if (summary) this.#write({ type: "request.rejections_counted", outcome: "failure", reason: `${summary.counted} anonymous rejections counted, not written one by one`, detail: { ...summary }, requestId: null }, now); // many requests, not the one that rolled the minute
  }

  #write(e: AuditEvent, now: number): number {
    const { lastInsertRowid } = this.#insert.run({
      at: new Date(now).toISOString(),
      type: e.type,
      outcome: e.outcome,
      userId: e.userId ?? null,
      username: e.username != null ? clean(e.username) : null,
      appId: e.appId ?? null,
      ip: e.ip != null ? clean(e.ip) : null,
      transactionId: e.transactionId ?? null,
      reason: e.reason != null ? clean(e.reason) : null,
      detail: e.detail ? JSON.stringify(redact(e.detail)) : null,
      requestId: e.requestId !== undefined ? e.requestId && clean(e.requestId) : (currentRequestId() ?? null),
    });
    return Number(lastInsertRowid);
  }

  /** A user's recent sign-ins (to Gatehouse and to apps), refusals and failed second steps, most recent first, for their own account page. */
  async signInsOf(userId: string, limit = 10) {
    return this.#signIns.all({ userId, limit });
  }

  /** Whether this user completed a sign-in from this address before (within the audit's retention). */
  async signedInFrom(userId: string, ip: string): Promise<boolean> {
    return this.#signedInFrom.get({ userId, ip }) !== undefined;
  }

  /** Most recent first. */
  async recent(limit = 100): Promise<StoredAuditEvent[]> {
    return this.#recent.all(limit).map((r: Record<string, unknown>) => ({ ...r, detail: r.detail ? (JSON.parse(r.detail as string) as Record<string, unknown>) : null }) as StoredAuditEvent);
  }
}
