import { RateLimiterRes, RateLimiterSQLite } from "rate-limiter-flexible";
import type { Clock } from "../clock.ts";
import { networkKeys } from "../http/client-ip.ts";
import type { Db } from "../store/db.ts";
import { AccountFailureRepository, type FailureCount } from "../store/account-failures.ts";

/** Per-account lockout numbers (NIST SP 800-63B-4 §3.2.2, SECURITY.md B.6). */
export const accountLimits = {
  freeFailures: 4, // the 5th consecutive failure starts the delay
  firstDelayMs: 30_000,
  maxDelayMs: 60 * 60_000,
  hardStop: 100,
} as const;

export type AccountLimits = { readonly freeFailures: number; readonly firstDelayMs: number; readonly maxDelayMs: number; readonly hardStop: number };

/** Security questions are guessable: a longer lock (SECURITY.md B.2: 30 minutes after 5 failures, growing). */
export const kbaLimits: AccountLimits = { freeFailures: 4, firstDelayMs: 30 * 60_000, maxDelayMs: 24 * 60 * 60_000, hardStop: 100 };

/** Failure rates per network (SECURITY.md B.6): one address, and the network around it. */
export const networkLimits = {
  perAddress: { points: 20, durationS: 600 }, // an IPv4 address or an IPv6 /64 (one subscriber's prefix)
  perNetwork: { points: 200, durationS: 3600 }, // an IPv4 /24 or an IPv6 /48
} as const;

export type ThrottleVerdict = { allowed: false; retryAfterMs: number; reason: string; hardStop: boolean } | { allowed: true; reservation: Reservation };

/** A try that was counted before its check. */
export interface Reservation {
  /** The secret was right: the account's count starts again and the address gets its try back. */
  succeeded(): Promise<void>;
  /** The secret could not be checked (the server was busy): as if the try had not been made. */
  notChecked(): Promise<void>;
}


/** The account a login counts against: the user when it names one (any spelling), else the typed name. */
export const accountKey = (login: string, userId: string | null): string => (userId ? `user:${userId}` : `login:${login.normalize("NFKC").trim().toLowerCase()}`);

/** A challenge method's failures count against the user, apart from the password's. */
export const challengeKey = (userId: string, method: string): string => `user:${userId}:challenge:${method}`;

/**
 * Failed sign-in throttles: consecutive failures per account, failure rates per address and
 * per network. Reserve, then verify (STYLE.md 14): every counter is taken before the
 * password or answer is checked and given back when it was right.
 */
export class LoginThrottle {
  readonly #accounts: AccountFailureRepository;
  readonly #perAddress: RateLimiterSQLite;
  readonly #perNetwork: RateLimiterSQLite;
  readonly #clock: Clock;

  private constructor(db: Db, clock: Clock, perAddress: RateLimiterSQLite, perNetwork: RateLimiterSQLite) {
    this.#accounts = new AccountFailureRepository(db);
    this.#clock = clock;
    this.#perAddress = perAddress;
    this.#perNetwork = perNetwork;
  }

  static async create(db: Db, clock: Clock): Promise<LoginThrottle> {
    const limiter = (keyPrefix: string, points: number, duration: number) =>
      new Promise<RateLimiterSQLite>((resolve, reject) => {
        const l: RateLimiterSQLite = new RateLimiterSQLite(
          { storeClient: db, storeType: "better-sqlite3", tableName: "rate_limits", keyPrefix, points, duration },
          (err?: Error) => (err ? reject(err) : resolve(l)),
        );
      });
    const perAddress = await limiter("login_ip", networkLimits.perAddress.points, networkLimits.perAddress.durationS);
    const perNetwork = await limiter("login_subnet", networkLimits.perNetwork.points, networkLimits.perNetwork.durationS);
    return new LoginThrottle(db, clock, perAddress, perNetwork);
  }

  /**
   * Takes one try from every budget, or refuses without taking any. `knownContext` (a device or
   * an address this account signed in from before) passes the account's delay, never its hard
   * stop: a stranger's failures cannot lock the owner out (SECURITY.md B.6).
   */
  async reserve(account: string, ip: string, opts: { limits?: AccountLimits; knownContext?: boolean } = {}): Promise<ThrottleVerdict> {
    const limits = opts.limits ?? accountLimits;
    const { address, network } = networkKeys(ip);
    const taken: [RateLimiterSQLite, string][] = [];
    const giveBack = async () => {
      for (const [l, k] of taken) await l.reward(k, 1);
    };
    for (const [limiter, key, what] of [
      [this.#perAddress, address, "IP"],
      [this.#perNetwork, network, "network"],
    ] as const) {
      try {
        await limiter.consume(key);
        taken.push([limiter, key]);
      } catch (e) {
        if (!(e instanceof RateLimiterRes)) throw e;
        // Over the limit: this try was counted but will not be checked, so it costs nothing.
        await limiter.reward(key, 1);
        await giveBack();
        return { allowed: false, retryAfterMs: e.msBeforeNext, reason: `${what} failure rate`, hardStop: false };
      }
    }
    const now = this.#clock.now();
    // Pure: decides from the count read inside the reservation's transaction, and says why it refused.
    const refusal = (f: FailureCount | undefined): Extract<ThrottleVerdict, { allowed: false }> | null => {
      if (!f) return null;
      if (f.consecutive >= limits.hardStop) return { allowed: false, retryAfterMs: Infinity, reason: `account hard stop after ${f.consecutive} failures`, hardStop: true };
      const wait = f.lastFailureAt + delayFor(f.consecutive, limits) - now;
      if (wait > 0 && !opts.knownContext) return { allowed: false, retryAfterMs: wait, reason: `account delay after ${f.consecutive} consecutive failures`, hardStop: false };
      return null;
    };
    const { allowed, before } = await this.#accounts.reserve(account, now, (f) => refusal(f) === null);
    if (!allowed) {
      await giveBack();
      return refusal(before) ?? { allowed: false, retryAfterMs: 0, reason: "account throttle", hardStop: false };
    }
    return {
      allowed: true,
      reservation: {
        succeeded: async () => {
          await this.#accounts.reset(account);
          await giveBack();
        },
        notChecked: async () => {
          await this.#accounts.giveBack(account);
          await giveBack();
        },
      },
    };
  }

  /** Consecutive failures counted for this account now. */
  async failures(account: string): Promise<number> {
    return (await this.#accounts.get(account))?.consecutive ?? 0;
  }

  /** An administrator's unlock: every failure count of this user (password and challenges). */
  async unlockUser(userId: string): Promise<void> {
    await this.#accounts.resetPrefix(`user:${userId}`);
  }
}

/** Runs the check; if it never ran (the hashing queue was full, or any other error), the try is given back. */
export async function unlessBusy<T>(reservation: Reservation, check: () => Promise<T>): Promise<T> {
  try {
    return await check();
  } catch (e) {
    await reservation.notChecked();
    throw e;
  }
}

export function delayFor(consecutive: number, limits: AccountLimits = accountLimits): number {
  if (consecutive <= limits.freeFailures) return 0;
  return Math.min(limits.firstDelayMs * 2 ** (consecutive - limits.freeFailures - 1), limits.maxDelayMs);
}
