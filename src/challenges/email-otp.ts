import { mailTemplates } from "../mail/templates.ts";
import type { User } from "../store/users.ts";
import { maskAddress, type CheckResult, type EmailCodes, type SendResult } from "./email-codes.ts";
import type { Challenge, ChallengeContext, Verdict } from "./types.ts";

const purposeOf = (transactionId: string) => `login:${transactionId}`;

const messages: Record<Exclude<CheckResult, "ok">, string> = {
  wrong: "That code is not right. Check the latest email from Gatehouse and try again.",
  expired: "That code has expired. Ask for a new code.",
  none: "There is no code waiting for this sign-in. Ask for a new code.",
  "too-many-tries": "Too many wrong tries for this code. Ask for a new code.",
};

/**
 * A code sent to the user's confirmed alternate email: it proves access to a mailbox, not
 * possession of a device, so it is not multi-factor (NIST SP 800-63B restricts email OTPs).
 */
export class EmailOtpChallenge implements Challenge {
  readonly id = "email-otp" as const;
  readonly label = "A code sent to your alternate email";
  readonly multiFactor = false;
  readonly #codes: EmailCodes;

  constructor(codes: EmailCodes) {
    this.#codes = codes;
  }

  enrolled(user: User): Promise<boolean> {
    return Promise.resolve(user.altEmail !== null);
  }

  async begin(ctx: ChallengeContext) {
    let notice: string | null = null;
    const address = ctx.user.altEmail ?? "";
    if (!(await this.#codes.live(ctx.user.id, purposeOf(ctx.transactionId), ctx.now))) {
      const sent = await this.send(ctx);
      notice = sent.sent ? `We sent a code to ${maskAddress(address)}.` : `A code could not be sent yet (${sent.reason}). Use the last code we sent, or try again later.`;
    } else notice = `We sent a code to ${maskAddress(address)}.`;
    return {
      state: ctx.state,
      prompt: {
        method: this.id,
        heading: "Enter the code we emailed you",
        instructions: `Check the inbox of your alternate email for a message from Gatehouse. The code works once, for ${this.#codes.minutes} minutes.`,
        fields: [{ name: "code", label: "6-digit code", autocomplete: "one-time-code", inputmode: "numeric" as const, pattern: "[0-9 ]{6,7}", maxlength: 7 }],
        canResend: true,
        notice,
      },
    };
  }

  send(ctx: ChallengeContext): Promise<SendResult> {
    const address = ctx.user.altEmail;
    if (!address) return Promise.resolve({ sent: false, reason: "no alternate email", retryAfterMs: Infinity });
    return this.#codes.send(ctx.user.id, purposeOf(ctx.transactionId), address, ctx.ip, ctx.now, (code) => mailTemplates.signInCode(address, code, this.#codes.minutes));
  }

  async verify(ctx: ChallengeContext, form: Record<string, string>): Promise<Verdict> {
    const result = await this.#codes.check(ctx.user.id, purposeOf(ctx.transactionId), form.code ?? "", ctx.now);
    return result === "ok" ? { ok: true } : { ok: false, reason: `email code ${result}`, message: messages[result] };
  }
}
