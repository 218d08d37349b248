import express, { type Request, type Response } from "express";
import { z } from "zod";
import type { AuditLog } from "../audit/audit.ts";
import type { Clock } from "../clock.ts";
import { dummyHash, verifySecret } from "../crypto/passwords.ts";
import { GatehouseError, catalogue } from "../errors.ts";
import { clientIp } from "../http/client-ip.ts";
import type { Csrf } from "../http/csrf.ts";
import { render } from "../http/render.ts";
import type { Session } from "../store/sessions.ts";
import type { Transaction } from "../store/transactions.ts";
import type { User, UserRepository } from "../store/users.ts";
import type { PolicyGate } from "./policy-gate.ts";
import type { SessionManager } from "./sessions.ts";
import { LoginThrottle } from "./throttle.ts";
import type { TransactionRequest, TransactionService } from "./transactions.ts";

/** What happens once a transaction has passed: the protocol (or the portal) takes over. */
export type OnPassed = (req: Request, res: Response, passed: { tx: Transaction; user: User; session: Session }) => Promise<void>;

export interface LoginDeps {
  transactions: TransactionService;
  sessions: SessionManager;
  users: UserRepository;
  throttle: LoginThrottle;
  gate: PolicyGate;
  audit: AuditLog;
  csrf: Csrf;
  clock: Clock;
  appName: (appId: string | null) => string | null;
  onPassed: OnPassed;
}

export const maxPasswordTriesPerTransaction = 5;

const loginForm = z.object({
  tx: z.string().max(64),
  csrf: z.string().max(128),
  username: z.string().trim().min(1).max(254),
  password: z.string().min(1).max(1024),
});

/** The protocol-agnostic login: starts transactions, shows the sign-in page, checks passwords. */
export class LoginFlow {
  readonly #d: LoginDeps;

  constructor(deps: LoginDeps) {
    this.#d = deps;
  }

  /**
   * Starts a transaction for a sign-in request. A browser with a live SSO session continues
   * without a password prompt (unless the app forces re-authentication).
   */
  async start(req: Request, res: Response, input: TransactionRequest & { forceAuthn: boolean }): Promise<void> {
    const { forceAuthn, ...request } = input;
    const ip = clientIp(req);
    const tx = this.#d.transactions.begin(req, res, request, ip);
    const current = forceAuthn ? undefined : this.#d.sessions.current(req);
    if (current) {
      this.#d.transactions.identify(tx, current.user.id);
      const identified: Transaction = { ...tx, userId: current.user.id, state: "identified" };
      // A session never carries one app's approval to another: this app's policy runs now.
      if (!this.passesPolicy(req, res, identified, current.user)) return;
      this.#d.audit.record({ type: "session.reused", outcome: "success", userId: current.user.id, username: current.user.username, appId: tx.appId, ip, transactionId: tx.id });
      await this.#d.onPassed(req, res, { tx: identified, user: current.user, session: current.session });
      return;
    }
    res.redirect(303, `/login?tx=${encodeURIComponent(tx.id)}`);
  }

  router(): express.Router {
    const r = express.Router();
    r.get("/login", async (req, res) => {
      const txId = req.query.tx;
      if (txId === undefined) {
        // Signing in to Gatehouse itself (the app launcher).
        if (this.#d.sessions.current(req)) return res.redirect(303, "/");
        return this.start(req, res, { appId: null, requestId: null, relayState: null, acsUrl: null, forceAuthn: true });
      }
      const tx = this.#d.transactions.open(req, txId);
      this.page(res, tx, {});
    });
    r.post("/login", async (req, res) => {
      const form = loginForm.safeParse(req.body);
      if (!form.success) throw new GatehouseError("bad_request", `login form: ${form.error.issues.map((i) => i.path.join(".")).join(", ")}`);
      const { username, password } = form.data;
      const tx = this.#d.transactions.open(req, form.data.tx);
      this.#d.csrf.check(req, "login", tx.id, form.data.csrf);
      await this.checkPassword(req, res, tx, username, password);
    });
    return r;
  }

  private page(res: Response, tx: Transaction, extra: { error?: string; username?: string }, status = 200): void {
    render(res, "login", { title: "Sign in", tx: tx.id, csrf: this.#d.csrf.token("login", tx.id), appName: this.#d.appName(tx.appId), ...extra }, status);
  }

  private async checkPassword(req: Request, res: Response, tx: Transaction, login: string, password: string): Promise<void> {
    const ip = clientIp(req);
    const base = { appId: tx.appId, ip, transactionId: tx.id, username: login };
    if (this.#d.transactions.countAttempt(tx) > maxPasswordTriesPerTransaction) {
      this.#d.transactions.deny(tx);
      this.#d.audit.record({ type: "login.throttled", outcome: "failure", ...base, reason: "too many password tries in one transaction" });
      throw new GatehouseError("login_throttled", "transaction attempt cap");
    }
    const key = LoginThrottle.accountKey(login);
    const verdict = await this.#d.throttle.check(key, ip);
    if (!verdict.allowed) {
      this.#d.audit.record({ type: "login.throttled", outcome: "failure", ...base, reason: verdict.reason });
      if (Number.isFinite(verdict.retryAfterMs)) res.set("Retry-After", String(Math.ceil(verdict.retryAfterMs / 1000)));
      return this.page(res, tx, { error: catalogue.login_throttled.message, username: login }, 429);
    }
    const user = this.#d.users.byLogin(login);
    // Same work whether or not the user exists: no enumeration by timing.
    const matches = await verifySecret(password, user?.passwordHash ?? (await dummyHash()));
    const failure = !user ? "unknown user" : !user.passwordHash ? "no password set" : !matches ? "wrong password" : user.status !== "active" ? "account disabled" : null;
    if (failure || !user) {
      const n = await this.#d.throttle.failed(key, ip);
      this.#d.audit.record({ type: "login.password.failed", outcome: "failure", ...base, userId: user?.id ?? null, reason: failure, detail: { consecutiveFailures: n } });
      return this.page(res, tx, { error: catalogue.login_failed.message, username: login }, 401);
    }
    this.#d.throttle.succeeded(key);
    this.#d.transactions.identify(tx, user.id);
    this.#d.audit.record({ type: "login.password.succeeded", outcome: "success", ...base, userId: user.id, username: user.username });
    const identified: Transaction = { ...tx, userId: user.id, state: "identified" };
    // No SSO session until the policy lets this sign-in through.
    if (!this.passesPolicy(req, res, identified, user)) return;
    const now = this.#d.clock.now();
    const session = this.#d.sessions.start(res, user.id, "password", now);
    this.#d.audit.record({ type: "session.started", outcome: "success", ...base, userId: user.id, username: user.username, detail: { authMethod: "password" } });
    await this.#d.onPassed(req, res, { tx: identified, user, session });
  }

  /**
   * The login policy's decision for this sign-in. On anything but allow the transaction ends
   * here with a page that says what the user can do, never which rule refused them.
   */
  private passesPolicy(req: Request, res: Response, tx: Transaction, user: User): boolean {
    const outcome = this.#d.gate.decide(req, tx, user, "password");
    if (outcome.kind === "allow") return true;
    this.#d.transactions.deny(tx);
    const appName = this.#d.appName(tx.appId);
    if (outcome.kind === "deny" && outcome.why === "none-enrolled") {
      this.refusal(res, { message: "This sign-in needs an extra verification step, and your account has no verification method set up yet.", hint: "Ask your administrator to help you set one up, then try again.", reference: outcome.reference, appName });
    } else if (outcome.kind === "deny") {
      this.refusal(res, { message: outcome.message ?? "Your organisation's sign-in policy does not allow this sign-in.", hint: "If you think this is wrong, contact your administrator and quote the reference below.", reference: outcome.reference, appName });
    } else {
      // The challenge step arrives with the challenge methods; until then a challenge never becomes allow.
      this.refusal(res, { message: "This sign-in needs an extra verification step that Gatehouse cannot offer yet.", hint: "Contact your administrator and quote the reference below.", reference: outcome.reference, appName });
    }
    return false;
  }

  private refusal(res: Response, p: { message: string; hint: string; reference: string; appName: string | null }): void {
    render(res, "denied", { title: "Sign-in refused", ...p }, 403);
  }
}
