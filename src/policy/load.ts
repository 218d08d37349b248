import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { parse } from "yaml";
import { builtinPolicies } from "./builtin.ts";
import { formatPath, policySchema, type Policy } from "./schema.ts";

export interface PolicyError {
  file: string;
  path: string;
  message: string;
}

export class PolicyLoadError extends Error {
  readonly errors: PolicyError[];
  constructor(errors: PolicyError[]) {
    super(errors.map((e) => `${e.file}: ${e.path ? `${e.path}: ` : ""}${e.message}`).join("\n"));
    this.errors = errors;
  }
}

const maxPolicyBytes = 8 * 1024 * 1024;

/** Parses and validates one policy document; every problem is reported with its path. */
export function parsePolicy(text: string, file: string): Policy {
  if (text.length > maxPolicyBytes) throw new PolicyLoadError([{ file, path: "", message: "file over 8 MiB" }]);
  let doc: unknown;
  try {
    doc = parse(text, { uniqueKeys: true, maxAliasCount: 100, prettyErrors: true });
  } catch (e) {
    throw new PolicyLoadError([{ file, path: "", message: `not valid YAML: ${(e as Error).message.split("\n")[0] ?? ""}` }]);
  }
  const result = policySchema.safeParse(doc);
  if (!result.success) throw new PolicyLoadError(result.error.issues.map((i) => ({ file, path: formatPath(i.path), message: i.message })));
  return result.data;
}

export function loadPolicyFile(file: string): Policy {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new PolicyLoadError([{ file, path: "", message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }]);
  }
  return parsePolicy(text, file);
}

/** A path as an admin would type it: relative to the working directory when it lies below it. */
export const displayPath = (file: string): string => {
  const r = relative(process.cwd(), file);
  return r && !r.startsWith("..") ? r : file;
};

/** The policy files of a directory (`*.yaml`, `*.yml`), sorted; none when it does not exist. */
export function policyFilesIn(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  return names.filter((n) => /\.ya?ml$/.test(n)).sort().map((n) => displayPath(join(dir, n)));
}

/**
 * Loads every file, collecting all errors rather than stopping at the first, and refuses two
 * files that define the same policy name or a file that takes a built-in name.
 */
export function loadPolicyFiles(files: readonly string[]): { policy: Policy; file: string }[] {
  const errors: PolicyError[] = [];
  const loaded: { policy: Policy; file: string }[] = [];
  const byName = new Map<string, string>(builtinPolicies.map((p) => [p.name, "built in"]));
  for (const file of files) {
    try {
      const policy = loadPolicyFile(file);
      const other = byName.get(policy.name);
      if (other) {
        errors.push({ file, path: "name", message: `"${policy.name}" is already defined (${other === "built in" ? "a built-in policy" : `in ${other}`})` });
        continue;
      }
      byName.set(policy.name, file);
      loaded.push({ policy, file });
    } catch (e) {
      if (!(e instanceof PolicyLoadError)) throw e;
      errors.push(...e.errors);
    }
  }
  if (errors.length) throw new PolicyLoadError(errors);
  return loaded;
}
