import type { Decision, TraceResult } from "./evaluate.ts";

const methodNames = { totp: "authenticator app code", kba: "security questions", "email-otp": "code sent to the alternate email" } as const;
const mark: Record<TraceResult, string> = { pass: "holds  ", fail: "fails  ", missing: "missing" };

/** The decision and its trace in words an admin reads: what was checked, with what, and why it ended so. */
export function explain(d: Decision, mode: "enforce" | "report-only" = "enforce"): string[] {
  const where = d.matched === "default" ? "no rule matched, so the default applies" : d.matched === "unknownIp" ? "the client IP could not be read, so `unknownIp` applies" : `rule "${d.matched}" matched`;
  const lines = [`Decision: ${d.action.toUpperCase()} — ${where} (policy ${d.policy.name} v${d.policy.version}).`];
  if (d.action === "deny") lines.push(d.message ? `The user sees: "${d.message}"` : "The user sees the standard refusal page.");
  if (d.action === "challenge") {
    lines.push(`The user must pass one of: ${d.methods.map((m) => methodNames[m]).join(", ")} (in this order of preference).`);
    lines.push(`With none of them set up: ${d.ifNoneEnrolled === "allow" ? "allowed without a challenge" : "refused"}.`);
    if (d.trustedDevicesSkipChallenge) lines.push("A trusted device skips the challenge (single-factor: the policy opted in).");
  }
  if (mode === "report-only") lines.push(`Mode report-only: this is recorded, and the sign-in is allowed${d.action === "allow" ? "" : " although the policy would not allow it"}.`);
  lines.push("Checked, in order (a rule stops at its first condition that does not hold):");
  if (d.trace.length === 0) lines.push("  (no conditions)");
  for (const t of d.trace) lines.push(`  ${mark[t.result]}  ${t.rule}: ${t.condition} — saw ${t.input}`);
  return lines;
}
