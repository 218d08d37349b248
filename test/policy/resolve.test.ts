import { describe, expect, it } from "vitest";
import { compilePolicy, evaluate, type PolicyContext } from "../../src/policy/evaluate.ts";
import { explain } from "../../src/policy/explain.ts";
import { parsePolicy } from "../../src/policy/load.ts";
import { resolveForUser } from "../../src/policy/resolve.ts";
import type { ChallengeMethod } from "../../src/policy/schema.ts";

const policy = (options: string, fallback: string) =>
  compilePolicy(parsePolicy(`name: p\nversion: 2\noptions: ${options}\nrules:\n  - name: office\n    when: { ip: { in: [10.0.0.0/8] } }\n    then: allow\ndefault: ${fallback}\n`, "p.yaml"));
const ctx: PolicyContext = { ip: "192.0.2.1", device: { mobile: false, os: "Linux", browser: "Chrome", known: true, trusted: true, registeredCount: 1 }, user: { groups: [] }, now: 0 };
const challenge = "{ challenge: { methods: [totp, email-otp] } }";

describe("what a decision means for one user", () => {
  it.each<[string, string, string, { deviceTrusted: boolean; enrolled: ChallengeMethod[] }, string, ChallengeMethod[]]>([
    ["challenges with the methods the user has, in the policy's order", "{}", challenge, { deviceTrusted: false, enrolled: ["email-otp", "kba", "totp"] }, "challenge", ["totp", "email-otp"]],
    ["refuses a user with none of the methods (deny by default)", "{}", challenge, { deviceTrusted: false, enrolled: ["kba"] }, "deny", []],
    ["allows a user with none of the methods when the policy says so", "{}", "{ challenge: { methods: [totp], ifNoneEnrolled: allow } }", { deviceTrusted: false, enrolled: [] }, "allow", []],
    ["does not skip a challenge on a trusted device unless the policy opts in", "{}", challenge, { deviceTrusted: true, enrolled: ["totp"] }, "challenge", ["totp"]],
    ["skips a challenge on a trusted device when the policy opts in", "{ trustedDevicesSkipChallenge: true }", challenge, { deviceTrusted: true, enrolled: ["totp"] }, "allow", ["totp"]],
    ["leaves allow and deny as they are", "{}", "allow", { deviceTrusted: false, enrolled: [] }, "allow", []],
  ])("%s", (_name, options, fallback, user, effective, usable) => {
    const r = resolveForUser(evaluate(policy(options, fallback), ctx), user);
    expect(r.effective).toBe(effective);
    expect(r.usable).toEqual(usable);
  });
});

describe("explaining a decision to an admin", () => {
  it("says what decided, what the user sees and every check with what it saw", () => {
    const lines = explain(evaluate(policy("{}", challenge), ctx));
    expect(lines).toEqual([
      "Decision: CHALLENGE — no rule matched, so the default applies (policy p v2).",
      "The user must pass one of: authenticator app code, code sent to the alternate email (in this order of preference).",
      "With none of them set up: refused.",
      "Checked, in order (a rule stops at its first condition that does not hold):",
      "  fails    office: ip in [10.0.0.0/8] — saw 192.0.2.1",
    ]);
  });

  it("says in report-only mode that the sign-in goes through anyway", () => {
    const lines = explain(evaluate(policy("{}", "{ deny: { message: Nope } }"), ctx), "report-only");
    expect(lines).toContain('The user sees: "Nope"');
    expect(lines).toContain("Mode report-only: this is recorded, and the sign-in is allowed although the policy would not allow it.");
  });
});
