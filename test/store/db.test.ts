import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openDb, type Db } from "../../src/store/db.ts";

const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);

describe("the database files", () => {
  let root: string;
  let db: Db | undefined;
  afterEach(() => {
    db?.close();
    db = undefined;
    rmSync(root, { recursive: true, force: true });
  });

  it("are readable by their owner only: a new data dir 0700, the database and its -wal and -shm 0600", () => {
    root = mkdtempSync(join(tmpdir(), "gatehouse-db-"));
    const file = join(root, "data", "gatehouse.db");
    db = openDb(file);
    db.exec("CREATE TABLE t (x); INSERT INTO t VALUES (1)"); // written to the WAL, so -wal and -shm exist
    expect(mode(join(root, "data"))).toBe("700");
    expect([mode(file), mode(`${file}-wal`), mode(`${file}-shm`)]).toEqual(["600", "600", "600"]);
  });

  it("made world-readable by an older start are narrowed to 0600, and their data kept", () => {
    root = mkdtempSync(join(tmpdir(), "gatehouse-db-"));
    const file = join(root, "gatehouse.db");
    db = openDb(file);
    db.exec("CREATE TABLE t (x); INSERT INTO t VALUES (1)");
    db.close();
    chmodSync(file, 0o644);
    writeFileSync(`${file}-shm`, Buffer.alloc(0), { mode: 0o644 }); // as a crash leaves it
    chmodSync(`${file}-shm`, 0o644);
    db = openDb(file);
    expect(db.prepare("SELECT x FROM t").pluck().get()).toBe(1);
    expect([mode(file), mode(`${file}-shm`)]).toEqual(["600", "600"]);
  });

  it("leave an existing data dir's own mode alone (a mounted volume may need its group)", () => {
    root = mkdtempSync(join(tmpdir(), "gatehouse-db-"));
    chmodSync(root, 0o750);
    db = openDb(join(root, "gatehouse.db"));
    expect(mode(root)).toBe("750");
  });
});
