import express, { type Request, type Response } from "express";
import { z } from "zod";
import type { AuditLog } from "../audit/audit.ts";
import { mayTrustDevice, type Challenges } from "../challenges/registry.ts";
import type { Clock } from "../clock.ts";
import { dummyHash, verifySecret } from "../crypto/passwords.ts";
import { GatehouseError, catalogue } from "../errors.ts";
import { clientIp } from "../http/client-ip.ts";
import type { Csrf } from "../http/csrf.ts";
import { render } from "../http/render.ts";
import type { Session } from "../store/sessions.ts";
import type { Transaction } from "../store/transactions.ts";
import type { User, UserRepository } from "../store/users.ts";
import type { ChallengeStep } from "./challenge-step.ts";
import type { DeviceService } from "./devices.ts";
import type { DevicePolicy, GateOutcome, PolicyGate, SignInEntry } from "./policy-gate.ts";
import type { SessionManager } from "./sessions.ts";
import { accountKey, unlessBusy, type LoginThrottle } from "./throttle.ts";
import type { TransactionRequest, TransactionService } from "./transactions.ts";

/**
 * What happens once a transaction has passed: the protocol (or the portal) takes over.
 * `multiFactor` is true only when a real second factor was passed in this sign-in.
 */
export type OnPassed = (req: Request, res: Response, passed: { tx: Transaction; user: User; session: Session; multiFactor: boolean }) => Promise<void>;

export interface LoginDeps {
  transactions: TransactionService;
  sessions: SessionManager;
  users: UserRepository;
  throttle: LoginThrottle;
  gate: PolicyGate;
  challenges: Challenges;
  devices: DeviceService;
  audit: AuditLog;
  csrf: Csrf;
  clock: Clock;
  appName: (appId: string | null) => Promise<string | null>;
  onPassed: OnPassed;
}

export const maxPasswordTriesPerTransaction = 5;

const lockedMessage = "This account is locked after too many failed sign-ins. Ask your administrator to unlock it.";

const loginForm = z.object({
  tx: z.string().max(64),
  csrf: z.string().max(128),
  username: z.string().trim().min(1).max(254),
  password: z.string().min(1).max(1024),
});

/** The protocol-agnostic login: starts transactions, checks passwords, applies the policy, completes. */
export class LoginFlow {
  readonly #d: LoginDeps;
  #challenge: ChallengeStep | undefined;

  constructor(deps: LoginDeps) {
    this.#d = deps;
  }

  /** The challenge step, which calls back into `completeChallenge`. */
  attach(step: ChallengeStep): void {
    this.#challenge = step;
  }

  /**
   * Starts a transaction for a sign-in request. A browser with a live SSO session continues
   * without a password prompt (unless the app forces re-authentication), but never without the
   * app's own policy.
   */
  async start(req: Request, res: Response, input: TransactionRequest & { forceAuthn: boolean }): Promise<void> {
    const { forceAuthn, ...request } = input;
    const ip = clientIp(req);
    const tx = await this.#d.transactions.begin(req, res, request, ip);
    const current = forceAuthn ? undefined : await this.#d.sessions.current(req);
    if (current) {
      const identified = await this.#d.transactions.identify(tx, current.user.id);
      // A session never carries one app's approval to another: this app's policy runs now.
      await this.#decide(req, res, identified, current.user, { firstFactor: "sso_session", sessionAuthMethod: current.session.authMethod });
      return;
    }
    res.redirect(303, `/login?tx=${encodeURIComponent(tx.id)}`);
  }

  router(): express.Router {
    const r = express.Router();
    r.get("/login", async (req, res) => {
      const txId = req.query.tx;
      if (txId === undefined) {
        // Signing in to Gatehouse itself (the app launcher, the account console).
        const returnTo = typeof req.query.return === "string" && /^\/account(\/[a-z-]*)?$/.test(req.query.return) ? req.query.return : null;
        const stepUp = req.query.reauth !== undefined;
        if ((await this.#d.sessions.current(req)) && !stepUp) return res.redirect(303, returnTo ?? "/");
        return this.start(req, res, { appId: null, requestId: null, relayState: returnTo, acsUrl: null, forceAuthn: true, stepUp });
      }
      const tx = await this.#d.transactions.open(req, txId);
      if (tx.state === "challenging") return res.redirect(303, `/login/challenge?tx=${encodeURIComponent(tx.id)}`);
      // A re-authentication says why it is asked, and for whom.
      const reauth = tx.stepUp ? await this.#d.sessions.current(req) : undefined;
      await this.page(res, tx, reauth ? { username: reauth.user.username, notice: "Before you change how you sign in, confirm it's you. Sign in again; you may also be asked for your strongest verification method." } : {});
    });
    r.post("/login", async (req, res) => {
      const form = loginForm.safeParse(req.body);
      if (!form.success) throw new GatehouseError("bad_request", `login form: ${form.error.issues.map((i) => i.path.join(".")).join(", ")}`);
      const { username, password } = form.data;
      const tx = await this.#d.transactions.open(req, form.data.tx);
      this.#d.csrf.check(req, "login", tx.id, form.data.csrf);
      if (tx.state !== "started") throw new GatehouseError("transaction_not_found", `password form in state ${tx.state}`);
      await this.checkPassword(req, res, tx, username, password);
    });
    return r;
  }

  private async page(res: Response, tx: Transaction, extra: { error?: string; notice?: string; username?: string }, status = 200): Promise<void> {
    const appName = await this.#d.appName(tx.appId);
    render(res, "login", { title: "Sign in", tx: tx.id, csrf: this.#d.csrf.token("login", tx.id), appName, ...extra }, status);
  }

  /**
   * Reserve, then verify (STYLE.md 14): the transaction's try and every throttle are taken
   * before the hash runs; a right password gives the throttles back. Failures count against
   * the user the login names, whichever spelling (username or email) was typed.
   */
  private async checkPassword(req: Request, res: Response, tx: Transaction, login: string, password: string): Promise<void> {
    const ip = clientIp(req);
    const base = { appId: tx.appId, ip, transactionId: tx.id, username: login };
    const attempts = await this.#d.transactions.countAttempt(tx);
    if (attempts === 0) throw new GatehouseError("transaction_not_found", "password form after the transaction moved on");
    if (attempts > maxPasswordTriesPerTransaction) {
      await this.#d.transactions.deny(tx);
      await this.#d.audit.record({ type: "login.throttled", outcome: "failure", ...base, reason: "too many password tries in one transaction" });
      throw Object.assign(new GatehouseError("login_throttled", "transaction attempt cap"), { audited: true });
    }
    const user = await this.#d.users.byLogin(login);
    const account = accountKey(login, user?.id ?? null);
    const verdict = await this.#d.throttle.reserve(account, ip, { knownContext: user ? await this.#knownContext(req, user, ip) : false });
    if (!verdict.allowed) {
      await this.#d.audit.record({ type: "login.throttled", outcome: "failure", ...base, userId: user?.id ?? null, reason: verdict.reason });
      if (Number.isFinite(verdict.retryAfterMs)) res.set("Retry-After", String(Math.ceil(verdict.retryAfterMs / 1000)));
      return this.page(res, tx, { error: verdict.hardStop ? lockedMessage : catalogue.login_throttled.message, username: login }, 429);
    }
    // Same work whether or not the user exists: no enumeration by timing.
    const matches = await unlessBusy(verdict.reservation, async () => verifySecret(password, user?.passwordHash ?? (await dummyHash())));
    const failure = !user ? "unknown user" : !user.passwordHash ? "no password set" : !matches ? "wrong password" : user.status !== "active" ? "account disabled" : null;
    if (failure || !user) {
      await this.#d.audit.record({ type: "login.password.failed", outcome: "failure", ...base, userId: user?.id ?? null, reason: failure, detail: { consecutiveFailures: await this.#d.throttle.failures(account) } });
      return this.page(res, tx, { error: catalogue.login_failed.message, username: login }, 401);
    }
    await verdict.reservation.succeeded();
    const identified = await this.#d.transactions.identify(tx, user.id);
    await this.#d.audit.record({ type: "login.password.succeeded", outcome: "success", ...base, userId: user.id, username: user.username });
    // No SSO session until the policy (and any challenge) lets this sign-in through.
    await this.#decide(req, res, identified, user, { firstFactor: "password" });
  }

  /** A browser that is one of the user's devices, or an address the user signed in from before. */
  async #knownContext(req: Request, user: User, ip: string): Promise<boolean> {
    return (await this.#d.devices.recognise(req, user)) !== null || (await this.#d.audit.signedInFrom(user.id, ip));
  }

  /** The login policy's decision, and what follows from it. */
  async #decide(req: Request, res: Response, tx: Transaction, user: User, entry: SignInEntry): Promise<void> {
    const firstFactorNow = entry.firstFactor !== "sso_session";
    let outcome = await this.#d.gate.decide(req, tx, user, entry);
    // A re-authentication before a sensitive change asks for the account's strongest factor
    // (authenticator app > email code > security questions), whatever the policy would skip, a
    // trusted device included: SECURITY.md B.7.
    const strongest = tx.stepUp ? await this.#d.challenges.strongest(user) : null;
    if (strongest && outcome.kind !== "deny") {
      outcome = { kind: "challenge", methods: [strongest], reference: outcome.kind === "challenge" ? outcome.reference : "step-up", devices: { limit: outcome.devices.limit, rememberOffered: false } };
    }
    if (outcome.kind === "allow") return this.#complete(req, res, tx, user, { firstFactorNow, devices: outcome.devices, trust: false });
    if (outcome.kind === "challenge") {
      if (!this.#challenge) throw new GatehouseError("internal", "no challenge step attached");
      return this.#challenge.open(req, res, tx, user, outcome, firstFactorNow);
    }
    await this.#refuse(res, tx, outcome);
  }

  /** The challenge step's way back: a method was passed. */
  async completeChallenge(req: Request, res: Response, tx: Transaction, user: User, how: { remember: boolean }): Promise<void> {
    const state = tx.challenge;
    if (!state) throw new GatehouseError("transaction_not_found", "no challenge on this transaction");
    // Security questions alone never make a device trusted (SECURITY.md B.2.3).
    const trust = how.remember && state.rememberOffered && mayTrustDevice(tx.passed);
    await this.#complete(req, res, tx, user, { firstFactorNow: state.firstFactorNow, devices: { limit: state.deviceLimit, rememberOffered: state.rememberOffered }, trust });
  }

  /**
   * The sign-in has passed: a fresh SSO session when the password was checked in this
   * transaction, the device registered or recognised, then the protocol takes over.
   */
  async #complete(req: Request, res: Response, tx: Transaction, user: User, o: { firstFactorNow: boolean; devices: DevicePolicy; trust: boolean }): Promise<void> {
    const ip = clientIp(req);
    const base = { appId: tx.appId, ip, transactionId: tx.id, userId: user.id, username: user.username };
    const current = await this.#d.sessions.current(req);
    let session: Session;
    if (!o.firstFactorNow && (!current || current.user.id !== user.id)) {
      // The session this sign-in relied on ended meanwhile (signed out in another tab): a
      // challenge alone never stands in for the password.
      await this.#d.transactions.deny(tx);
      throw new GatehouseError("not_signed_in", "SSO session ended during the challenge");
    }
    // From here on the stored row decides: a parallel request that passed first wins, this one throws.
    const passed = await this.#d.transactions.pass(tx);
    const multiFactor = passed.passed.some((m) => this.#d.challenges.get(m)?.multiFactor === true);
    if (!o.firstFactorNow && current) {
      session = current.session;
      await this.#d.audit.record({ type: "session.reused", outcome: "success", ...base });
    } else {
      const authMethod = ["password", ...passed.passed].join("+");
      session = await this.#d.sessions.start(res, user.id, authMethod, this.#d.clock.now());
      await this.#d.audit.record({ type: "session.started", outcome: "success", ...base, detail: { authMethod, multiFactor } });
    }
    // Devices are counted when someone actually proved something in this transaction.
    if (o.firstFactorNow || passed.passed.length > 0) await this.#d.devices.afterSignIn(req, res, user, { limit: o.devices.limit, trust: o.trust, transactionId: tx.id });
    await this.#d.onPassed(req, res, { tx: passed, user, session, multiFactor });
  }

  /** On a refusal the transaction ends here, on a page that says what the user can do, never which rule refused them. */
  async #refuse(res: Response, tx: Transaction, outcome: Extract<GateOutcome, { kind: "deny" }>): Promise<void> {
    await this.#d.transactions.deny(tx);
    const appName = await this.#d.appName(tx.appId);
    const p =
      outcome.why === "none-enrolled"
        ? { message: "This sign-in needs an extra verification step, and your account has no verification method set up yet.", hint: "Sign in to your account page (/account) from a place where this is allowed and set one up, or ask your administrator for help." }
        : { message: outcome.message ?? "Your organisation's sign-in policy does not allow this sign-in.", hint: "If you think this is wrong, contact your administrator and quote the reference below." };
    render(res, "denied", { title: "Sign-in refused", ...p, reference: outcome.reference, appName }, 403);
  }
}
