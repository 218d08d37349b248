import { IpSet, parseAddress, parseEntry, type Range } from "./ip.ts";
import type { Action, ChallengeMethod, Conditions, Policy } from "./schema.ts";

/** What the engine knows about one sign-in. A value it lacks is null: `missing` in the trace. */
export interface PolicyContext {
  ip: string; // normalised client IP, or "unknown"
  device: { mobile: boolean | null; os: string | null; browser: string | null; known: boolean; trusted: boolean; registeredCount: number };
  user: { groups: readonly string[] };
  now: number; // ms since the epoch
}

export type TraceResult = "pass" | "fail" | "missing";
export interface TraceEntry {
  rule: string;
  condition: string;
  input: string;
  result: TraceResult;
}

export interface Decision {
  action: "allow" | "deny" | "challenge";
  methods: ChallengeMethod[];
  ifNoneEnrolled: "deny" | "allow" | null;
  message: string | null; // shown to the user on deny
  matched: string; // rule name, "rules[i]", "default" or "unknownIp"
  trustedDevicesSkipChallenge: boolean;
  policy: { name: string; version: number };
  trace: TraceEntry[];
}

/** The context with the client address parsed once per evaluation, not once per IP condition. */
type Input = PolicyContext & { address: Range | null };
type Check = (ctx: Input) => { input: string; result: TraceResult };
interface CompiledRule {
  label: string;
  checks: { name: string; check: Check }[];
  then: Action;
}
export interface CompiledPolicy {
  policy: Policy;
  rules: CompiledRule[];
  /** The smallest N of the `countExceeds` conditions (a new device while N are registered meets the rule), or null. */
  deviceLimit: number | null;
}

const bool = (b: boolean): TraceResult => (b ? "pass" : "fail");
const weekdays = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/** Compiles a validated policy once per version: IP lists become sets with logarithmic lookup. */
export function compilePolicy(policy: Policy): CompiledPolicy {
  const lists = new Map(Object.entries(policy.ipLists ?? {}).map(([name, entries]) => [name, entries.map(parseEntry)]));
  const rules = policy.rules.map((rule, i): CompiledRule => ({ label: rule.name ?? `rules[${i}]`, checks: compileConditions(rule.when, lists), then: rule.then }));
  const limits = policy.rules.flatMap((r) => (r.when.device?.countExceeds !== undefined ? [r.when.device.countExceeds] : []));
  return { policy, rules, deviceLimit: limits.length ? Math.min(...limits) : null };
}

function compileConditions(c: Conditions, lists: Map<string, ReturnType<typeof parseEntry>[]>): CompiledRule["checks"] {
  const checks: CompiledRule["checks"] = [];
  if (c.ip) {
    const negate = "notIn" in c.ip;
    const entries = "in" in c.ip ? c.ip.in : c.ip.notIn;
    const set = new IpSet(entries.flatMap((e) => (e.startsWith("@") ? (lists.get(e.slice(1)) ?? []) : [parseEntry(e)])));
    checks.push({
      name: `ip ${negate ? "not in" : "in"} [${entries.length <= 3 ? entries.join(", ") : `${entries.slice(0, 3).join(", ")}, … ${entries.length} entries`}]`,
      check: (ctx) => {
        // A missing IP never passes, whichever way the condition is written.
        if (!ctx.address) return { input: ctx.ip, result: "missing" };
        return { input: ctx.ip, result: bool(set.has(ctx.address) !== negate) };
      },
    });
  }
  const d = c.device;
  if (d?.mobile !== undefined) {
    const want = d.mobile;
    checks.push({ name: `device mobile is ${want}`, check: (ctx) => (ctx.device.mobile === null ? { input: "unknown", result: "missing" } : { input: String(ctx.device.mobile), result: bool(ctx.device.mobile === want) }) });
  }
  for (const key of ["os", "browser"] as const) {
    const want = d?.[key]?.map((s) => s.toLowerCase());
    if (want) checks.push({ name: `device ${key} in [${want.join(", ")}]`, check: (ctx) => (ctx.device[key] === null ? { input: "unknown", result: "missing" } : { input: ctx.device[key], result: bool(want.includes((ctx.device[key]).toLowerCase())) }) });
  }
  for (const key of ["trusted", "known"] as const) {
    const want = d?.[key];
    if (want !== undefined) checks.push({ name: `device ${key} is ${want}`, check: (ctx) => ({ input: String(ctx.device[key]), result: bool(ctx.device[key] === want) }) });
  }
  if (d?.countExceeds !== undefined) {
    const n = d.countExceeds;
    // "A new device while the user already has N registered."
    checks.push({ name: `new device while ${n} or more are registered`, check: (ctx) => ({ input: `${ctx.device.known ? "known" : "new"} device, ${ctx.device.registeredCount} registered`, result: bool(!ctx.device.known && ctx.device.registeredCount >= n) }) });
  }
  if (c.user) {
    const groups = c.user.inGroup;
    checks.push({ name: `user in group [${groups.join(", ")}]`, check: (ctx) => ({ input: ctx.user.groups.join(", ") || "no groups", result: bool(ctx.user.groups.some((g) => groups.includes(g))) }) });
  }
  if (c.time) {
    const { days, hours, timeZone } = c.time;
    const fmt = new Intl.DateTimeFormat("en-US", { timeZone, weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    const [from, to] = hours ? hours.split("-") : [];
    checks.push({
      name: `time ${days ? days.join(",") : "any day"} ${hours ?? "any hour"} ${timeZone}`,
      check: (ctx) => {
        const parts = Object.fromEntries(fmt.formatToParts(ctx.now).map((p) => [p.type, p.value]));
        const day = (parts.weekday ?? "").slice(0, 3).toLowerCase();
        const hm = `${parts.hour ?? "00"}:${parts.minute ?? "00"}`;
        // A weekday the formatter did not give is missing, never a pass.
        if (!weekdays.includes(day)) return { input: `${parts.weekday ?? "no weekday"} ${hm}`, result: "missing" };
        // The window is [from, to) in wall-clock minutes. One that crosses midnight belongs to the
        // day it starts, as in cron: `fri 22:00-02:00` runs Friday 22:00 to Saturday 01:59.
        const hourOk = !from || !to || (from < to ? hm >= from && hm < to : hm >= from || hm < to);
        const startDay = from && to && from > to && hm < to ? (weekdays[(weekdays.indexOf(day) + 6) % 7] as string) : day;
        const dayOk = !days || days.includes(startDay as (typeof days)[number]);
        return { input: `${day} ${hm}${startDay !== day ? ` (the ${startDay} window)` : ""}`, result: bool(dayOk && hourOk) };
      },
    });
  }
  return checks;
}

function decide(action: Action | "deny" | { challenge: { methods: ChallengeMethod[]; ifNoneEnrolled: "deny" | "allow" } }, base: Omit<Decision, "action" | "methods" | "ifNoneEnrolled" | "message">): Decision {
  if (action === "allow") return { ...base, action: "allow", methods: [], ifNoneEnrolled: null, message: null };
  if (action === "deny") return { ...base, action: "deny", methods: [], ifNoneEnrolled: null, message: null };
  if ("deny" in action) return { ...base, action: "deny", methods: [], ifNoneEnrolled: null, message: action.deny.message };
  return { ...base, action: "challenge", methods: action.challenge.methods, ifNoneEnrolled: action.challenge.ifNoneEnrolled, message: null };
}

/** Pure: the first rule whose conditions all pass decides; otherwise the default. Every check is traced. */
export function evaluate(compiled: CompiledPolicy, ctx: PolicyContext): Decision {
  const { policy } = compiled;
  const trace: TraceEntry[] = [];
  const base = (matched: string) => ({ matched, trace, trustedDevicesSkipChallenge: policy.options.trustedDevicesSkipChallenge, policy: { name: policy.name, version: policy.version } });
  const input: Input = { ...ctx, address: parseAddress(ctx.ip) };
  if (!input.address) {
    trace.push({ rule: "unknownIp", condition: "client IP is a valid address", input: ctx.ip, result: "missing" });
    return decide(policy.unknownIp, base("unknownIp"));
  }
  for (const rule of compiled.rules) {
    let all = true;
    for (const { name, check } of rule.checks) {
      const { input: seen, result } = check(input);
      trace.push({ rule: rule.label, condition: name, input: seen, result });
      if (result !== "pass") {
        all = false;
        break; // later conditions of this rule cannot change the outcome
      }
    }
    if (all) return decide(rule.then, base(rule.label));
  }
  return decide(policy.default, base("default"));
}
