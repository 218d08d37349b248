import { readFileSync } from "node:fs";
import { parse } from "yaml";
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
  return parsePolicy(readFileSync(file, "utf8"), file);
}
