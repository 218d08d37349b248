import { normaliseIp } from "../http/client-ip.ts";
import { describeDevice } from "../login/device-context.ts";
import { evaluate, type PolicyContext } from "../policy/evaluate.ts";
import { explain } from "../policy/explain.ts";
import { displayPath, loadPolicyFiles, PolicyLoadError } from "../policy/load.ts";
import { resolveForUser } from "../policy/resolve.ts";
import type { Runtime } from "../runtime.ts";
import { buildChallenges } from "../challenges/build.ts";
import { UsageError } from "./apps.ts";
import { parseCommand, withRuntime } from "./args.ts";
import type { Config } from "../config.ts";
import { policyFilesIn } from "../policy/load.ts";

/** `policy check`: every error of every file, then a non-zero exit if there was one. */
export function checkPolicies(files: string[]): { ok: boolean; lines: string[] } {
  if (files.length === 0) return { ok: true, lines: ["No policy files to check."] };
  try {
    const loaded = loadPolicyFiles(files.map(displayPath));
    return { ok: true, lines: loaded.map(({ policy, file }) => `ok  ${file}: ${policy.name} v${policy.version}, ${policy.rules.length} rule${policy.rules.length === 1 ? "" : "s"}`) };
  } catch (e) {
    if (!(e instanceof PolicyLoadError)) throw e;
    const files = new Set(e.errors.map((x) => x.file)).size;
    return { ok: false, lines: [...e.message.split("\n"), `${e.errors.length} error${e.errors.length === 1 ? "" : "s"} in ${files} file${files === 1 ? "" : "s"}`] };
  }
}

const scopeOf = async (rt: Runtime, app: string): Promise<string> => {
  if (app === "default") return "default";
  if (!(await rt.apps.byId(app))) throw new UsageError(`no app with ID ${app} (see: app list), or give --app default`);
  return app;
};

export async function assignPolicy(rt: Runtime, o: { app: string; policy: string; mode: string }): Promise<string[]> {
  if (o.mode !== "enforce" && o.mode !== "report-only") throw new UsageError("--mode is enforce or report-only");
  const scope = await scopeOf(rt, o.app);
  if (!rt.policies.has(o.policy)) throw new UsageError(`no policy named ${o.policy}; loaded: ${rt.policies.list().map((p) => p.name).join(", ")}`);
  const lp = await rt.loginPolicies.assign(scope, o.policy, o.mode, rt.clock.now());
  await rt.audit.record({ type: "policy.assigned", outcome: "success", appId: scope === "default" ? null : scope, reason: "cli", detail: { scope, policy: lp.policyName, mode: lp.mode } });
  return [`${scope === "default" ? "Default login policy" : `Login policy of ${(await rt.apps.byId(scope))?.name ?? scope} (${scope})`}: ${lp.policyName}, ${lp.mode}.`];
}

export async function listPolicies(rt: Runtime): Promise<string[]> {
  const lines = ["Policies:"];
  // Sources are already shown as loaded (relative to the working directory when below it).
  for (const p of rt.policies.list()) lines.push(`  ${p.name} v${p.version}  (${p.source})${p.description ? `  ${p.description}` : ""}`);
  lines.push("Login policies:");
  const def = await rt.loginPolicies.forApp(null);
  lines.push(`  default: ${def.policyName}, ${def.mode}${def.scope === "built-in" ? " (built in; none assigned)" : ""}`);
  for (const a of (await rt.loginPolicies.list()).filter((x) => x.scope !== "default")) lines.push(`  ${(await rt.apps.byId(a.scope))?.name ?? "?"} (${a.scope}): ${a.policyName}, ${a.mode}`);
  return lines;
}

export interface SimulateOptions {
  app: string;
  user: string;
  ip: string;
  userAgent?: string;
  device?: string;
  devices?: string;
  at?: string;
}

/** `policy simulate`: the what-if tool — the decision a sign-in would get, and why. Records nothing. */
export async function simulate(rt: Runtime, o: SimulateOptions): Promise<string[]> {
  const appId = o.app === "default" ? null : o.app;
  if (appId && !(await rt.apps.byId(appId))) throw new UsageError(`no app with ID ${appId} (see: app list)`);
  const user = await rt.users.byLogin(o.user);
  if (!user) throw new UsageError(`no user ${o.user} (see: user list)`);
  const device = o.device ?? "new";
  if (!["new", "known", "trusted"].includes(device)) throw new UsageError("--device is new, known or trusted");
  const count = o.devices === undefined ? 0 : Number(o.devices);
  if (!Number.isInteger(count) || count < 0 || count > 1000) throw new UsageError("--devices is a whole number from 0 to 1000");
  const now = o.at === undefined ? rt.clock.now() : Date.parse(o.at);
  if (Number.isNaN(now)) throw new UsageError("--at is an ISO date and time, e.g. 2026-11-23T09:30:00Z");
  const ip = normaliseIp(o.ip);
  const lp = await rt.loginPolicies.forApp(appId);
  const compiled = rt.policies.get(lp.policyName);
  if (!compiled) throw new UsageError(`the login policy names ${lp.policyName}, which is not loaded: every sign-in would be refused`);
  const described = describeDevice(o.userAgent, undefined);
  const ctx: PolicyContext = {
    ip,
    device: { ...described, known: device !== "new", trusted: device === "trusted", registeredCount: count },
    user: { groups: user.groups },
    now,
  };
  const decision = evaluate(compiled, ctx);
  const lines = [
    `Login policy: ${lp.scope === "built-in" ? "built in (nothing assigned)" : lp.scope === "default" ? "the default" : `the app's own`} — ${lp.policyName}, ${lp.mode}.`,
    `Context: user ${user.username} (groups: ${user.groups.join(", ") || "none"}), IP ${ip}${ip === "unknown" ? ` (could not read "${o.ip}")` : ""}, ${device} device with ${count} registered, browser ${described.browser ?? "unknown"}, OS ${described.os ?? "unknown"}, mobile ${described.mobile ?? "unknown"}, at ${new Date(now).toISOString()}.`,
    ...explain(decision, lp.mode),
  ];
  if (decision.action === "challenge") {
    const { challenges } = buildChallenges({ config: rt.config, totp: rt.totp, kba: rt.kba, emailCodes: rt.emailCodes, mailer: rt.mailer, serverSecret: rt.keys.derived.emailCodes, factorKey: rt.keys.factorKey });
    const enrolled = await challenges.enrolled(user);
    const r = resolveForUser(decision, { deviceTrusted: device === "trusted", enrolled });
    lines.push(`${user.username} has set up: ${enrolled.join(", ") || "nothing"}.`);
    lines.push(`For ${user.username}: ${r.effective.toUpperCase()}${r.effective === "challenge" ? ` with ${r.usable.join(" or ")}` : ""}${r.note ? ` — ${r.note}` : ""}.`);
  }
  return lines;
}

export const policyHelp = {
  check: `Usage: node src/main.ts policy check [FILE ...]

Validates policy files (default: every *.yaml in GATEHOUSE_POLICIES_DIR, ./policies) and prints
each problem as FILE: PATH: REASON. Exits 1 when there is one.`,
  list: `Usage: node src/main.ts policy list

The loaded policies and which login policy each app has.`,
  assign: `Usage: node src/main.ts policy assign --app ID|default --policy NAME [--mode enforce|report-only]

Sets an app's login policy (or the default, for apps without their own and for Gatehouse's own
pages). report-only evaluates and records what would have happened, then allows. Default: enforce.`,
  simulate: `Usage: node src/main.ts policy simulate --app ID|default --user NAME --ip ADDR [--user-agent UA]
                                 [--device new|known|trusted] [--devices N] [--at ISO-TIME]

What-if: the decision the app's login policy would give this sign-in, with every check it made.
--devices is how many devices the user already has registered. Nothing is recorded.`,
} as const;

/** `policy check|list|assign|simulate`. */
export async function policyCommand(config: Config, sub: string | undefined, args: string[]): Promise<void> {
  if (sub === "check") {
    const { positionals } = parseCommand(args, {}, policyHelp.check);
    const result = checkPolicies(positionals.length ? positionals : policyFilesIn(config.policiesDir));
    for (const line of result.lines) (result.ok ? console.log : console.error)(line);
    if (!result.ok) process.exitCode = 1;
    return;
  }
  if (sub === "list") {
    parseCommand(args, {}, policyHelp.list);
    await withRuntime(config, async (rt) => console.log((await listPolicies(rt)).join("\n")));
    return;
  }
  if (sub === "assign") {
    const { values, positionals } = parseCommand(args, { app: { type: "string" }, policy: { type: "string" }, mode: { type: "string" } }, policyHelp.assign);
    if (positionals.length || !values.app || !values.policy) throw new UsageError(`--app and --policy are required\n\n${policyHelp.assign}`);
    await withRuntime(config, async (rt) => console.log((await assignPolicy(rt, { app: values.app as string, policy: values.policy as string, mode: (values.mode as string | undefined) ?? "enforce" })).join("\n")));
    return;
  }
  if (sub === "simulate") {
    const { values, positionals } = parseCommand(
      args,
      { app: { type: "string" }, user: { type: "string" }, ip: { type: "string" }, "user-agent": { type: "string" }, device: { type: "string" }, devices: { type: "string" }, at: { type: "string" } },
      policyHelp.simulate,
    );
    if (positionals.length || !values.app || !values.user || !values.ip) throw new UsageError(`--app, --user and --ip are required\n\n${policyHelp.simulate}`);
    const v = values as Record<string, string | undefined>;
    await withRuntime(config, async (rt) =>
      console.log((await simulate(rt, { app: v.app as string, user: v.user as string, ip: v.ip as string, userAgent: v["user-agent"], device: v.device, devices: v.devices, at: v.at })).join("\n")),
    );
    return;
  }
  throw new UsageError(`unknown policy command ${sub ?? "(none)"}: use check, list, assign or simulate`);
}
