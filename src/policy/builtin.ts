import type { Policy } from "./schema.ts";

/**
 * The policy an app gets until an admin assigns another: the first factor alone decides. An
 * unreadable client IP is still refused, as in every policy.
 */
export const firstFactorOnly: Policy = {
  name: "first-factor-only",
  version: 1,
  description: "Built in: allows every sign-in that passed its first factor.",
  unknownIp: "deny",
  options: { trustedDevicesSkipChallenge: false },
  rules: [],
  default: "allow",
};

export const builtinPolicies: readonly Policy[] = [firstFactorOnly];
