import { generateSecret, generateURI, verify } from "otplib";
import QRCode from "qrcode";
import type { SecretBox } from "../crypto/secret-box.ts";
import type { TotpRepository } from "../store/factors.ts";
import type { User } from "../store/users.ts";
import type { Challenge, ChallengeContext, Verdict } from "./types.ts";

// RFC 6238 as authenticator apps expect it: SHA-1, 6 digits, 30 s; one step of drift either way.
const period = 30;
const tolerance: [number, number] = [period, period];
const codePattern = /^[0-9]{6}$/;
const sealContext = (userId: string) => `totp:${userId}`;
const enrolContext = (userId: string) => `totp-enrol:${userId}`;
const enrolmentMs = 15 * 60_000;

/** Checks a code against a seed; returns the matched time step, or null. */
async function check(secret: string, code: string, now: number, afterStep: number | null): Promise<number | null> {
  const token = code.replace(/\s+/g, "");
  if (!codePattern.test(token)) return null;
  const result = await verify({ secret, token, epoch: Math.floor(now / 1000), epochTolerance: tolerance, ...(afterStep !== null ? { afterTimeStep: afterStep } : {}) });
  return result.valid && "timeStep" in result ? result.timeStep : null;
}

export class TotpChallenge implements Challenge {
  readonly id = "totp" as const;
  readonly label = "A code from your authenticator app";
  readonly multiFactor = true;
  readonly #repo: TotpRepository;
  readonly #box: SecretBox;

  constructor(repo: TotpRepository, box: SecretBox) {
    this.#repo = repo;
    this.#box = box;
  }

  async enrolled(user: User): Promise<boolean> {
    return !!(await this.#repo.get(user.id))?.confirmedAt;
  }

  begin(ctx: ChallengeContext) {
    return Promise.resolve({
      state: ctx.state,
      prompt: {
        method: this.id,
        heading: "Enter the code from your authenticator app",
        instructions: "Open the authenticator app you set up for Gatehouse and type the 6-digit code it shows now.",
        fields: [{ name: "code", label: "6-digit code", autocomplete: "one-time-code", inputmode: "numeric" as const, pattern: "[0-9 ]{6,7}", maxlength: 7 }],
        canResend: false,
        notice: null,
      },
    });
  }

  async verify(ctx: ChallengeContext, form: Record<string, string>): Promise<Verdict> {
    const factor = await this.#repo.get(ctx.user.id);
    const secret = factor?.confirmedAt ? this.#box.open(factor.secretSealed, sealContext(ctx.user.id)) : null;
    if (!factor || !secret) return { ok: false, reason: "no usable TOTP factor", message: "This verification method is not available for your account." };
    const step = await check(secret, form.code ?? "", ctx.now, null);
    if (step === null) return { ok: false, reason: "wrong or expired TOTP code", message: "That code is not right. Check the time on your phone, wait for the next code in your app and try again." };
    // A right code already spent (here, or by a parallel request: the step is saved atomically)
    // is called what it is, so the user waits for the next one instead of doubting the app.
    const used = { ok: false as const, reason: "TOTP code already used", message: "That code was right, but it was already used. Wait for the next code in your app." };
    if (factor.lastStep !== null && step <= factor.lastStep) return used;
    if (!(await this.#repo.useStep(ctx.user.id, step))) return used;
    return { ok: true };
  }
}

/** Setting up an authenticator app: nothing is stored until the first code proves the app has the seed. */
export class TotpEnrolment {
  readonly #repo: TotpRepository;
  readonly #box: SecretBox;
  readonly #issuer: string;

  constructor(repo: TotpRepository, box: SecretBox, issuer: string) {
    this.#repo = repo;
    this.#box = box;
    this.#issuer = issuer;
  }

  /** A new seed, its QR code (inline SVG) and a typed fallback; the seed travels sealed in the form. */
  async start(user: User, now: number): Promise<{ pending: string; secret: string; uri: string; qrSvg: string }> {
    const secret = generateSecret();
    const uri = generateURI({ issuer: this.#issuer, label: user.email, secret, period, digits: 6, algorithm: "sha1" });
    const qrSvg = await QRCode.toString(uri, { type: "svg", errorCorrectionLevel: "M", margin: 2 });
    const pending = this.#box.seal(JSON.stringify({ secret, expiresAt: now + enrolmentMs }), enrolContext(user.id));
    return { pending, secret, uri, qrSvg };
  }

  /** Saves the seed once a first code from it is right; the previous factor, if any, stays until then. */
  async confirm(user: User, pending: string, code: string, now: number): Promise<"saved" | "expired" | "wrong"> {
    const opened = this.#box.open(pending, enrolContext(user.id));
    if (!opened) return "expired";
    const { secret, expiresAt } = JSON.parse(opened) as { secret: string; expiresAt: number };
    if (expiresAt < now) return "expired";
    const step = await check(secret, code, now, null);
    if (step === null) return "wrong";
    await this.#repo.save(user.id, this.#box.seal(secret, sealContext(user.id)), step, now);
    return "saved";
  }

  remove(user: User): Promise<boolean> {
    return this.#repo.remove(user.id);
  }
}
