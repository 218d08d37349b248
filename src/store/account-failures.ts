import type { Db } from "./db.ts";

export class AccountFailureRepository {
  readonly #get;
  readonly #fail;
  readonly #reset;

  constructor(db: Db) {
    this.#get = db.prepare<[string], { consecutive: number; lastFailureAt: number }>(
      "SELECT consecutive, last_failure_at AS lastFailureAt FROM account_failures WHERE account_key = ?",
    );
    this.#fail = db.prepare<[{ key: string; now: number }], { consecutive: number }>(
      `INSERT INTO account_failures (account_key, consecutive, last_failure_at) VALUES (@key, 1, @now)
       ON CONFLICT (account_key) DO UPDATE SET consecutive = consecutive + 1, last_failure_at = @now
       RETURNING consecutive`,
    );
    this.#reset = db.prepare<[string]>("DELETE FROM account_failures WHERE account_key = ?");
  }

  get(key: string): { consecutive: number; lastFailureAt: number } | undefined {
    return this.#get.get(key);
  }

  fail(key: string, now: number): number {
    return this.#fail.get({ key, now })?.consecutive ?? 1;
  }

  reset(key: string): void {
    this.#reset.run(key);
  }
}
