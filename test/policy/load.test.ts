import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PolicyCatalog } from "../../src/policy/catalog.ts";
import { loadPolicyFiles, policyFilesIn, PolicyLoadError } from "../../src/policy/load.ts";

const dir = mkdtempSync(join(tmpdir(), "gatehouse-policy-dir-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, text: string): string => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};
const messages = (files: string[]): string[] => {
  try {
    loadPolicyFiles(files);
  } catch (e) {
    if (e instanceof PolicyLoadError) return e.message.split("\n");
    throw e;
  }
  return [];
};

describe("loading a directory of policies", () => {
  it("reads only *.yaml and *.yml files, sorted, and nothing from a directory that does not exist", () => {
    write("b.yml", "name: b\nversion: 1\nrules: []\ndefault: allow\n");
    write("a.yaml", "name: a\nversion: 1\nrules: []\ndefault: allow\n");
    write("notes.txt", "not a policy");
    expect(policyFilesIn(dir).map((f) => f.slice(dir.length + 1))).toEqual(["a.yaml", "b.yml"]);
    expect(policyFilesIn(join(dir, "missing"))).toEqual([]);
  });

  it("reports every error of every file at once, not only the first", () => {
    const bad1 = write("bad1.yaml", "name: bad1\nversion: 0\nrules: []\ndefault: allow\n");
    const bad2 = write("bad2.yaml", "name: bad2\nversion: 1\nrules:\n  - when: { ip: { in: [10.1.2.3/8] } }\n    then: allow\ndefault: maybe\n");
    const out = messages([bad1, bad2]);
    expect(out).toHaveLength(3);
    expect(out[0]).toMatch(/bad1\.yaml: version: /);
    expect(out.join("\n")).toContain('bad2.yaml: rules[0].when.ip.in[0]: "10.1.2.3/8" has host bits set');
    expect(out.join("\n")).toMatch(/bad2\.yaml: default: /);
  });

  it("says what is allowed where zod would say only \"Invalid input\"", () => {
    const file = write(
      "choices.yaml",
      [
        "name: choices",
        "version: 1",
        "unknownIp: allow",
        "rules:",
        "  - when: { ip: { in: [10.0.0.0/8], notIn: [10.1.0.0/16] } }",
        "    then: block",
        "  - when: { ip: {} }",
        "    then: { block: { message: no } }",
        "  - when: { time: { days: [fri, fry], timeZone: UTC } }",
        "    then: { challenge: { methods: [totp, sms], ifNoneEnrolled: maybe } }",
        "  - when: { user: { inGroup: [a] } }",
        "    then: { deny: { message: no }, challenge: { methods: [totp] } }",
        "default: { challenge: { methods: [] } }",
      ].join("\n"),
    );
    expect(messages([file])).toEqual([
      `${file}: unknownIp: unknown action "allow"; allowed: deny, challenge (an address Gatehouse cannot read is never simply allowed)`,
      `${file}: rules[0].when.ip: "in" and "notIn" in one IP condition: use one`,
      `${file}: rules[0].then: unknown action "block"; allowed: allow, deny, challenge`,
      `${file}: rules[1].when.ip: an empty IP condition; allowed: in, notIn`,
      `${file}: rules[1].then: unknown action "block"; allowed: allow, deny, challenge`,
      `${file}: rules[2].when.time.days[1]: unknown day "fry"; allowed: mon, tue, wed, thu, fri, sat, sun`,
      `${file}: rules[2].then.challenge.methods[1]: unknown method "sms"; allowed: totp, kba, email-otp`,
      `${file}: rules[2].then.challenge.ifNoneEnrolled: unknown value "maybe"; allowed: deny, allow`,
      `${file}: rules[3].then: "deny" and "challenge" in one action: use one`,
      `${file}: default.challenge.methods: Too small: expected array to have >=1 items`,
    ]);
  });

  it("refuses two files that define the same policy name, and a file that takes a built-in name", () => {
    const one = write("one.yaml", "name: same\nversion: 1\nrules: []\ndefault: allow\n");
    const two = write("two.yaml", "name: same\nversion: 2\nrules: []\ndefault: allow\n");
    const builtin = write("builtin.yaml", "name: first-factor-only\nversion: 9\nrules: []\ndefault: allow\n");
    expect(messages([one, two, builtin])).toEqual([
      `${two}: name: "same" is already defined (in ${one})`,
      `${builtin}: name: "first-factor-only" is already defined (a built-in policy)`,
    ]);
  });

  it("names an unreadable file rather than crashing", () => {
    expect(messages([join(dir, "gone.yaml")])).toEqual([`${join(dir, "gone.yaml")}: cannot read: ENOENT`]);
  });

  it("puts the loaded policies next to the built-in one in the catalog", () => {
    const catalog = new PolicyCatalog(loadPolicyFiles([join(dir, "a.yaml")]));
    expect(catalog.list().map((p) => `${p.name} v${p.version}`)).toEqual(["first-factor-only v1", "a v1"]);
    expect(catalog.has("a")).toBe(true);
    expect(catalog.get("nope")).toBeUndefined();
  });
});
