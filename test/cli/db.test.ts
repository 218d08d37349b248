/**
 * `db status|migrate|backup` on a data dir from an older Gatehouse (the fixture of 2026-12-04),
 * run as an operator would, and a database from a newer Gatehouse refused before anything is
 * read or written.
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";

const main = join(import.meta.dirname, "../../src/main.ts");
const fixture = join(import.meta.dirname, "../fixtures/datadir-2026-12-04");
const latest = Math.max(...readdirSync(join(import.meta.dirname, "../../src/store/migrations")).filter((f) => /^\d{3}_.*\.sql$/.test(f)).map((f) => Number(f.slice(0, 3))));
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function dataDir(from?: string): string {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-db-cli-"));
  dirs.push(dir);
  if (from) cpSync(from, dir, { recursive: true });
  return dir;
}
const run = (dir: string, ...args: string[]) => spawnSync(process.execPath, [main, ...args], { env: { ...process.env, GATEHOUSE_DATA_DIR: dir, GATEHOUSE_DEMO: "false" }, encoding: "utf8" });

describe("db status, migrate and backup", () => {
  it("reports a missing database without making one", () => {
    const dir = dataDir();
    const out = run(dir, "db", "status");
    expect(out.status, out.stderr).toBe(0);
    expect(out.stdout).toContain("no database yet");
    expect(existsSync(join(dir, "gatehouse.db"))).toBe(false);
  });

  it("shows the pending migrations of an older data dir, backs it up, migrates it, and then says it is up to date", () => {
    const dir = dataDir(fixture);
    const status = run(dir, "db", "status");
    expect(status.stdout).toContain(`schema:  version 3 of ${latest}`);
    expect(status.stdout).toMatch(/pending: 004_lifetimes\.sql, 005_/);

    const copy = join(dir, "before-upgrade.db");
    const backup = run(dir, "db", "backup", copy);
    expect(backup.status, backup.stderr).toBe(0);
    expect(backup.stdout).toContain("schema version 3, integrity ok");
    expect(statSync(copy).mode & 0o777).toBe(0o600);
    expect(existsSync(`${copy}-wal`) || existsSync(`${copy}-shm`)).toBe(false); // one self-contained file
    const again = run(dir, "db", "backup", copy);
    expect(again.status).toBe(2);
    expect(again.stderr).toContain("a backup never overwrites one");

    const migrated = run(dir, "db", "migrate");
    expect(migrated.status, migrated.stderr).toBe(0);
    expect(migrated.stdout).toContain(`Done: schema version ${latest}.`);
    expect(run(dir, "db", "status").stdout).toContain("pending: none, up to date");
    // The backup still holds the old schema and every user: a restore is the file put back.
    const old = new Database(copy, { readonly: true });
    expect(old.pragma("user_version", { simple: true })).toBe(3);
    expect(old.prepare("SELECT count(*) FROM users").pluck().get()).toBe(2);
    old.close();
  });

  it("refuses a database from a newer Gatehouse, in one line, and leaves it as it was", () => {
    const dir = dataDir(fixture);
    const file = join(dir, "gatehouse.db");
    const db = new Database(file);
    db.pragma(`user_version = ${latest + 1}`);
    db.close();
    for (const args of [["db", "status"], ["db", "migrate"], ["user", "list"]]) {
      const out = run(dir, ...args);
      expect(out.status).toBe(1);
      expect(out.stderr.trim().split("\n")).toHaveLength(1);
      expect(out.stderr).toContain(`has schema version ${latest + 1}, newer than this Gatehouse knows (${latest})`);
    }
    const after = new Database(file, { readonly: true });
    expect(after.pragma("user_version", { simple: true })).toBe(latest + 1);
    expect(after.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'rate_limits'").pluck().get()).toBe(0); // no migration ran
    after.close();
  });
});
