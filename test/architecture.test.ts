/**
 * The module boundaries of ../shared/STYLE.md ("Boundaries that keep the layout honest"), checked
 * on every import form TypeScript knows: `import … from`, `import type`, `export … from`,
 * side-effect `import "…"`, `import("…")` calls and types, `import x = require("…")`, over any
 * number of lines. TypeScript's own parser reads the files, so a form a regular expression would
 * miss cannot slip through.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, posix, relative, sep } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

/** Every module specifier in a source file; a dynamic import of a computed path is reported as `<computed>`. */
export function importsOf(source: string, fileName = "file.ts"): string[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: string[] = [];
  const literal = (e: ts.Node | undefined): string => (e && (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) ? e.text : "<computed>");
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) {
      if (node.moduleSpecifier) found.push(literal(node.moduleSpecifier));
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      found.push(literal(node.moduleReference.expression));
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      found.push(literal(node.arguments[0]));
    } else if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === "require") {
      found.push(literal(node.arguments[0]));
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      found.push(literal(node.argument.literal));
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

/** The module a file under src/ belongs to: `policy`, `saml/idp`, `console/account`, or a root file such as `errors.ts`. */
export function moduleOf(srcPath: string): string {
  const parts = srcPath.split("/");
  if (parts.length === 1) return parts[0] as string;
  if ((parts[0] === "saml" || parts[0] === "console") && parts.length > 2) return `${parts[0]}/${parts[1]}`;
  return parts[0] as string;
}

/**
 * What one import points at: `pkg:name` (a package or `node:` built-in), `outside:path` (a relative
 * path leaving src/), `<computed>`, or the module of the src/ file it names.
 */
export function targetOf(fromSrcPath: string, spec: string): string {
  if (spec === "<computed>") return spec;
  if (!spec.startsWith(".")) return `pkg:${spec.startsWith("node:") ? "node:" : spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : (spec.split("/")[0] as string)}`;
  const resolved = posix.normalize(posix.join(posix.dirname(fromSrcPath), spec));
  return resolved.startsWith("../") ? `outside:${resolved}` : moduleOf(resolved);
}

interface Rule {
  /** Module IDs the rule governs (`saml` covers `saml/idp`, `saml/sp`, …, a root file is named with `.ts`). */
  modules: string[];
  /** STYLE.md's "may import": the only src modules it may import (its own files always). Absent: anything not in mustNot. */
  may?: string[];
  /** STYLE.md's "must not import". */
  mustNot: string[];
  /** Packages it may import, where STYLE.md names them. Absent: any package. */
  packages?: RegExp;
  /** Imports current code makes that STYLE.md's table does not list. Allowed, and reported as gaps in the table. */
  unlisted?: string[];
}

const everything = ["policy", "login", "challenges", "saml", "console", "directory", "store", "mail", "http", "crypto", "audit", "cli", "ops", "demo", "errors.ts", "clock.ts", "config.ts", "request-context.ts", "runtime.ts", "server.ts", "main.ts"];
const except = (...keep: string[]): string[] => everything.filter((m) => !keep.includes(m));

/** The table of STYLE.md, row by row; rows marked "derived" cover folders the table does not name, from its layering. */
export const rules: Rule[] = [
  { modules: ["policy"], may: [], mustNot: except("policy"), packages: /^(node:|zod$|ipaddr\.js$|yaml$)/ }, // yaml: policy files are YAML (not in the table)
  { modules: ["login"], may: ["policy", "challenges", "store", "audit", "crypto", "errors.ts", "clock.ts"], mustNot: ["saml", "console"], unlisted: ["http"] },
  { modules: ["challenges"], may: ["store", "crypto", "mail", "errors.ts", "clock.ts"], mustNot: ["login", "saml"], unlisted: ["config.ts"] },
  { modules: ["saml/idp"], may: ["login", "store", "audit", "crypto", "errors.ts", "saml", "saml/metadata"], mustNot: ["policy", "saml/sp", "console"], unlisted: ["http", "clock.ts", "config.ts"] },
  // saml/sp has two rows: "login (start, resume)" and "not login internals"; both forbid policy.
  { modules: ["saml/sp"], may: ["login", "store", "audit", "crypto", "errors.ts", "clock.ts", "saml", "saml/metadata"], mustNot: ["policy", "saml/idp", "console"] },
  // derived: the SAML plumbing both sides share (bindings, metadata).
  { modules: ["saml", "saml/metadata"], may: ["store", "crypto", "errors.ts", "saml", "saml/metadata"], mustNot: ["policy", "login", "console", "saml/idp", "saml/sp"] },
  { modules: ["console"], may: ["console", "login", "challenges", "store", "policy", "audit", "errors.ts"], mustNot: ["saml"], unlisted: ["http", "mail", "clock.ts", "config.ts"] },
  { modules: ["directory"], may: ["store", "crypto", "errors.ts", "clock.ts"], mustNot: ["login", "policy"] },
  { modules: ["store"], may: ["errors.ts"], mustNot: except("store", "errors.ts"), packages: /^(node:|better-sqlite3$|pg$)/ },
  { modules: ["mail", "http"], may: ["crypto", "errors.ts", "clock.ts"], mustNot: ["login", "saml", "console"], unlisted: ["request-context.ts"] },
  // derived: below everything but errors.
  { modules: ["crypto"], may: ["errors.ts"], mustNot: except("crypto", "errors.ts") },
  // derived: a service over the store, used by login, saml and the console.
  // request-context.ts: the request being served, whose ID each event stores (not in the table).
  { modules: ["audit"], may: ["store", "crypto", "errors.ts", "clock.ts", "request-context.ts"], mustNot: ["login", "challenges", "saml", "console", "policy", "cli", "ops", "demo", "runtime.ts", "server.ts", "main.ts"] },
  // derived: admin commands use services and the runtime, never web pages or protocol handlers
  // directly (`serve` starts the whole server through server.ts, a composition root).
  { modules: ["cli"], mustNot: ["console", "saml/idp", "saml/sp"] },
  // derived: background work (sweeping) over services, no web or protocol layer.
  { modules: ["ops"], may: ["store", "audit", "login", "challenges", "mail", "crypto", "errors.ts", "clock.ts", "config.ts"], mustNot: ["saml", "console", "http", "cli", "server.ts", "main.ts"] },
  // derived: the demo app is an app like any other: it talks SAML to Gatehouse, it does not reach into it.
  { modules: ["demo"], mustNot: ["login", "challenges", "policy", "console", "saml", "audit", "cli", "ops"] },
  // derived: leaves everyone may use (request-context.ts: the request being served, set by http/, read by audit/ and the logger).
  { modules: ["errors.ts", "clock.ts", "config.ts", "request-context.ts"], may: [], mustNot: except("errors.ts", "clock.ts", "config.ts", "request-context.ts") },
  // derived: composition roots wire everything.
  { modules: ["runtime.ts", "server.ts", "main.ts"], mustNot: [] },
];

/**
 * Imports that break a rule today, reported rather than fixed by the test's author (not their
 * files). Each must still exist, so the list only shrinks.
 */
export const knownViolations: string[] = [];

const covers = (entry: string, module: string): boolean => module === entry || module.startsWith(`${entry}/`);
const ruleFor = (module: string): Rule | undefined =>
  // The most specific rule: `saml/idp` before `saml`.
  rules
    .filter((r) => r.modules.some((m) => covers(m, module)))
    .sort((a, b) => Math.max(...b.modules.filter((m) => covers(m, module)).map((m) => m.length)) - Math.max(...a.modules.filter((m) => covers(m, module)).map((m) => m.length)))[0];

/** Every import that breaks its module's rule, as `file → what it imports (why)`; the part before " (" is stable. */
export function violations(tree: ReadonlyMap<string, string[]>): string[] {
  const out: string[] = [];
  for (const [file, specs] of tree) {
    const module = moduleOf(file);
    const rule = ruleFor(module);
    if (!rule) {
      out.push(`${file} (module ${module} has no rule)`);
      continue;
    }
    for (const spec of specs) {
      const target = targetOf(file, spec);
      const shown = spec.startsWith(".") ? posix.normalize(posix.join(posix.dirname(file), spec)) : spec;
      const breach = (why: string) => out.push(`${file} → ${shown} (${why})`);
      if (target === "<computed>") breach("a computed path cannot be checked");
      else if (target.startsWith("outside:")) breach("leaves src/");
      else if (target.startsWith("pkg:")) {
        if (rule.packages && !rule.packages.test(target.slice(4))) breach(`package not allowed in ${module}`);
      } else if (target === module) continue; // its own files
      else if (rule.mustNot.some((m) => covers(m, target))) breach(`${module} must not import ${target}`);
      else if (rule.may && !rule.may.some((m) => covers(m, target)) && !rule.unlisted?.some((m) => covers(m, target))) breach(`${target} is not among what ${module} may import`);
    }
  }
  return out;
}

const root = join(import.meta.dirname, "..");
const src = join(root, "src");
const files = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? files(join(dir, d.name)) : d.name.endsWith(".ts") ? [join(dir, d.name)] : []));
const tree = new Map(files(src).map((f) => [relative(src, f).split(sep).join("/"), importsOf(readFileSync(f, "utf8"), f)]));
const shortForm = (v: string): string => v.replace(/ \(.*$/, "");

describe("the import scanner", () => {
  it("sees every import form, over any number of lines", () => {
    const source = [
      'import a from "./a.ts";',
      'import type { B } from "./b.ts";',
      'import { type C, d } from "./c.ts";',
      'import * as e from "./e.ts";',
      'import "./side-effect.ts";',
      'export { f } from "./f.ts";',
      'export type { G } from "./g.ts";',
      'export * from "./h.ts";',
      'export * as i from "./i.ts";',
      "import {",
      "  j,",
      "  k,",
      '} from "./multi-line.ts";',
      "import type {",
      "  L,",
      "} from",
      '  "./multi-line-type.ts";',
      "const m = await import('./dynamic.ts');",
      "const n = await import(`./template.ts`);",
      'type O = typeof import("./type-query.ts");',
      'import p = require("./require.ts");',
      "const q = await import(name);",
      'const s = "import x from \'./not-an-import.ts\'"; // a string, not an import',
      "// import z from './commented.ts';",
    ].join("\n");
    expect(importsOf(source)).toEqual(["./a.ts", "./b.ts", "./c.ts", "./e.ts", "./side-effect.ts", "./f.ts", "./g.ts", "./h.ts", "./i.ts", "./multi-line.ts", "./multi-line-type.ts", "./dynamic.ts", "./template.ts", "./type-query.ts", "./require.ts", "<computed>"]);
  });

  it("flags each kind of breach in a planted tree", () => {
    const planted = new Map([
      ["policy/evaluate.ts", ["../http/client-ip.ts", "express"]],
      ["login/flow.ts", ["../saml/idp/sso.ts"]],
      ["console/account/home.ts", ["../../saml/bindings.ts"]],
      ["mail/mailer.ts", ["../login/flow.ts", "./templates.ts", "../store/db.ts"]],
      ["http/render.ts", ["../console/account/home.ts"]],
      ["cli/policy.ts", ["../console/account/account.ts"]],
      ["ops/sweeper.ts", ["../http/render.ts"]],
      ["crypto/keys.ts", ["../store/db.ts"]],
      ["audit/audit.ts", ["../login/flow.ts"]],
      ["saml/sp/acs.ts", ["../../policy/evaluate.ts", "../idp/sso.ts"]],
      ["directory/ldap.ts", ["../login/flow.ts", "../policy/evaluate.ts"]],
      ["store/users.ts", ["../audit/audit.ts", "express"]],
      ["challenges/totp.ts", ["../login/flow.ts", "../http/render.ts"]],
      ["login/x.ts", ["../console/y.ts"]],
      ["newfolder/x.ts", []],
      ["login/y.ts", ["../../package.json"]],
      ["login/z.ts", ["<computed>"]],
    ]);
    expect(violations(planted)).toEqual([
      "policy/evaluate.ts → http/client-ip.ts (policy must not import http)",
      "policy/evaluate.ts → express (package not allowed in policy)",
      "login/flow.ts → saml/idp/sso.ts (login must not import saml/idp)",
      "console/account/home.ts → saml/bindings.ts (console/account must not import saml)",
      "mail/mailer.ts → login/flow.ts (mail must not import login)",
      "mail/mailer.ts → store/db.ts (store is not among what mail may import)",
      "http/render.ts → console/account/home.ts (http must not import console/account)",
      "cli/policy.ts → console/account/account.ts (cli must not import console/account)",
      "ops/sweeper.ts → http/render.ts (ops must not import http)",
      "crypto/keys.ts → store/db.ts (crypto must not import store)",
      "audit/audit.ts → login/flow.ts (audit must not import login)",
      "saml/sp/acs.ts → policy/evaluate.ts (saml/sp must not import policy)",
      "saml/sp/acs.ts → saml/idp/sso.ts (saml/sp must not import saml/idp)",
      "directory/ldap.ts → login/flow.ts (directory must not import login)",
      "directory/ldap.ts → policy/evaluate.ts (directory must not import policy)",
      "store/users.ts → audit/audit.ts (store must not import audit)",
      "store/users.ts → express (package not allowed in store)",
      "challenges/totp.ts → login/flow.ts (challenges must not import login)",
      "challenges/totp.ts → http/render.ts (http is not among what challenges may import)",
      "login/x.ts → console/y.ts (login must not import console)",
      "newfolder/x.ts (module newfolder has no rule)",
      "login/y.ts → ../package.json (leaves src/)",
      "login/z.ts → <computed> (a computed path cannot be checked)",
    ]);
  });
});

describe("module boundaries (../shared/STYLE.md)", () => {
  it("every folder under src/ has a rule", () => {
    expect([...tree.keys()].filter((f) => !ruleFor(moduleOf(f)))).toEqual([]);
  });

  it.each(rules.map((r) => [r.modules.join(", "), r] as const))("%s keeps to its boundaries", (_name, rule) => {
    const mine = new Map([...tree].filter(([f]) => ruleFor(moduleOf(f)) === rule));
    expect(violations(mine).filter((v) => !knownViolations.includes(shortForm(v)))).toEqual([]);
  });

  it("the known violations still exist (remove an entry once it is fixed)", () => {
    const all = violations(tree).map(shortForm);
    expect(knownViolations.filter((k) => !all.includes(k))).toEqual([]);
  });

  it("the table's two columns never disagree", () => {
    for (const r of rules) expect(r.may?.filter((m) => r.mustNot.some((n) => covers(n, m))) ?? [], r.modules.join()).toEqual([]);
  });
});
