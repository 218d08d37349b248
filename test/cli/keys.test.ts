import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { keyFileNames } from "../../src/crypto/keys.ts";
import { Browser } from "../helpers/client.ts";
import { startGatehouse } from "../helpers/gatehouse.ts";
import { journeys } from "../helpers/journeys.ts";
import { makeSp, readIdpMetadata } from "../helpers/sp.ts";

// The key set that many nodes share, made and checked the way an operator does: the real CLI.
const root = mkdtempSync(join(tmpdir(), "gatehouse-keys-cli-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const newDir = () => join(root, `set-${++n}`);

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ["src/main.ts", ...args], {
    encoding: "utf8",
    env: { ...process.env, GATEHOUSE_DATA_DIR: join(root, "data"), GATEHOUSE_PORT: "0", GATEHOUSE_DEMO: "false", ...env },
    timeout: 30_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
/** Each file's bytes and mtime: what "left as it was" compares. */
const snapshot = (dir: string) => readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f), "base64"), statSync(join(dir, f)).mtimeMs]);
/** The secrets of a set as they could leak into output: whole files and their PEM bodies' lines. */
const secretsOf = (dir: string) => [
  ...["server-secret", "nameid-key", "factor-key"].map((f) => readFileSync(join(dir, f), "utf8").trim()),
  ...readFileSync(join(dir, "signing-key.pem"), "utf8").split("\n").filter((l) => l.length > 40),
];

describe("keys init", () => {
  it("makes a complete set, 0600 files in a 0700 directory, and says what each file is and what to back up, showing no secret", () => {
    const dir = newDir();
    const r = cli(["keys", "init", dir, "--common-name", "sso.example.test"]);
    expect(r.code).toBe(0);
    expect(readdirSync(dir).sort()).toEqual([...keyFileNames].sort());
    expect([mode(dir), ...keyFileNames.map((f) => mode(join(dir, f)))]).toEqual(["700", "600", "600", "600", "600", "600"]);
    for (const f of keyFileNames) expect(r.out).toMatch(new RegExp(`^ {2}${f} +\\S`, "m"));
    expect(r.out).toContain("nameid-key        keys persistent NameIDs; back up, never rotate");
    expect(r.out).toContain("server-secret     keys CSRF tokens and emailed codes; may be rotated");
    expect(r.out).toContain(`Back up the whole directory now`);
    expect(r.out).toContain(`GATEHOUSE_KEYS_DIR=${dir} GATEHOUSE_KEYS_GENERATE=false`);
    const cert = new X509Certificate(readFileSync(join(dir, "signing-cert.pem")));
    expect(cert.subject).toBe("CN=sso.example.test");
    expect(r.out).toContain(`SHA-256 ${cert.fingerprint256}`);
    for (const secret of secretsOf(dir)) expect(r.out + r.err).not.toContain(secret);
  });

  it("makes the set in an existing empty directory and closes it to 0700", () => {
    const dir = newDir();
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    expect(cli(["keys", "init", dir]).code).toBe(0);
    expect(mode(dir)).toBe("700");
    expect(readdirSync(dir)).toHaveLength(5);
  });

  it("refuses to replace a set, in one line, and leaves every file as it was", () => {
    const dir = newDir();
    expect(cli(["keys", "init", dir]).code).toBe(0);
    const before = snapshot(dir);
    const r = cli(["keys", "init", dir]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `error: ${dir} already holds keys (signing-key.pem, signing-cert.pem, server-secret, nameid-key, factor-key): keys init never replaces a set; to make a new one, remove those files yourself or choose another directory (a new set means a new certificate in every app and the loss of every enrolled authenticator app)\n`,
    );
    expect(r.out).toBe("");
    expect(snapshot(dir)).toEqual(before);
  });

  it("refuses a directory holding part of a set, and adds nothing to it", () => {
    const dir = newDir();
    mkdirSync(dir);
    writeFileSync(join(dir, "factor-key"), "the only copy");
    const r = cli(["keys", "init", dir]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: .* already holds keys \(factor-key\): keys init never replaces a set;[^\n]*\n$/);
    expect(readdirSync(dir)).toEqual(["factor-key"]);
  });

  it("is a usage error without a directory, or with two", () => {
    expect(cli(["keys", "init"]).code).toBe(2);
    expect(cli(["keys", "init", newDir(), newDir()]).code).toBe(2);
    expect(cli(["keys", "rotate"]).code).toBe(2);
    expect(cli(["keys", "init", "--help"])).toMatchObject({ code: 0, out: expect.stringContaining("Usage: node src/main.ts keys init DIR") as unknown });
  });
});

describe("nodes sharing one set (GATEHOUSE_KEYS_DIR, GATEHOUSE_KEYS_GENERATE=false)", () => {
  it("start from the set keys init made, on two data dirs, publish the same certificate and sign with its key; the set is not touched", async () => {
    const dir = newDir();
    expect(cli(["keys", "init", dir]).code).toBe(0);
    const before = snapshot(dir);
    const env = { GATEHOUSE_KEYS_DIR: dir, GATEHOUSE_KEYS_GENERATE: "false" };
    const a = await startGatehouse(env);
    const b = await startGatehouse(env);
    try {
      const [ma, mb] = [await readIdpMetadata(`${a.url}/saml/metadata`), await readIdpMetadata(`${b.url}/saml/metadata`)];
      const der = (pem: string) => new X509Certificate(pem).raw.toString("base64");
      expect(der(ma.certPem)).toBe(der(readFileSync(join(dir, "signing-cert.pem"), "utf8")));
      expect(der(mb.certPem)).toBe(der(ma.certPem));
      // The server secret (CSRF, email codes), the NameID key and the factor key are the same too.
      expect([b.rt.keys.derived, b.rt.keys.nameIdKey, b.rt.keys.factorKey]).toEqual([a.rt.keys.derived, a.rt.keys.nameIdKey, a.rt.keys.factorKey]);
      // An app that pins the certificate node B publishes accepts an assertion node A signed.
      await a.addUser("ada", "correct horse battery");
      const sp = await makeSp({ ...ma, certPem: mb.certPem }, "shared");
      await a.addApp({ entityId: sp.entityId, acs: [{ url: sp.acs, index: 0, isDefault: true }] });
      const j = journeys(() => a, "correct horse battery");
      const { nameId } = await j.accepted(sp, await j.signIn(new Browser(), sp, "ada"));
      expect(nameId).toBe("ada@example.com");
      // Neither node made keys in its data dir or wrote to the shared set.
      for (const gh of [a, b]) expect(existsSync(join(gh.rt.config.dataDir, "keys"))).toBe(false);
      expect(snapshot(dir)).toEqual(before);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it.each(keyFileNames.map((f) => [f]))("refuse to start when %s is missing: one line naming the directory, the file and keys init; nothing is written", (file) => {
    const dir = newDir();
    expect(cli(["keys", "init", dir]).code).toBe(0);
    unlinkSync(join(dir, file));
    const before = snapshot(dir);
    const dataDir = newDir();
    const r = cli(["serve"], { GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_KEYS_DIR: dir, GATEHOUSE_KEYS_GENERATE: "false" });
    expect(r.code).toBe(1);
    expect(r.err.split("\n")).toEqual([expect.stringMatching(new RegExp(`^error: keys missing in ${dir}: ${file}[ ;].*this node never makes keys \\(GATEHOUSE_KEYS_GENERATE=false\\).*\`node src/main.ts keys init DIR\` makes a new set`)), ""]);
    expect(r.out).not.toContain("listening");
    expect(snapshot(dir)).toEqual(before);
    // Refused before the database was opened: no admin account whose password nobody saw.
    expect(existsSync(join(dataDir, "gatehouse.db"))).toBe(false);
  });

  it("refuse to start on a keys directory that does not exist, and say how to make a set there", () => {
    const dir = newDir();
    const r = cli(["serve"], { GATEHOUSE_DATA_DIR: newDir(), GATEHOUSE_KEYS_DIR: dir, GATEHOUSE_KEYS_GENERATE: "false" });
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `error: keys missing in ${dir}: signing-key.pem, signing-cert.pem, server-secret, nameid-key, factor-key; this node never makes keys (GATEHOUSE_KEYS_GENERATE=false): provide the key set every node shares there (\`node src/main.ts keys init ${dir}\` makes a set)\n`,
    );
    expect(existsSync(dir)).toBe(false);
  });
});

describe("keys show", () => {
  it("checks a set and prints the certificate's subject, fingerprint and validity, and no secret", () => {
    const dir = newDir();
    expect(cli(["keys", "init", dir, "--common-name", "sso.example.test"]).code).toBe(0);
    const cert = new X509Certificate(readFileSync(join(dir, "signing-cert.pem")));
    const r = cli(["keys", "show", dir]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`Key set in ${dir}: complete`);
    expect(r.out).toContain("Certificate: CN=sso.example.test");
    expect(r.out).toContain(`SHA-256 fingerprint ${cert.fingerprint256}`);
    expect(r.out).toContain(`until ${cert.validToDate.toISOString()}`);
    expect(r.out).not.toContain("NOTICE");
    for (const secret of secretsOf(dir)) expect(r.out + r.err).not.toContain(secret);
  });

  it("reads GATEHOUSE_KEYS_DIR without a directory, and names a file others can read", () => {
    const dir = newDir();
    expect(cli(["keys", "init", dir]).code).toBe(0);
    chmodSync(join(dir, "factor-key"), 0o644);
    const r = cli(["keys", "show"], { GATEHOUSE_KEYS_DIR: dir });
    expect(r.code).toBe(0);
    expect(r.out).toContain(`NOTICE: ${join(dir, "factor-key")} is mode 0644: others than Gatehouse's user can read it (want 0600)`);
  });

  it("refuses an incomplete set in one line and makes nothing", () => {
    const dir = newDir();
    expect(cli(["keys", "init", dir]).code).toBe(0);
    unlinkSync(join(dir, "signing-cert.pem"));
    const r = cli(["keys", "show", dir]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: keys missing in .*: signing-cert\.pem; [^\n]*\n$/);
    expect(existsSync(join(dir, "signing-cert.pem"))).toBe(false);
  });
});

describe("the settings", () => {
  it("default to DATA_DIR/keys and to generating, as an embedded start always did; a relative GATEHOUSE_KEYS_DIR is resolved", () => {
    const c = loadConfig({ GATEHOUSE_DATA_DIR: "/srv/gatehouse" });
    expect([c.keysDir, c.keysGenerate]).toEqual(["/srv/gatehouse/keys", true]);
    const s = loadConfig({ GATEHOUSE_KEYS_DIR: "shared/keys", GATEHOUSE_KEYS_GENERATE: "false" });
    expect([s.keysDir, s.keysGenerate]).toEqual([join(process.cwd(), "shared/keys"), false]);
  });

  it("name GATEHOUSE_KEYS_GENERATE when its value is not a boolean", () => {
    const r = cli(["keys", "show"], { GATEHOUSE_KEYS_GENERATE: "never" });
    expect(r.code).toBe(2);
    expect(r.err).toContain('GATEHOUSE_KEYS_GENERATE: Invalid input (got "never")');
  });
});
