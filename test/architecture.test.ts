import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

// The module boundaries of ../shared/STYLE.md: a module may not import the layers listed for it.
const forbidden: [from: string, mayNotImport: RegExp][] = [
  ["src/login/", /\/(saml|console)\//],
  ["src/store/", /\/(saml|login|console|audit|http|challenges|policy)\//],
  ["src/saml/idp/", /\/policy\//],
  ["src/policy/", /\.\.\/(?!policy\/)[a-z]/],
  ["src/challenges/", /\/(login|saml|console|policy|http)\//],
];

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? files(join(dir, d.name)) : d.name.endsWith(".ts") ? [join(dir, d.name)] : []));
}

describe("module boundaries", () => {
  const root = join(import.meta.dirname, "..");
  const all = files(join(root, "src")).map((f) => relative(root, f));
  it.each(forbidden)("%s keeps out of the layers it must not import", (prefix, pattern) => {
    const offenders = all
      .filter((f) => f.startsWith(prefix))
      .flatMap((f) => [...readFileSync(join(root, f), "utf8").matchAll(/from "(\.[^"]+)"/g)].map((m) => [f, m[1] as string] as const))
      .filter(([, spec]) => pattern.test(spec));
    expect(offenders).toEqual([]);
  });
});
