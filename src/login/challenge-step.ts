import express, { type Request, type Response } from "express";
import { z } from "zod";
import type { AuditLog } from "../audit/audit.ts";
import { mayTrustDevice, type Challenges } from "../challenges/registry.ts";
import type { Challenge, ChallengeContext, Prompt } from "../challenges/types.ts";
import type { EmailOtpChallenge } from "../challenges/email-otp.ts";
import type { Clock } from "../clock.ts";
import { GatehouseError, catalogue } from "../errors.ts";
import { clientIp } from "../http/client-ip.ts";
import type { Csrf } from "../http/csrf.ts";
import { render } from "../http/render.ts";
import type { ChallengeState, Transaction } from "../store/transactions.ts";
import type { User, UserRepository } from "../store/users.ts";
import type { GateOutcome } from "./policy-gate.ts";
import { accountLimits, challengeKey, kbaLimits, unlessBusy, type LoginThrottle } from "./throttle.ts";
import type { TransactionService } from "./transactions.ts";

export interface ChallengeStepDeps {
  transactions: TransactionService;
  users: UserRepository;
  challenges: Challenges;
  throttle: LoginThrottle;
  audit: AuditLog;
  csrf: Csrf;
  clock: Clock;
  appName: (appId: string | null) => Promise<string | null>;
  notices: { secondStepFailed(user: User, method: string, ip: string, at: number): void };
  /** Called once a method has been passed: the login completes the sign-in. */
  passed: (req: Request, res: Response, tx: Transaction, user: User, how: { remember: boolean }) => Promise<void>;
}

/** Wrong answers per method before the transaction itself ends (SECURITY.md B.6). */
export const maxTriesPerMethodPerTransaction = 5;

const base = z.object({ tx: z.string().max(64), csrf: z.string().max(128) });
const answerForm = base.extend({
  method: z.string().max(20),
  code: z.string().max(20).optional(),
  answer0: z.string().max(400).optional(),
  answer1: z.string().max(400).optional(),
  remember: z.literal("yes").optional(),
});
const chooseForm = base.extend({ method: z.string().max(20) });

const parse = <T>(schema: z.ZodType<T>, body: unknown): T => {
  const r = schema.safeParse(body);
  if (!r.success) throw new GatehouseError("bad_request", `challenge form: ${r.error.issues.map((i) => i.path.join(".")).join(", ")}`);
  return r.data;
};

/**
 * The challenge step of a login transaction. Its state lives in the transaction, so a challenge
 * passed in one tab completes only that tab's transaction, and throttles count per user and
 * method (a new email code never resets them) and per IP.
 */
export class ChallengeStep {
  readonly #d: ChallengeStepDeps;

  constructor(deps: ChallengeStepDeps) {
    this.#d = deps;
  }

  /** Hands a transaction over to the challenge the policy asked for. */
  async open(req: Request, res: Response, tx: Transaction, user: User, outcome: Extract<GateOutcome, { kind: "challenge" }>, firstFactorNow: boolean): Promise<void> {
    const state: ChallengeState = {
      methods: outcome.methods,
      chosen: outcome.methods.length === 1 ? (outcome.methods[0] as string) : null,
      kbaSlots: null,
      rememberOffered: outcome.devices.rememberOffered,
      deviceLimit: outcome.devices.limit,
      firstFactorNow,
      tries: {},
    };
    await this.#d.transactions.openChallenge(tx, state);
    await this.#d.audit.record({ type: "challenge.started", outcome: "info", userId: user.id, username: user.username, appId: tx.appId, ip: clientIp(req), transactionId: tx.id, detail: { methods: outcome.methods, decision: outcome.reference } });
    res.redirect(303, `/login/challenge?tx=${encodeURIComponent(tx.id)}`);
  }

  router(): express.Router {
    const r = express.Router();
    r.get("/login/challenge", async (req, res) => {
      const { tx, user, state } = await this.#load(req, req.query.tx);
      // After a resend (POST, then redirect here, so a reload never mails again).
      const extra = req.query.sent === "1" ? { notice: "We sent a new code. Earlier codes no longer work." } : {};
      // "Use another way": back to the list, keeping everything else (the KBA pair stays fixed).
      await this.#show(req, res, tx, user, req.query.choose === "1" && state.methods.length > 1 ? { ...state, chosen: null } : state, extra);
    });
    r.post("/login/challenge/choose", async (req, res) => {
      const form = parse(chooseForm, req.body);
      const { tx, user, state } = await this.#load(req, form.tx);
      this.#d.csrf.check(req, "challenge", tx.id, form.csrf);
      if (!state.methods.includes(form.method)) throw new GatehouseError("bad_request", `method ${form.method} not offered`);
      const moved = await this.#d.transactions.updateChallenge(tx, { ...state, chosen: form.method });
      await this.#show(req, res, moved, user, moved.challenge ?? state, {});
    });
    r.post("/login/challenge/resend", async (req, res) => {
      const form = parse(base, req.body);
      const { tx, user, state } = await this.#load(req, form.tx);
      this.#d.csrf.check(req, "challenge", tx.id, form.csrf);
      const method = this.#d.challenges.get("email-otp") as EmailOtpChallenge | undefined;
      if (state.chosen !== "email-otp" || !method) throw new GatehouseError("bad_request", "resend without an email challenge");
      const sent = await method.send(this.#ctx(req, tx, user, state));
      const ip = clientIp(req);
      await this.#d.audit.record({ type: sent.sent ? "challenge.code_sent" : "challenge.throttled", outcome: sent.sent ? "info" : "failure", userId: user.id, username: user.username, appId: tx.appId, ip, transactionId: tx.id, reason: sent.sent ? "resend" : sent.reason });
      if (sent.sent) return res.redirect(303, `/login/challenge?tx=${encodeURIComponent(tx.id)}&sent=1`);
      if (Number.isFinite(sent.retryAfterMs)) res.set("Retry-After", String(Math.ceil(sent.retryAfterMs / 1000)));
      await this.#show(req, res, tx, user, state, { error: `No new code yet: ${sent.reason}. ${waitText(sent.retryAfterMs)} Until then, use the last code we sent.`, quiet: true }, 429);
    });
    r.post("/login/challenge", async (req, res) => {
      const form = parse(answerForm, req.body);
      const { tx, user, state } = await this.#load(req, form.tx);
      this.#d.csrf.check(req, "challenge", tx.id, form.csrf);
      await this.#verify(req, res, tx, user, state, form);
    });
    return r;
  }

  async #load(req: Request, txId: unknown): Promise<{ tx: Transaction; user: User; state: ChallengeState }> {
    const tx = await this.#d.transactions.open(req, txId);
    const user = tx.userId ? await this.#d.users.byId(tx.userId) : undefined;
    if (tx.state !== "challenging" || !tx.challenge || !user || user.status !== "active") throw new GatehouseError("transaction_not_found", `transaction in state ${tx.state}, not challenging`);
    return { tx, user, state: tx.challenge };
  }

  #ctx(req: Request, tx: Transaction, user: User, state: ChallengeState): ChallengeContext {
    return { user, transactionId: tx.id, state, ip: clientIp(req), now: this.#d.clock.now() };
  }

  /** `quiet`: the page shows only the error, not the method's own notice (such as "we sent a code"). */
  async #show(req: Request, res: Response, tx: Transaction, user: User, state: ChallengeState, extra: { error?: string; notice?: string; quiet?: boolean }, status = 200): Promise<void> {
    const common = { tx: tx.id, csrf: this.#d.csrf.token("challenge", tx.id), appName: await this.#d.appName(tx.appId) };
    if (!state.chosen) {
      const options = state.methods.flatMap((id) => {
        const m = this.#d.challenges.get(id);
        return m ? [{ id, label: m.label }] : [];
      });
      return render(res, "challenge-choose", { title: "Verify it's you", ...common, options, ...extra }, status);
    }
    const method = this.#method(state.chosen);
    const { prompt, state: next } = await method.begin(this.#ctx(req, tx, user, state));
    if (JSON.stringify(next) !== JSON.stringify(state)) await this.#d.transactions.updateChallenge(tx, next);
    this.#page(res, common, prompt, next, extra, status);
  }

  #page(res: Response, common: Record<string, unknown>, prompt: Prompt, state: ChallengeState, extra: { error?: string; notice?: string; quiet?: boolean }, status: number): void {
    const notice = extra.notice ?? (extra.quiet ? null : prompt.notice);
    render(res, "challenge", { title: prompt.heading, ...common, prompt, notice, error: extra.error, remember: state.rememberOffered && mayTrustDevice([prompt.method]), others: state.methods.length > 1 }, status);
  }

  #method(id: string): Challenge {
    const m = this.#d.challenges.get(id);
    if (!m) throw new GatehouseError("internal", `unknown challenge method ${id}`);
    return m;
  }

  /**
   * Reserve, then verify (STYLE.md 14): the transaction's try for this method, the user's
   * failure count for it and the address's budget are all taken before the answer is checked.
   * Parallel answers therefore meet the same caps as answers one after another.
   */
  async #verify(req: Request, res: Response, tx: Transaction, user: User, state: ChallengeState, form: z.infer<typeof answerForm>): Promise<void> {
    const ip = clientIp(req);
    const audit = { userId: user.id, username: user.username, appId: tx.appId, ip, transactionId: tx.id };
    if (form.method !== state.chosen) throw new GatehouseError("bad_request", `answer for ${form.method}, but ${state.chosen ?? "none"} was asked`);
    const method = this.#method(state.chosen);
    const spent = await this.#d.transactions.spendTry(tx, method.id);
    const tries = spent.challenge?.tries[method.id] ?? Infinity;
    if (tries > maxTriesPerMethodPerTransaction) {
      // The tries are used up by answers still being checked; the last of them decides whether the transaction ends.
      await this.#d.audit.record({ type: "challenge.throttled", outcome: "failure", ...audit, reason: `more than ${maxTriesPerMethodPerTransaction} answers for ${method.id} in one transaction`, detail: { method: method.id } });
      throw Object.assign(new GatehouseError("challenge_throttled", "challenge tries per transaction"), { audited: true });
    }
    const key = challengeKey(user.id, method.id);
    const verdict0 = await this.#d.throttle.reserve(key, ip, { limits: method.id === "kba" ? kbaLimits : accountLimits });
    if (!verdict0.allowed) {
      await this.#d.audit.record({ type: "challenge.throttled", outcome: "failure", ...audit, reason: verdict0.reason, detail: { method: method.id } });
      if (Number.isFinite(verdict0.retryAfterMs)) res.set("Retry-After", String(Math.ceil(verdict0.retryAfterMs / 1000)));
      return this.#show(req, res, spent, user, spent.challenge ?? state, { error: catalogue.challenge_throttled.message }, 429);
    }
    const answer: Record<string, string> = { code: form.code ?? "", answer0: form.answer0 ?? "", answer1: form.answer1 ?? "" };
    const verdict = await unlessBusy(verdict0.reservation, () => method.verify(this.#ctx(req, spent, user, spent.challenge ?? state), answer));
    if (!verdict.ok) {
      const n = await this.#d.throttle.failures(key);
      await this.#d.audit.record({ type: "challenge.failed", outcome: "failure", ...audit, reason: verdict.reason, detail: { method: method.id, consecutiveFailures: n, inTransaction: tries } });
      // Someone who knows the password is failing the next step: the owner should know (OWASP MFA cheat sheet).
      const triesInAll = Object.values(spent.challenge?.tries ?? {}).reduce((a, b) => a + b, 0);
      if (state.firstFactorNow && triesInAll === 1) this.#d.notices.secondStepFailed(user, method.label, ip, this.#d.clock.now());
      if (tries >= maxTriesPerMethodPerTransaction) return this.#endTransaction(spent, audit, method.id);
      return this.#show(req, res, spent, user, spent.challenge ?? state, { error: verdict.message }, 401);
    }
    await verdict0.reservation.succeeded();
    const passedTx = await this.#d.transactions.markPassed(spent, method.id);
    await this.#d.audit.record({ type: "challenge.passed", outcome: "success", ...audit, detail: { method: method.id, multiFactor: method.multiFactor } });
    // Whether the policy lets "remember this device" count is decided where the sign-in completes.
    await this.#d.passed(req, res, passedTx, user, { remember: form.remember === "yes" });
  }

  /** The fifth wrong answer for a method ends the transaction (SECURITY.md B.6). */
  async #endTransaction(tx: Transaction, audit: { userId: string; username: string; appId: string | null; ip: string; transactionId: string }, method: string): Promise<never> {
    const ended = await this.#d.transactions.deny(tx);
    if (ended) await this.#d.audit.record({ type: "login.throttled", outcome: "failure", ...audit, reason: `${maxTriesPerMethodPerTransaction} wrong answers for ${method} in one transaction` });
    throw Object.assign(new GatehouseError(ended ? "login_throttled" : "transaction_not_found", "challenge tries per transaction"), { audited: ended });
  }
}

/** "You can ask for another in 40 seconds." */
function waitText(ms: number): string {
  if (!Number.isFinite(ms)) return "";
  const s = Math.max(1, Math.ceil(ms / 1000));
  return s < 120 ? `You can ask for another in ${s} seconds.` : `You can ask for another in ${Math.ceil(s / 60)} minutes.`;
}
