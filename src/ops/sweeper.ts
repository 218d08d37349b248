import type { Logger } from "pino";
import type { AuditLog } from "../audit/audit.ts";
import type { Clock } from "../clock.ts";
import type { Config } from "../config.ts";
import { accountLimits, kbaLimits } from "../login/throttle.ts";
import type { Db } from "../store/db.ts";
import { StoreSweep, type Lifetimes, type SweepCounts } from "../store/sweep.ts";

const hour = 60 * 60_000;
const day = 24 * hour;

/** How long each kind of row outlives its use (README, "Data lifetimes"). */
export function lifetimesFrom(config: Config): Lifetimes {
  return {
    transactionGraceMs: config.lifetimes.transactionMs,
    sessionGraceMs: hour,
    sessionIdleMs: config.lifetimes.sessionIdleMs,
    emailCodeMs: day, // past every send budget (per hour) and every code's life (10 minutes)
    // Never shorter than the longest delay, so forgetting a count never lifts a delay early.
    accountFailureMs: Math.max(7 * day, accountLimits.maxDelayMs, kbaLimits.maxDelayMs),
    hardStop: Math.min(accountLimits.hardStop, kbaLimits.hardStop),
    revokedDeviceMs: 30 * day,
    deviceCookieMs: config.lifetimes.deviceCookieMs,
    samlRequestCacheMs: day,
    auditMs: config.auditRetentionDays * day,
  };
}

export interface SweeperDeps {
  db: Db;
  clock: Clock;
  config: Config;
  audit: AuditLog;
  log: Logger;
}

/**
 * Purges expired rows from every table that expires, on a timer that never keeps the process
 * alive. A sweep deletes in batches and lets requests run between them; a sweep still running
 * when the next is due is not doubled.
 */
export class Sweeper {
  readonly #d: SweeperDeps;
  readonly #store: StoreSweep;
  readonly #lifetimes: Lifetimes;
  readonly #batch: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<SweepCounts> | undefined;
  #stopped = false;

  constructor(d: SweeperDeps, opts: { batch?: number } = {}) {
    this.#d = d;
    this.#store = new StoreSweep(d.db);
    this.#lifetimes = lifetimesFrom(d.config);
    this.#batch = opts.batch ?? 2000;
  }

  /** Sweeps now and then every GATEHOUSE_SWEEP_INTERVAL_SECONDS. */
  start(): this {
    if (this.#timer) return this;
    this.#stopped = false;
    const tick = () => {
      if (!this.#stopped) this.sweep().catch((err: unknown) => this.#d.log.error({ err }, "sweep failed"));
    };
    this.#timer = setInterval(tick, this.#d.config.sweepIntervalSeconds * 1000).unref();
    setImmediate(tick).unref();
    return this;
  }

  /** Stops the timer and waits for a sweep in progress. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#stopped = true;
    await this.#running?.catch(() => undefined);
  }

  /** One sweep until nothing expired is left; the rows removed per table. */
  sweep(): Promise<SweepCounts> {
    this.#running ??= this.#sweep().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #sweep(): Promise<SweepCounts> {
    const total: SweepCounts = {};
    for (;;) {
      const { removed, more } = await this.#store.pass(this.#d.clock.now(), this.#lifetimes, this.#batch);
      for (const [table, n] of Object.entries(removed) as [keyof SweepCounts, number][]) total[table] = (total[table] ?? 0) + n;
      if (!more || this.#stopped) break;
      await new Promise((resolve) => setImmediate(resolve)); // let requests through between batches
    }
    await this.#d.audit.flush();
    if (Object.keys(total).length) this.#d.log.info({ removed: total }, "swept expired rows");
    return total;
  }
}
