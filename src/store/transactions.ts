import type { Db } from "./db.ts";

export type TransactionState = "started" | "identified" | "challenging" | "completed" | "denied";

/** The challenge step of a transaction: what the policy offered and how far the user got. */
export interface ChallengeState {
  methods: string[]; // offered, in the policy's order, only those the user has
  chosen: string | null;
  kbaSlots: number[] | null; // the two questions asked, fixed until answered
  rememberOffered: boolean; // the policy lets a passed challenge trust this device
  deviceLimit: number | null;
  firstFactorNow: boolean; // the password was checked in this transaction (a fresh session follows)
  failures: Record<string, number>; // wrong answers per method in this transaction
}

export interface Transaction {
  id: string;
  bindingHash: string; // SHA-256 of the browser-binding cookie
  appId: string | null; // null: signing in to Gatehouse itself
  requestId: string | null; // null for IdP-initiated sign-ins
  relayState: string | null;
  acsUrl: string | null;
  state: TransactionState;
  userId: string | null;
  clientIp: string;
  attempts: number;
  createdAt: number;
  expiresAt: number;
  challenge: ChallengeState | null;
  passed: string[]; // challenge methods passed in this sign-in
  stepUp: boolean; // a re-authentication: the account's strongest factor is asked for
}

interface Row {
  id: string;
  binding_hash: string;
  app_id: string | null;
  request_id: string | null;
  relay_state: string | null;
  acs_url: string | null;
  state: TransactionState;
  user_id: string | null;
  client_ip: string;
  attempts: number;
  created_at: number;
  expires_at: number;
  challenge_json: string | null;
  passed_json: string;
  step_up: number;
}

const toTx = (r: Row): Transaction => ({
  id: r.id,
  bindingHash: r.binding_hash,
  appId: r.app_id,
  requestId: r.request_id,
  relayState: r.relay_state,
  acsUrl: r.acs_url,
  state: r.state,
  userId: r.user_id,
  clientIp: r.client_ip,
  attempts: r.attempts,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  challenge: r.challenge_json ? (JSON.parse(r.challenge_json) as ChallengeState) : null,
  passed: JSON.parse(r.passed_json) as string[],
  stepUp: r.step_up === 1,
});

export type NewTransaction = Omit<Transaction, "state" | "userId" | "attempts" | "challenge" | "passed" | "stepUp"> & { stepUp?: boolean };

export class TransactionRepository {
  readonly #insert;
  readonly #byId;
  readonly #identify;
  readonly #finish;
  readonly #attempt;
  readonly #purge;
  readonly #challenge;
  readonly #passed;

  constructor(db: Db) {
    this.#insert = db.prepare(
      `INSERT INTO transactions (id, binding_hash, app_id, request_id, relay_state, acs_url, state, client_ip, created_at, expires_at, step_up)
       VALUES (@id, @bindingHash, @appId, @requestId, @relayState, @acsUrl, 'started', @clientIp, @createdAt, @expiresAt, @stepUp)`,
    );
    this.#byId = db.prepare<[string], Row>("SELECT * FROM transactions WHERE id = ?");
    this.#identify = db.prepare<[string, string]>("UPDATE transactions SET state = 'identified', user_id = ? WHERE id = ? AND state = 'started'");
    // The state guard makes completion atomic: one transaction issues at most one assertion.
    this.#finish = db.prepare<[TransactionState, number, string]>(
      "UPDATE transactions SET state = ?, completed_at = ? WHERE id = ? AND state IN ('started', 'identified', 'challenging')",
    );
    this.#challenge = db.prepare<[{ id: string; challenge: string }]>("UPDATE transactions SET state = 'challenging', challenge_json = @challenge WHERE id = @id AND state IN ('identified', 'challenging')");
    // Passing is recorded once per method and only while the challenge is open.
    this.#passed = db.prepare<[{ id: string; method: string }]>(
      "UPDATE transactions SET passed_json = json_insert(passed_json, '$[#]', @method) WHERE id = @id AND state = 'challenging' AND NOT EXISTS (SELECT 1 FROM json_each(passed_json) WHERE value = @method)",
    );
    this.#attempt = db.prepare<[string], { attempts: number }>("UPDATE transactions SET attempts = attempts + 1 WHERE id = ? RETURNING attempts");
    this.#purge = db.prepare<[number]>("DELETE FROM transactions WHERE expires_at < ?");
  }

  add(t: NewTransaction): void {
    this.#insert.run({ ...t, stepUp: t.stepUp ? 1 : 0 });
  }

  byId(id: string): Transaction | undefined {
    const r = this.#byId.get(id);
    return r && toTx(r);
  }

  identify(id: string, userId: string): boolean {
    return this.#identify.run(userId, id).changes === 1;
  }

  /** Moves to a final state; false if another request got there first. */
  finish(id: string, state: "completed" | "denied", now: number): boolean {
    return this.#finish.run(state, now, id).changes === 1;
  }

  /** Opens or updates the challenge step; false when the transaction is no longer open for it. */
  setChallenge(id: string, challenge: ChallengeState): boolean {
    return this.#challenge.run({ id, challenge: JSON.stringify(challenge) }).changes === 1;
  }

  markPassed(id: string, method: string): boolean {
    return this.#passed.run({ id, method }).changes === 1;
  }

  countAttempt(id: string): number {
    return this.#attempt.get(id)?.attempts ?? 0;
  }

  purgeExpired(before: number): number {
    return this.#purge.run(before).changes;
  }
}

/** AuthnRequest IDs already used by an app, kept until the request could no longer be fresh. */
export class SeenRequestRepository {
  readonly #insert;
  readonly #purge;

  constructor(db: Db) {
    this.#insert = db.prepare<[string, string, number]>("INSERT OR IGNORE INTO seen_requests (app_id, request_id, expires_at) VALUES (?, ?, ?)");
    this.#purge = db.prepare<[number]>("DELETE FROM seen_requests WHERE expires_at < ?");
  }

  /** Records the ID; false if it was already there (a replay). */
  remember(appId: string, requestId: string, expiresAt: number): boolean {
    return this.#insert.run(appId, requestId, expiresAt).changes === 1;
  }

  purgeExpired(before: number): number {
    return this.#purge.run(before).changes;
  }
}
