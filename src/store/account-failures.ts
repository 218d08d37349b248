import type { Db } from "./db.ts";

export interface FailureCount {
  consecutive: number;
  lastFailureAt: number;
}

/**
 * Consecutive failures per account key. A try is reserved (counted as a failure) before the
 * secret is checked and forgotten when it was right, so parallel tries cannot all slip in
 * between a read and a write.
 */
export class AccountFailureRepository {
  readonly #get;
  readonly #fail;
  readonly #reset;
  readonly #giveBack;
  readonly #resetLike;
  readonly #reserve;

  constructor(db: Db) {
    this.#get = db.prepare<[string], FailureCount>("SELECT consecutive, last_failure_at AS lastFailureAt FROM account_failures WHERE account_key = ?");
    this.#fail = db.prepare<[{ key: string; now: number }], { consecutive: number }>(
      `INSERT INTO account_failures (account_key, consecutive, last_failure_at) VALUES (@key, 1, @now)
       ON CONFLICT (account_key) DO UPDATE SET consecutive = consecutive + 1, last_failure_at = @now
       RETURNING consecutive`,
    );
    this.#reset = db.prepare<[string]>("DELETE FROM account_failures WHERE account_key = ?");
    this.#giveBack = db.prepare<[string]>("UPDATE account_failures SET consecutive = consecutive - 1 WHERE account_key = ? AND consecutive > 0");
    this.#resetLike = db.prepare<[string]>("DELETE FROM account_failures WHERE account_key LIKE ? ESCAPE '\\'");
    // Read, decide and count in one write transaction: atomic in this process and against others.
    const reserve = db.transaction((key: string, now: number, allowed: (f: FailureCount | undefined) => boolean): { allowed: boolean; before: FailureCount | undefined } => {
      const before = this.#get.get(key);
      if (!allowed(before)) return { allowed: false, before };
      this.#fail.get({ key, now });
      return { allowed: true, before };
    });
    this.#reserve = (key: string, now: number, allowed: (f: FailureCount | undefined) => boolean) => reserve.immediate(key, now, allowed);
  }

  async get(key: string): Promise<FailureCount | undefined> {
    return this.#get.get(key);
  }

  /** Counts a try as a failure in advance when `allowed` says the count so far permits one. */
  async reserve(key: string, now: number, allowed: (f: FailureCount | undefined) => boolean): Promise<{ allowed: boolean; before: FailureCount | undefined }> {
    return this.#reserve(key, now, allowed);
  }

  async reset(key: string): Promise<void> {
    this.#reset.run(key);
  }

  /** Gives back one reserved try whose secret was never checked. */
  async giveBack(key: string): Promise<void> {
    this.#giveBack.run(key);
  }

  /** Forgets every key that starts with this prefix (an administrator's unlock). */
  async resetPrefix(prefix: string): Promise<void> {
    this.#resetLike.run(`${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
  }
}
