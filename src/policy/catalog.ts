import { builtinPolicies } from "./builtin.ts";
import { compilePolicy, type CompiledPolicy } from "./evaluate.ts";
import type { Policy } from "./schema.ts";

/** The policies a running Gatehouse knows, compiled once: built-ins and the loaded files. */
export class PolicyCatalog {
  readonly #byName = new Map<string, { compiled: CompiledPolicy; source: string }>();

  constructor(loaded: readonly { policy: Policy; file: string }[]) {
    for (const policy of builtinPolicies) this.#byName.set(policy.name, { compiled: compilePolicy(policy), source: "built in" });
    for (const { policy, file } of loaded) this.#byName.set(policy.name, { compiled: compilePolicy(policy), source: file });
  }

  get(name: string): CompiledPolicy | undefined {
    return this.#byName.get(name)?.compiled;
  }

  has(name: string): boolean {
    return this.#byName.has(name);
  }

  list(): { name: string; version: number; description: string | undefined; source: string }[] {
    return [...this.#byName.values()].map(({ compiled: { policy }, source }) => ({ name: policy.name, version: policy.version, description: policy.description, source }));
  }
}
