import type { Decision } from "./evaluate.ts";
import type { ChallengeMethod } from "./schema.ts";

export interface Resolution {
  effective: "allow" | "deny" | "challenge";
  usable: ChallengeMethod[]; // the decision's methods this user has, in the policy's order
  note: string | null;
}

/**
 * What a decision means for one user: a challenge may be skipped on a trusted device (when the
 * policy opts in) or, when the user has none of its methods, settled by `ifNoneEnrolled`.
 */
export function resolveForUser(decision: Decision, user: { deviceTrusted: boolean; enrolled: readonly ChallengeMethod[] }): Resolution {
  const usable = decision.methods.filter((m) => user.enrolled.includes(m));
  if (decision.action !== "challenge") return { effective: decision.action, usable, note: null };
  if (decision.trustedDevicesSkipChallenge && user.deviceTrusted) return { effective: "allow", usable, note: "challenge skipped: trusted device (policy option)" };
  if (usable.length === 0) {
    const effective = decision.ifNoneEnrolled === "allow" ? "allow" : "deny";
    return { effective, usable, note: `no challenge method enrolled (needs one of ${decision.methods.join(", ")}); ifNoneEnrolled: ${decision.ifNoneEnrolled ?? "deny"}` };
  }
  return { effective: "challenge", usable, note: null };
}
