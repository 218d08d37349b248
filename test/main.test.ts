import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

// Vitest transforms TypeScript itself; spawning node proves Node's type stripping accepts the code.
const dataDir = mkdtempSync(join(tmpdir(), "gatehouse-cli-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function cli(args: string[], env: Record<string, string> = {}, input?: string) {
  const r = spawnSync(process.execPath, ["src/main.ts", ...args], { encoding: "utf8", input, env: { ...process.env, GATEHOUSE_DATA_DIR: dataDir, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("the command line", () => {
  it("prints help with node's own type stripping", () => {
    const r = cli(["--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("Usage: node src/main.ts COMMAND");
  });

  it("names the variable and the reason when the configuration is bad", () => {
    const r = cli(["user", "list"], { GATEHOUSE_PORT: "eighty", GATEHOUSE_TRUSTED_PROXIES: "0.0.0.0/0" });
    expect(r.code).toBe(2);
    expect(r.err).toContain("GATEHOUSE_PORT");
    expect(r.err).toContain("GATEHOUSE_TRUSTED_PROXIES: must be IP addresses or CIDRs");
  });

  it("adds a user with a password from stdin and refuses a short one", () => {
    expect(cli(["user", "add", "ada", "--email", "ada@example.com", "--password-stdin"], {}, "short\n")).toMatchObject({ code: 2 });
    const r = cli(["user", "add", "ada", "--email", "ada@example.com", "--first-name", "Ada", "--password-stdin"], {}, "a long and correct password\n");
    expect(r.code).toBe(0);
    expect(r.out).toContain("Added user ada");
    expect(cli(["user", "add", "ada", "--email", "other@example.com"]).code).toBe(1);
    expect(cli(["user", "list"]).out).toContain("ada  ada@example.com  Ada");
  });

  it("registers Sentry with its exact URLs and lists and removes apps", () => {
    const r = cli(["app", "add-sentry", "--org", "acme"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("entity ID https://sentry.io/saml/metadata/acme/");
    expect(r.out).toContain("ACS https://sentry.io/saml/acs/acme/");
    expect(r.out).toContain("SLO https://sentry.io/saml/sls/acme/");
    const id = /^(app_[0-9a-f]+)/m.exec(cli(["app", "list"]).out)?.[1] as string;
    expect(cli(["app", "remove", id]).code).toBe(0);
    expect(cli(["app", "remove", id]).code).toBe(2);
  });

  it("registers an app by fields and refuses an attribute named twice", () => {
    expect(cli(["app", "add", "--entity-id", "https://sp.example.test", "--acs", "https://sp.example.test/acs", "--attribute", "mail=email", "--attribute", "mail=username"]).code).toBe(2);
    const r = cli(["app", "add", "--entity-id", "https://sp.example.test", "--acs", "https://sp.example.test/acs", "--nameid-format", "persistent", "--attribute", "mail=email"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("NameID persistent; attributes mail=email");
  });

  it("explains an unknown command with exit code 2", () => {
    const r = cli(["frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("unknown command frobnicate");
  });
});
