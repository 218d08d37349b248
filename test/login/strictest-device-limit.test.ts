import { describe, expect, it } from "vitest";
import { strictestDeviceLimit } from "../../src/login/devices.ts";
import { PolicyCatalog } from "../../src/policy/catalog.ts";
import { parsePolicy } from "../../src/policy/load.ts";
import { openDb } from "../../src/store/db.ts";
import { LoginPolicyRepository } from "../../src/store/login-policies.ts";

const limited = (name: string, n: number) =>
  parsePolicy(`name: ${name}\nversion: 1\nrules:\n  - when: { device: { countExceeds: ${n} } }\n    then: { deny: { message: "Too many devices." } }\ndefault: allow\n`, `${name}.yaml`);

describe("the strictest device limit in use", () => {
  const catalog = new PolicyCatalog([limited("five", 5), limited("two", 2), limited("one", 1)].map((policy) => ({ policy, file: `${policy.name}.yaml` })));
  const setUp = () => new LoginPolicyRepository(openDb(":memory:"));

  it.each([
    ["nothing assigned (the built-in policy has no limit)", [], null],
    ["a default policy with a limit", [["default", "five"]], 5],
    ["the smallest of the default and every app's own", [["default", "five"], ["app-a", "two"], ["app-b", "five"]], 2],
    ["an app's limit, though the default has none", [["default", "first-factor-only"], ["app-a", "one"]], 1],
    ["an app in report-only mode counts too", [["app-r", "one", "report-only"]], 1],
    ["a policy that is not loaded adds none (it refuses every sign-in instead)", [["default", "gone"], ["app-a", "five"]], 5],
  ] as const)("%s", async (_name, assignments, expected) => {
    const repo = setUp();
    for (const [scope, policy, mode] of assignments as readonly (readonly [string, string, ("enforce" | "report-only")?])[]) await repo.assign(scope, policy, mode ?? "enforce", 0);
    expect(await strictestDeviceLimit(catalog, repo)).toBe(expected);
  });
});
