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

/** What the send limits look at, pending sends included. */
export interface SendHistory {
  lastCreatedAt: number | null; // this user and purpose
  userSince: number; // this user, any purpose, since the window's start
  ipSince: number; // this address, any user
}

export class EmailCodeRepository {
  readonly #insert;
  readonly #latest;
  readonly #lastCreated;
  readonly #activate;
  readonly #cancel;
  readonly #reserve;
  readonly #activateTx;
  readonly #countSince;
  readonly #countSinceByIp;
  readonly #attempt;
  readonly #use;
  readonly #retire;

  constructor(db: Db) {
    // Stored unsent (sent_at NULL): it counts against the limits but cannot be used yet.
    this.#insert = db.prepare<[Omit<EmailCode, "attempts" | "usedAt">]>(
      "INSERT INTO email_codes (id, user_id, purpose, address, ip, code_hash, created_at, expires_at) VALUES (@id, @userId, @purpose, @address, @ip, @codeHash, @createdAt, @expiresAt)",
    );
    this.#latest = db.prepare<[{ userId: string; purpose: string }], EmailCode>(
      `SELECT ${columns} FROM email_codes WHERE user_id = @userId AND purpose = @purpose AND sent_at IS NOT NULL ORDER BY created_at DESC, rowid DESC LIMIT 1`,
    );
    this.#lastCreated = db.prepare<[{ userId: string; purpose: string }], { createdAt: number }>(
      "SELECT created_at AS createdAt FROM email_codes WHERE user_id = @userId AND purpose = @purpose ORDER BY created_at DESC LIMIT 1",
    );
    this.#activate = db.prepare<[{ id: string; now: number }]>("UPDATE email_codes SET sent_at = @now WHERE id = @id AND sent_at IS NULL");
    this.#cancel = db.prepare<[string]>("DELETE FROM email_codes WHERE id = ? AND sent_at IS NULL");
    this.#countSince = db.prepare<[{ userId: string; since: number }], { n: number }>("SELECT count(*) AS n FROM email_codes WHERE user_id = @userId AND created_at > @since");
    this.#countSinceByIp = db.prepare<[{ ip: string; since: number }], { n: number }>("SELECT count(*) AS n FROM email_codes WHERE ip = @ip AND created_at > @since");
    this.#attempt = db.prepare<[string], { attempts: number }>("UPDATE email_codes SET attempts = attempts + 1 WHERE id = ? RETURNING attempts");
    // Single use, atomically: only an unused code can be used.
    this.#use = db.prepare<[{ id: string; now: number }]>("UPDATE email_codes SET used_at = @now WHERE id = @id AND used_at IS NULL");
    // A code that went out makes the user's older codes for the same purpose useless.
    this.#retire = db.prepare<[{ id: string; userId: string; purpose: string; now: number }]>(
      "UPDATE email_codes SET used_at = @now WHERE user_id = @userId AND purpose = @purpose AND used_at IS NULL AND sent_at IS NOT NULL AND id != @id",
    );
    // Look at the limits and take a place in one write transaction (STYLE.md 14).
    const reserve = db.transaction((code: Omit<EmailCode, "attempts" | "usedAt">, since: number, allowed: (h: SendHistory) => boolean): boolean => {
      const history: SendHistory = {
        lastCreatedAt: this.#lastCreated.get(code)?.createdAt ?? null,
        userSince: this.#countSince.get({ userId: code.userId, since })?.n ?? 0,
        ipSince: this.#countSinceByIp.get({ ip: code.ip, since })?.n ?? 0,
      };
      if (!allowed(history)) return false;
      this.#insert.run(code);
      return true;
    });
    // Retiring the older codes and making this one usable are one change.
    this.#activateTx = db.transaction((code: Pick<EmailCode, "id" | "userId" | "purpose">, now: number) => {
      this.#retire.run({ id: code.id, userId: code.userId, purpose: code.purpose, now });
      this.#activate.run({ id: code.id, now });
    });
    this.#reserve = (code: Omit<EmailCode, "attempts" | "usedAt">, since: number, allowed: (h: SendHistory) => boolean) => reserve.immediate(code, since, allowed);
  }

  /** Stores the code unsent if `allowed` accepts the send history since `since`; false when refused. */
  async reserve(code: Omit<EmailCode, "attempts" | "usedAt">, since: number, allowed: (h: SendHistory) => boolean): Promise<boolean> {
    return this.#reserve(code, since, allowed);
  }

  /** The mail went out: the code becomes the one to type, and older ones for its purpose stop working. */
  async activate(code: Pick<EmailCode, "id" | "userId" | "purpose">, now: number): Promise<void> {
    this.#activateTx(code, now);
  }

  /** The mail could not be sent: the reservation is given back and older codes keep working. */
  async cancel(id: string): Promise<void> {
    this.#cancel.run(id);
  }

  async latest(userId: string, purpose: string): Promise<EmailCode | undefined> {
    return this.#latest.get({ userId, purpose });
  }

  /** Codes sent to this user since a time, whatever their purpose: the resend budget. */
  async countSince(userId: string, since: number): Promise<number> {
    return this.#countSince.get({ userId, since })?.n ?? 0;
  }

  /** Codes sent at the request of this IP since a time, to any user. */
  async countSinceByIp(ip: string, since: number): Promise<number> {
    return this.#countSinceByIp.get({ ip, since })?.n ?? 0;
  }

  async countAttempt(id: string): Promise<number> {
    return this.#attempt.get(id)?.attempts ?? Infinity;
  }

  async use(id: string, now: number): Promise<boolean> {
    return this.#use.run({ id, now }).changes === 1;
  }
}
