import type { Db } from "./db.ts";

export interface TotpFactor {
  userId: string;
  secretSealed: string;
  lastStep: number | null;
  confirmedAt: number | null;
}

export interface KbaAnswer {
  slot: number;
  question: string;
  answerHash: string;
}

/** TOTP seeds (sealed) and the last accepted step per user. */
export class TotpRepository {
  readonly #get;
  readonly #save;
  readonly #step;
  readonly #remove;

  constructor(db: Db) {
    this.#get = db.prepare<[string], TotpFactor>("SELECT user_id AS userId, secret_sealed AS secretSealed, last_step AS lastStep, confirmed_at AS confirmedAt FROM totp_factors WHERE user_id = ?");
    // Only a confirmed seed is ever stored: it replaces the previous one in one statement.
    this.#save = db.prepare<[{ userId: string; sealed: string; step: number; now: number }]>(
      `INSERT INTO totp_factors (user_id, secret_sealed, last_step, confirmed_at, created_at) VALUES (@userId, @sealed, @step, @now, @now)
       ON CONFLICT (user_id) DO UPDATE SET secret_sealed = @sealed, last_step = @step, confirmed_at = @now, created_at = @now`,
    );
    // The guard makes acceptance atomic: two requests with the same code cannot both pass.
    this.#step = db.prepare<[{ userId: string; step: number }]>("UPDATE totp_factors SET last_step = @step WHERE user_id = @userId AND (last_step IS NULL OR last_step < @step)");
    this.#remove = db.prepare<[string]>("DELETE FROM totp_factors WHERE user_id = ?");
  }

  async get(userId: string): Promise<TotpFactor | undefined> {
    return this.#get.get(userId);
  }

  /** Saves a confirmed seed; the step that confirmed it counts as used. */
  async save(userId: string, sealed: string, step: number, now: number): Promise<void> {
    this.#save.run({ userId, sealed, step, now });
  }

  /** Records an accepted step; false when it (or a later one) was already used. */
  async useStep(userId: string, step: number): Promise<boolean> {
    return this.#step.run({ userId, step }).changes === 1;
  }

  async remove(userId: string): Promise<boolean> {
    return this.#remove.run(userId).changes === 1;
  }
}

/** Three questions and hashed answers per user. */
export class KbaRepository {
  readonly #get;
  readonly #clear;
  readonly #insert;
  readonly #pending;
  readonly #setPending;
  readonly #clearPending;
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
    this.#pending = db.prepare<[string], { slots: string }>("SELECT slots_json AS slots FROM kba_pending WHERE user_id = ?");
    // First draw wins: two tabs drawing at once end up asking the same pair.
    this.#setPending = db.prepare<[string, string]>("INSERT OR IGNORE INTO kba_pending (user_id, slots_json) VALUES (?, ?)");
    this.#clearPending = db.prepare<[string]>("DELETE FROM kba_pending WHERE user_id = ?");
    this.#get = db.prepare<[string], KbaAnswer>("SELECT slot, question, answer_hash AS answerHash FROM kba_answers WHERE user_id = ? ORDER BY slot");
    this.#clear = db.prepare<[string]>("DELETE FROM kba_answers WHERE user_id = ?");
    this.#insert = db.prepare<[{ userId: string; slot: number; question: string; answerHash: string }]>(
      "INSERT INTO kba_answers (user_id, slot, question, answer_hash) VALUES (@userId, @slot, @question, @answerHash)",
    );
  }

  async get(userId: string): Promise<KbaAnswer[]> {
    return this.#get.all(userId);
  }

  /** Replaces all three at once: never a mix of old and new answers. */
  async replace(userId: string, answers: readonly Omit<KbaAnswer, "slot">[]): Promise<void> {
    this.#db.transaction(() => {
      this.#clear.run(userId);
      this.#clearPending.run(userId);
      answers.forEach((a, slot) => this.#insert.run({ userId, slot, question: a.question, answerHash: a.answerHash }));
    })();
  }

  /** The pair of slots drawn for this account and not yet answered right, drawing one if there is none. */
  async pendingPair(userId: string, draw: () => number[]): Promise<number[]> {
    const existing = this.#pending.get(userId);
    if (existing) return JSON.parse(existing.slots) as number[];
    this.#setPending.run(userId, JSON.stringify(draw()));
    return JSON.parse((this.#pending.get(userId) as { slots: string }).slots) as number[];
  }

  async clearPendingPair(userId: string): Promise<void> {
    this.#clearPending.run(userId);
  }
}
