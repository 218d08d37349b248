import { randomInt } from "node:crypto";
import { hmac, randomToken, safeEqual } from "../crypto/tokens.ts";
import type { Mailer, Message } from "../mail/mailer.ts";
import type { EmailCodeRepository } from "../store/email-codes.ts";

export const codeLimits = {
  maxTries: 5, // wrong tries per code
  resendGapMs: 60_000, // at most one code a minute…
  perHour: 5, // …and a few an hour, per user, whatever the purpose
  perIpPerHour: 20, // one address cannot mail many accounts' inboxes (SECURITY.md B.6)
} as const;

export type SendResult = { sent: true } | { sent: false; reason: string; retryAfterMs: number };
export type CheckResult = "ok" | "wrong" | "expired" | "none" | "too-many-tries";

/** Masks an address for display: a•••@example.org. */
export const maskAddress = (address: string): string => {
  const [local = "", domain = ""] = address.split("@");
  return `${local.slice(0, 1)}•••@${domain}`;
};

/**
 * Six-digit codes sent by mail for one purpose, stored only as keyed hashes, single use,
 * a few tries each, and sent at a limited rate. The code itself is never logged.
 */
export class EmailCodes {
  readonly #repo: EmailCodeRepository;
  readonly #mailer: Mailer;
  readonly #key: Buffer;
  readonly #ttlMs: number;

  constructor(repo: EmailCodeRepository, mailer: Mailer, key: Buffer, ttlMs: number) {
    this.#repo = repo;
    this.#mailer = mailer;
    this.#key = key;
    this.#ttlMs = ttlMs;
  }

  get minutes(): number {
    return Math.round(this.#ttlMs / 60_000);
  }

  #hash(id: string, code: string): string {
    return hmac(this.#key, `email-code:${id}:${code}`);
  }

  /** A live code for this purpose (sent, unused, unexpired, tries left). */
  async live(userId: string, purpose: string, now: number): Promise<boolean> {
    const c = await this.#repo.latest(userId, purpose);
    return !!c && c.usedAt === null && c.expiresAt > now && c.attempts < codeLimits.maxTries;
  }

  /**
   * Reserve, then mail (STYLE.md 14): the limits are checked and the code stored unsent in one
   * write, the mail goes out, and only then does the code work. A failed send gives the place
   * back and leaves the previous code (if any) working.
   */
  async send(userId: string, purpose: string, address: string, ip: string, now: number, compose: (code: string) => Message): Promise<SendResult> {
    const id = randomToken(16);
    const code = String(randomInt(0, 1_000_000)).padStart(6, "0");
    const row = { id, userId, purpose, address, ip, codeHash: this.#hash(id, code), createdAt: now, expiresAt: now + this.#ttlMs };
    let refusal: SendResult = { sent: true };
    const reserved = await this.#repo.reserve(row, now - 3_600_000, (h) => {
      if (h.lastCreatedAt !== null && now - h.lastCreatedAt < codeLimits.resendGapMs) refusal = { sent: false, reason: "a code was sent less than a minute ago", retryAfterMs: h.lastCreatedAt + codeLimits.resendGapMs - now };
      else if (h.userSince >= codeLimits.perHour) refusal = { sent: false, reason: `${codeLimits.perHour} codes sent in the last hour`, retryAfterMs: 3_600_000 };
      else if (h.ipSince >= codeLimits.perIpPerHour) refusal = { sent: false, reason: `${codeLimits.perIpPerHour} codes sent for this IP in the last hour`, retryAfterMs: 3_600_000 };
      else return true;
      return false;
    });
    if (!reserved) return refusal;
    try {
      await this.#mailer.send({ ...compose(code), userId });
    } catch (e) {
      await this.#repo.cancel(id);
      throw e;
    }
    await this.#repo.activate(row, now);
    return { sent: true };
  }

  async check(userId: string, purpose: string, code: string, now: number): Promise<CheckResult> {
    return (await this.redeem(userId, purpose, code, now)).result;
  }

  /**
   * Checks the code and tells which address the checked code went to: the address proved is the
   * one read with the code, not one looked up again (a code sent meanwhile may have replaced it).
   */
  async redeem(userId: string, purpose: string, code: string, now: number): Promise<{ result: CheckResult; address: string | undefined }> {
    const c = await this.#repo.latest(userId, purpose);
    if (!c || c.usedAt !== null) return { result: "none", address: c?.address };
    const address = c.address;
    if (c.expiresAt <= now) return { result: "expired", address };
    // The try is counted before the comparison: parallel guesses each spend one.
    if ((await this.#repo.countAttempt(c.id)) > codeLimits.maxTries) return { result: "too-many-tries", address };
    const typed = code.replace(/\s+/g, "");
    if (!/^[0-9]{6}$/.test(typed) || !safeEqual(this.#hash(c.id, typed), c.codeHash)) return { result: "wrong", address };
    // Single use in one statement; it fails too when a newer code retired this one meanwhile.
    return { result: (await this.#repo.use(c.id, now)) ? "ok" : "none", address };
  }

  /** The address the latest code for this purpose went to. */
  async addressOf(userId: string, purpose: string): Promise<string | undefined> {
    return (await this.#repo.latest(userId, purpose))?.address;
  }
}
