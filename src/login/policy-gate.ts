import type { Request } from "express";
import type { AuditLog } from "../audit/audit.ts";
import type { Clock } from "../clock.ts";
import { clientIp } from "../http/client-ip.ts";
import type { PolicyCatalog } from "../policy/catalog.ts";
import { evaluate, type Decision, type PolicyContext } from "../policy/evaluate.ts";
import { resolveForUser } from "../policy/resolve.ts";
import type { ChallengeMethod } from "../policy/schema.ts";
import type { FirstFactor, LoginPolicyRepository } from "../store/login-policies.ts";
import type { Transaction } from "../store/transactions.ts";
import type { User } from "../store/users.ts";
import { describeDevice } from "./device-context.ts";

/** What the store knows about this browser as the user's device. */
export interface DeviceFacts {
  known: boolean;
  trusted: boolean;
  registeredCount: number;
}

export interface GateDeps {
  policies: PolicyCatalog;
  loginPolicies: LoginPolicyRepository;
  audit: AuditLog;
  clock: Clock;
  deviceFacts: (req: Request, user: User) => Promise<DeviceFacts>;
  enrolledMethods: (user: User) => Promise<ChallengeMethod[]>;
}

/** What the policy implies for the device once the sign-in passes. */
export interface DevicePolicy {
  limit: number | null; // register a new device only under this many
  rememberOffered: boolean; // a passed challenge may mark the device trusted
}

export type GateOutcome =
  | { kind: "allow"; devices: DevicePolicy }
  | { kind: "deny"; message: string | null; reference: string; why: "policy" | "none-enrolled" }
  | { kind: "challenge"; methods: ChallengeMethod[]; reference: string; devices: DevicePolicy };

/**
 * How a sign-in began: a first factor checked in this transaction, or an existing SSO session,
 * which rests on the first factor it was started with (the first part of its authMethod).
 */
export type SignInEntry = { firstFactor: FirstFactor } | { firstFactor: "sso_session"; sessionAuthMethod: string };

const traceLine = (t: Decision["trace"][number]): string => `${t.rule}: ${t.condition} [saw ${t.input}] → ${t.result}`;

/**
 * Runs the app's login policy for one sign-in (after the first factor, and again for every app
 * reached through an SSO session) and records the decision with its full trace. A decision the
 * policy cannot honour for this user fails closed.
 */
export class PolicyGate {
  readonly #d: GateDeps;

  constructor(deps: GateDeps) {
    this.#d = deps;
  }

  async decide(req: Request, tx: Transaction, user: User, entry: SignInEntry): Promise<GateOutcome> {
    const loginPolicy = await this.#d.loginPolicies.forApp(tx.appId);
    const ip = clientIp(req);
    const described = describeDevice(req.get("user-agent"), req.get("sec-ch-ua-mobile"));
    const facts = await this.#d.deviceFacts(req, user);
    const base = { userId: user.id, username: user.username, appId: tx.appId, ip, transactionId: tx.id };
    // The app's allowed first factors apply to what an SSO session was started with, too.
    const restsOn = entry.firstFactor === "sso_session" ? entry.sessionAuthMethod.split("+")[0] : entry.firstFactor;
    const refuse = async (reason: string, detail: Record<string, unknown>): Promise<GateOutcome> => {
      const id = await this.#d.audit.record({ type: "policy.decided", outcome: "failure", ...base, reason, detail: { firstFactor: entry.firstFactor, loginPolicy: loginPolicy.scope, policy: loginPolicy.policyName, mode: loginPolicy.mode, action: "deny", effective: "deny", enforced: true, note: "refused whatever the mode: the login policy cannot be applied", ...detail } });
      return { kind: "deny", message: null, reference: `P-${id}`, why: "policy" };
    };
    if (!loginPolicy.firstFactors.some((f) => f === restsOn)) return refuse(`first factor ${restsOn ?? "(none)"}${entry.firstFactor === "sso_session" ? " (of the SSO session)" : ""} is not allowed for this app`, {});
    const compiled = this.#d.policies.get(loginPolicy.policyName);
    // Assignments are checked at start; a policy gone since then must not open the door.
    if (!compiled) return refuse(`policy ${loginPolicy.policyName} is not loaded`, {});

    const ctx: PolicyContext = { ip, device: { ...described, ...facts }, user: { groups: user.groups }, now: this.#d.clock.now() };
    const decision = evaluate(compiled, ctx);
    const { effective, usable, note } = resolveForUser(decision, { deviceTrusted: facts.trusted, enrolled: await this.#d.enrolledMethods(user) });
    const enforced = loginPolicy.mode === "enforce";
    const id = await this.#d.audit.record({
      type: "policy.decided",
      outcome: !enforced || effective === "allow" ? "success" : effective === "deny" ? "failure" : "info",
      ...base,
      reason: `${enforced ? "" : "report-only, would "}${effective}${effective !== decision.action ? ` (policy said ${decision.action})` : ""} by ${decision.matched}`,
      detail: {
        firstFactor: entry.firstFactor,
        loginPolicy: loginPolicy.scope,
        policy: decision.policy.name,
        version: decision.policy.version,
        mode: loginPolicy.mode,
        action: decision.action,
        effective,
        enforced,
        matched: decision.matched,
        methods: decision.methods,
        usableMethods: usable,
        note,
        device: ctx.device,
        trace: decision.trace.map(traceLine),
      },
    });
    const reference = `P-${id}`;
    const devices: DevicePolicy = { limit: compiled.deviceLimit, rememberOffered: compiled.policy.options.trustedDevicesSkipChallenge };
    if (!enforced || effective === "allow") return { kind: "allow", devices };
    if (effective === "deny") return { kind: "deny", message: decision.message, reference, why: decision.action === "challenge" ? "none-enrolled" : "policy" };
    return { kind: "challenge", methods: usable, reference, devices };
  }
}
