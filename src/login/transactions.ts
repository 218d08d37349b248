import type { Request, Response } from "express";
import type { Clock } from "../clock.ts";
import type { CookieJar } from "../http/cookies.ts";
import { randomToken, safeEqual, sha256 } from "../crypto/tokens.ts";
import { GatehouseError } from "../errors.ts";
import type { ChallengeState, Transaction, TransactionRepository } from "../store/transactions.ts";

export interface TransactionRequest {
  appId: string | null;
  requestId: string | null;
  relayState: string | null;
  acsUrl: string | null;
  stepUp?: boolean;
}

const txIdPattern = /^[A-Za-z0-9_-]{20,64}$/;

/**
 * Login transactions live in the store and are bound to the browser that started them by a
 * cookie whose hash the transaction keeps; they expire and complete at most once.
 */
export class TransactionService {
  readonly #repo: TransactionRepository;
  readonly #cookies: CookieJar;
  readonly #clock: Clock;
  readonly #lifetimeMs: number;

  constructor(repo: TransactionRepository, cookies: CookieJar, clock: Clock, lifetimeMs: number) {
    this.#repo = repo;
    this.#cookies = cookies;
    this.#clock = clock;
    this.#lifetimeMs = lifetimeMs;
  }

  /** The browser's binding value, set if the browser has none yet. */
  browserBinding(req: Request, res: Response): string {
    let value = this.#cookies.get(req, "browser");
    if (!value) {
      value = randomToken();
      this.#cookies.set(res, "browser", value);
    }
    return value;
  }

  async begin(req: Request, res: Response, input: TransactionRequest, clientIp: string): Promise<Transaction> {
    const binding = this.browserBinding(req, res);
    const now = this.#clock.now();
    const id = randomToken(24);
    await this.#repo.add({ id, bindingHash: sha256(binding), ...input, clientIp, createdAt: now, expiresAt: now + this.#lifetimeMs });
    return won(await this.#repo.byId(id), "start");
  }

  /** Loads a transaction for this browser that is still open, or throws a catalogued error. */
  async open(req: Request, id: unknown): Promise<Transaction> {
    if (typeof id !== "string" || !txIdPattern.test(id)) throw new GatehouseError("transaction_not_found", "malformed transaction id");
    const tx = await this.#repo.byId(id);
    if (!tx) throw new GatehouseError("transaction_not_found", "unknown transaction");
    const binding = this.#cookies.get(req, "browser");
    if (!binding || !safeEqual(sha256(binding), tx.bindingHash)) throw new GatehouseError("transaction_wrong_browser", "binding cookie does not match");
    if (tx.state === "completed" || tx.state === "denied" || tx.state === "passed") throw new GatehouseError("transaction_not_found", `transaction already ${tx.state}`);
    if (tx.expiresAt <= this.#clock.now()) throw new GatehouseError("transaction_expired", "transaction past its expiry");
    return tx;
  }

  /**
   * The transitions of the login transaction (STYLE.md 13). Each is a compare-and-set in the
   * store; the loser of a race gets an error, never a copy patched in memory. Callers continue
   * from the row returned.
   */
  async identify(tx: Transaction, userId: string): Promise<Transaction> {
    return won(await this.#repo.identify(tx.id, userId), "identify");
  }

  async openChallenge(tx: Transaction, challenge: ChallengeState): Promise<Transaction> {
    return won(await this.#repo.setChallenge(tx.id, userOf(tx), challenge, "identified"), "open the challenge");
  }

  async updateChallenge(tx: Transaction, challenge: ChallengeState): Promise<Transaction> {
    return won(await this.#repo.setChallenge(tx.id, userOf(tx), challenge, "challenging"), "update the challenge");
  }

  /** Spends one try of a method before its answer is checked. */
  async spendTry(tx: Transaction, method: string): Promise<Transaction> {
    return won(await this.#repo.spendTry(tx.id, userOf(tx), method), "spend a try");
  }

  async markPassed(tx: Transaction, method: string): Promise<Transaction> {
    return won(await this.#repo.markPassed(tx.id, userOf(tx), method), "record a passed challenge");
  }

  /** The policy allowed, or a challenge was passed: nothing stands between the user and completion. */
  async pass(tx: Transaction): Promise<Transaction> {
    return won(await this.#repo.pass(tx.id, userOf(tx)), "pass");
  }

  /** Completes the transaction; false if it was already completed (a replayed submit). */
  async complete(tx: Transaction): Promise<boolean> {
    return tx.userId !== null && (await this.#repo.complete(tx.id, tx.userId, this.#clock.now())) !== undefined;
  }

  async deny(tx: Transaction): Promise<boolean> {
    return this.#repo.deny(tx.id, this.#clock.now());
  }

  /** Counts a password try; 0 once the transaction no longer waits for a password. */
  async countAttempt(tx: Transaction): Promise<number> {
    return this.#repo.countAttempt(tx.id);
  }
}

const userOf = (tx: Transaction): string => {
  if (!tx.userId) throw new GatehouseError("transaction_not_found", `transaction ${tx.state} has no user`);
  return tx.userId;
};

const won = (row: Transaction | undefined, step: string): Transaction => {
  if (!row) throw new GatehouseError("transaction_not_found", `could not ${step}: the transaction moved on (another request, or it ended)`);
  return row;
};
