import ipaddr from "ipaddr.js";
import { RateLimiterSQLite, RateLimiterRes } from "rate-limiter-flexible";
import type { Clock } from "../clock.ts";
import type { Db } from "../store/db.ts";
import { AccountFailureRepository } from "../store/account-failures.ts";

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

export type ThrottleVerdict = { allowed: true } | { allowed: false; retryAfterMs: number; reason: string };

const subnetOf = (ip: string): string => {
  if (ip === "unknown") return ip;
  const addr = ipaddr.parse(ip);
  return addr.kind() === "ipv4" ? `${addr.toString().split(".").slice(0, 3).join(".")}.0/24` : `${(addr as ipaddr.IPv6).toNormalizedString().split(":").slice(0, 3).join(":")}::/48`;
};

/** Failed sign-in throttles: consecutive failures per account, and failure rates per IP and per subnet. */
export class LoginThrottle {
  readonly #accounts: AccountFailureRepository;
  readonly #perIp: RateLimiterSQLite;
  readonly #perSubnet: RateLimiterSQLite;
  readonly #clock: Clock;

  private constructor(db: Db, clock: Clock, perIp: RateLimiterSQLite, perSubnet: RateLimiterSQLite) {
    this.#accounts = new AccountFailureRepository(db);
    this.#clock = clock;
    this.#perIp = perIp;
    this.#perSubnet = perSubnet;
  }

  static async create(db: Db, clock: Clock): Promise<LoginThrottle> {
    const limiter = (keyPrefix: string, points: number, duration: number) =>
      new Promise<RateLimiterSQLite>((resolve, reject) => {
        const l: RateLimiterSQLite = new RateLimiterSQLite(
          { storeClient: db, storeType: "better-sqlite3", tableName: "rate_limits", keyPrefix, points, duration },
          (err?: Error) => (err ? reject(err) : resolve(l)),
        );
      });
    const perIp = await limiter("login_ip", 20, 600);
    const perSubnet = await limiter("login_subnet", 200, 3600);
    return new LoginThrottle(db, clock, perIp, perSubnet);
  }

  static accountKey(login: string): string {
    return login.normalize("NFKC").trim().toLowerCase();
  }

  /** Whether a sign-in attempt may be checked at all, before any password is hashed. */
  async check(accountKey: string, ip: string, limits: AccountLimits = accountLimits): Promise<ThrottleVerdict> {
    const f = this.#accounts.get(accountKey);
    if (f) {
      if (f.consecutive >= limits.hardStop) return { allowed: false, retryAfterMs: Infinity, reason: `account hard stop after ${f.consecutive} failures` };
      const delay = delayFor(f.consecutive, limits);
      const wait = f.lastFailureAt + delay - this.#clock.now();
      if (wait > 0) return { allowed: false, retryAfterMs: wait, reason: `account delay after ${f.consecutive} consecutive failures` };
    }
    for (const [limiter, key, what] of [
      [this.#perIp, ip, "IP"],
      [this.#perSubnet, subnetOf(ip), "subnet"],
    ] as const) {
      const res = await limiter.get(key);
      if (res && res.consumedPoints >= limiter.points) return { allowed: false, retryAfterMs: res.msBeforeNext, reason: `${what} failure rate` };
    }
    return { allowed: true };
  }

  async failed(accountKey: string, ip: string): Promise<number> {
    const n = this.#accounts.fail(accountKey, this.#clock.now());
    for (const [limiter, key] of [
      [this.#perIp, ip],
      [this.#perSubnet, subnetOf(ip)],
    ] as const) {
      await limiter.consume(key).catch((e: unknown) => {
        if (!(e instanceof RateLimiterRes)) throw e; // over the limit is recorded, not an error here
      });
    }
    return n;
  }

  succeeded(accountKey: string): void {
    this.#accounts.reset(accountKey);
  }
}

export function delayFor(consecutive: number, limits: AccountLimits = accountLimits): number {
  if (consecutive <= limits.freeFailures) return 0;
  return Math.min(limits.firstDelayMs * 2 ** (consecutive - limits.freeFailures - 1), limits.maxDelayMs);
}
