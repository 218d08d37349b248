import type { Db } from "./db.ts";

export const firstFactors = ["password"] as const; // upstream IdPs join this list
export type FirstFactor = (typeof firstFactors)[number];
export type PolicyMode = "enforce" | "report-only";

export interface LoginPolicy {
  scope: string; // "default", an app ID, or "built-in" when nothing is assigned
  policyName: string;
  mode: PolicyMode;
  firstFactors: FirstFactor[];
  updatedAt: number | null;
}

interface Row {
  scope: string;
  policy_name: string;
  mode: PolicyMode;
  first_factors_json: string;
  updated_at: number;
}

const toLoginPolicy = (r: Row): LoginPolicy => ({
  scope: r.scope,
  policyName: r.policy_name,
  mode: r.mode,
  firstFactors: JSON.parse(r.first_factors_json) as FirstFactor[],
  updatedAt: r.updated_at,
});

/** What applies when no one has assigned anything: the first factor alone decides. */
export const builtinLoginPolicy: LoginPolicy = { scope: "built-in", policyName: "first-factor-only", mode: "enforce", firstFactors: ["password"], updatedAt: null };

export class LoginPolicyRepository {
  readonly #byScope;
  readonly #upsert;
  readonly #all;

  constructor(db: Db) {
    this.#byScope = db.prepare<[string], Row>("SELECT * FROM login_policies WHERE scope = ?");
    this.#upsert = db.prepare(
      `INSERT INTO login_policies (scope, policy_name, mode, first_factors_json, updated_at) VALUES (@scope, @policyName, @mode, @firstFactors, @now)
       ON CONFLICT (scope) DO UPDATE SET policy_name = @policyName, mode = @mode, first_factors_json = @firstFactors, updated_at = @now`,
    );
    this.#all = db.prepare<[], Row>("SELECT * FROM login_policies ORDER BY scope = 'default' DESC, scope");
  }

  /** The app's own login policy, else the default, else the built-in one. A null app is Gatehouse itself. */
  async forApp(appId: string | null): Promise<LoginPolicy> {
    const own = appId ? this.#byScope.get(appId) : undefined;
    const row = own ?? this.#byScope.get("default");
    return row ? toLoginPolicy(row) : builtinLoginPolicy;
  }

  async assign(scope: string, policyName: string, mode: PolicyMode, now: number, factors: readonly FirstFactor[] = ["password"]): Promise<LoginPolicy> {
    this.#upsert.run({ scope, policyName, mode, firstFactors: JSON.stringify(factors), now });
    return toLoginPolicy(this.#byScope.get(scope) as Row);
  }

  async list(): Promise<LoginPolicy[]> {
    return this.#all.all().map(toLoginPolicy);
  }
}
