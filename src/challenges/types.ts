import type { ChallengeState } from "../store/transactions.ts";
import type { User } from "../store/users.ts";

export type MethodId = "totp" | "kba" | "email-otp";

/** What a method needs to know about the sign-in it is part of. */
export interface ChallengeContext {
  user: User;
  transactionId: string;
  state: ChallengeState;
  ip: string;
  now: number;
}

/** What the method's page shows: a prompt and its fields, never a secret. */
export interface Prompt {
  method: MethodId;
  heading: string;
  instructions: string;
  fields: { name: string; label: string; autocomplete?: string; inputmode?: "numeric" | "text"; pattern?: string; maxlength: number }[];
  canResend: boolean;
  notice: string | null;
}

export type Verdict = { ok: true } | { ok: false; reason: string; message: string };

/**
 * One interface per method (STYLE.md 9): whether the user has it, what the page asks (starting
 * whatever the method needs, like sending a code), and checking the answer. Throttling and the
 * audit happen around it, in one place for all methods.
 */
export interface Challenge {
  readonly id: MethodId;
  readonly label: string; // for users: what they will be asked for
  /** Only a real second factor (something you have) counts as multi-factor (NIST SP 800-63B). */
  readonly multiFactor: boolean;
  enrolled(user: User): Promise<boolean>;
  /** The prompt; may update the transaction's challenge state (returned) and send mail. */
  begin(ctx: ChallengeContext): Promise<{ prompt: Prompt; state: ChallengeState }>;
  verify(ctx: ChallengeContext, form: Record<string, string>): Promise<Verdict>;
}
