import type { Db } from "./db.ts";

export interface EmailCode {
  id: string;
  userId: string;
  purpose: string;
  address: string;
  ip: string;
  codeHash: string;
  attempts: number;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
}

const columns = "id, user_id AS userId, purpose, address, ip, code_hash AS codeHash, attempts, created_at AS createdAt, expires_at AS expiresAt, used_at AS usedAt";

export class EmailCodeRepository {
  readonly #insert;
  readonly #latest;
  readonly #countSince;
  readonly #countSinceByIp;
  readonly #attempt;
  readonly #use;
  readonly #retire;

  constructor(db: Db) {
    this.#insert = db.prepare<[Omit<EmailCode, "attempts" | "usedAt">]>(
      "INSERT INTO email_codes (id, user_id, purpose, address, ip, code_hash, created_at, expires_at) VALUES (@id, @userId, @purpose, @address, @ip, @codeHash, @createdAt, @expiresAt)",
    );
    this.#latest = db.prepare<[{ userId: string; purpose: string }], EmailCode>(`SELECT ${columns} FROM email_codes WHERE user_id = @userId AND purpose = @purpose ORDER BY created_at DESC, rowid DESC LIMIT 1`);
    this.#countSince = db.prepare<[{ userId: string; since: number }], { n: number }>("SELECT count(*) AS n FROM email_codes WHERE user_id = @userId AND created_at > @since");
    this.#countSinceByIp = db.prepare<[{ ip: string; since: number }], { n: number }>("SELECT count(*) AS n FROM email_codes WHERE ip = @ip AND created_at > @since");
    this.#attempt = db.prepare<[string], { attempts: number }>("UPDATE email_codes SET attempts = attempts + 1 WHERE id = ? RETURNING attempts");
    // Single use, atomically: only an unused code can be used.
    this.#use = db.prepare<[{ id: string; now: number }]>("UPDATE email_codes SET used_at = @now WHERE id = @id AND used_at IS NULL");
    // A new code makes the user's older codes for the same purpose useless.
    this.#retire = db.prepare<[{ userId: string; purpose: string; now: number }]>("UPDATE email_codes SET used_at = @now WHERE user_id = @userId AND purpose = @purpose AND used_at IS NULL");
  }

  add(code: Omit<EmailCode, "attempts" | "usedAt">): void {
    this.#retire.run({ userId: code.userId, purpose: code.purpose, now: code.createdAt });
    this.#insert.run(code);
  }

  latest(userId: string, purpose: string): EmailCode | undefined {
    return this.#latest.get({ userId, purpose });
  }

  /** Codes sent to this user since a time, whatever their purpose: the resend budget. */
  countSince(userId: string, since: number): number {
    return this.#countSince.get({ userId, since })?.n ?? 0;
  }

  /** Codes sent at the request of this IP since a time, to any user. */
  countSinceByIp(ip: string, since: number): number {
    return this.#countSinceByIp.get({ ip, since })?.n ?? 0;
  }

  countAttempt(id: string): number {
    return this.#attempt.get(id)?.attempts ?? Infinity;
  }

  use(id: string, now: number): boolean {
    return this.#use.run({ id, now }).changes === 1;
  }
}
