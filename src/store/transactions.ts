import type { Db } from "./db.ts";

/**
 * started → identified → (challenging →) passed → completed; any open state → denied.
 * Every move is a compare-and-set on the stored state (and, once identified, the user).
 */
export type TransactionState = "started" | "identified" | "challenging" | "passed" | "completed" | "denied";

/** The challenge step of a transaction: what the policy offered and how far the user got. */
export interface ChallengeState {
  methods: string[]; // offered, in the policy's order, only those the user has
  chosen: string | null;
  kbaSlots: number[] | null; // the two questions asked, fixed until answered
  rememberOffered: boolean; // the policy lets a passed challenge trust this device
  deviceLimit: number | null;
  firstFactorNow: boolean; // the password was checked in this transaction (a fresh session follows)
  tries: Record<string, number>; // answers checked per method in this transaction, counted before the check
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
  readonly #challenge;
  readonly #spendTry;
  readonly #passed;
  readonly #pass;
  readonly #complete;
  readonly #deny;
  readonly #attempt;

  constructor(db: Db) {
    this.#insert = db.prepare(
      `INSERT INTO transactions (id, binding_hash, app_id, request_id, relay_state, acs_url, state, client_ip, created_at, expires_at, step_up)
       VALUES (@id, @bindingHash, @appId, @requestId, @relayState, @acsUrl, 'started', @clientIp, @createdAt, @expiresAt, @stepUp)`,
    );
    this.#byId = db.prepare<[string], Row>("SELECT * FROM transactions WHERE id = ?");
    // Each transition names the state it leaves and, once there is one, the user: a request that
    // lost a race changes no row, and its caller learns it.
    this.#identify = db.prepare<[{ id: string; userId: string }], Row>("UPDATE transactions SET state = 'identified', user_id = @userId WHERE id = @id AND state = 'started' RETURNING *");
    this.#challenge = db.prepare<[{ id: string; userId: string; challenge: string; from: TransactionState }], Row>(
      "UPDATE transactions SET state = 'challenging', challenge_json = @challenge WHERE id = @id AND user_id = @userId AND state = @from RETURNING *",
    );
    // A try is spent before the answer is checked, so parallel answers cannot outrun the cap.
    this.#spendTry = db.prepare<[{ id: string; userId: string; path: string }], Row>(
      "UPDATE transactions SET challenge_json = json_set(challenge_json, @path, coalesce(json_extract(challenge_json, @path), 0) + 1) WHERE id = @id AND user_id = @userId AND state = 'challenging' RETURNING *",
    );
    // Passing is recorded once per method and only while the challenge is open.
    this.#passed = db.prepare<[{ id: string; userId: string; method: string }], Row>(
      "UPDATE transactions SET passed_json = json_insert(passed_json, '$[#]', @method) WHERE id = @id AND user_id = @userId AND state = 'challenging' AND NOT EXISTS (SELECT 1 FROM json_each(passed_json) WHERE value = @method) RETURNING *",
    );
    // A challenge is passed only with a method recorded as passed.
    this.#pass = db.prepare<[{ id: string; userId: string }], Row>(
      "UPDATE transactions SET state = 'passed' WHERE id = @id AND user_id = @userId AND (state = 'identified' OR (state = 'challenging' AND json_array_length(passed_json) > 0)) RETURNING *",
    );
    // One transaction issues at most one assertion.
    this.#complete = db.prepare<[{ id: string; userId: string; now: number }], Row>(
      "UPDATE transactions SET state = 'completed', completed_at = @now WHERE id = @id AND user_id = @userId AND state = 'passed' RETURNING *",
    );
    this.#deny = db.prepare<[{ id: string; now: number }]>("UPDATE transactions SET state = 'denied', completed_at = @now WHERE id = @id AND state IN ('started', 'identified', 'challenging', 'passed')");
    this.#attempt = db.prepare<[string], { attempts: number }>("UPDATE transactions SET attempts = attempts + 1 WHERE id = ? AND state = 'started' RETURNING attempts");
  }

  async add(t: NewTransaction): Promise<void> {
    this.#insert.run({ ...t, stepUp: t.stepUp ? 1 : 0 });
  }

  async byId(id: string): Promise<Transaction | undefined> {
    const r = this.#byId.get(id);
    return r && toTx(r);
  }

  /** started → identified, bound to the user from now on; undefined when another request got there first. */
  async identify(id: string, userId: string): Promise<Transaction | undefined> {
    return maybe(this.#identify.get({ id, userId }));
  }

  /** identified → challenging, or a change of the open challenge (`from: "challenging"`). */
  async setChallenge(id: string, userId: string, challenge: ChallengeState, from: "identified" | "challenging"): Promise<Transaction | undefined> {
    return maybe(this.#challenge.get({ id, userId, challenge: JSON.stringify(challenge), from }));
  }

  /** Counts one try of a method in the open challenge; the stored row after it. */
  async spendTry(id: string, userId: string, method: string): Promise<Transaction | undefined> {
    return maybe(this.#spendTry.get({ id, userId, path: `$.tries."${method.replace(/[^a-z-]/g, "")}"` }));
  }

  async markPassed(id: string, userId: string, method: string): Promise<Transaction | undefined> {
    return maybe(this.#passed.get({ id, userId, method }));
  }

  /** identified (the policy allowed) or challenging with a method passed → passed. */
  async pass(id: string, userId: string): Promise<Transaction | undefined> {
    return maybe(this.#pass.get({ id, userId }));
  }

  /** passed → completed, once. */
  async complete(id: string, userId: string, now: number): Promise<Transaction | undefined> {
    return maybe(this.#complete.get({ id, userId, now }));
  }

  /** Any open state → denied; false if the transaction had already ended. */
  async deny(id: string, now: number): Promise<boolean> {
    return this.#deny.run({ id, now }).changes === 1;
  }

  /** Counts a password try while the transaction still waits for one; 0 when it no longer does. */
  async countAttempt(id: string): Promise<number> {
    return this.#attempt.get(id)?.attempts ?? 0;
  }
}

const maybe = (r: Row | undefined): Transaction | undefined => r && toTx(r);

/** AuthnRequest IDs already used by an app, kept until the request could no longer be fresh (the sweeper purges them). */
export class SeenRequestRepository {
  readonly #insert;

  constructor(db: Db) {
    this.#insert = db.prepare<[string, string, number]>("INSERT OR IGNORE INTO seen_requests (app_id, request_id, expires_at) VALUES (?, ?, ?)");
  }

  /** Records the ID; false if it was already there (a replay). */
  async remember(appId: string, requestId: string, expiresAt: number): Promise<boolean> {
    return this.#insert.run(appId, requestId, expiresAt).changes === 1;
  }
}
