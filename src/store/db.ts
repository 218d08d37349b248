import { chmodSync, closeSync, existsSync, fstatSync, fchmodSync, mkdirSync, openSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";

export type Db = Database.Database;

const migrationsDir = join(import.meta.dirname, "migrations");

/** Opens (creating if needed) the SQLite database and applies pending numbered migrations. */
export function openDb(file: string): Db {
  if (file !== ":memory:") ownerOnly(file);
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  migrate(db);
  return db;
}

/**
 * The database holds password hashes, sessions and the audit log: only its owner may read it.
 * SQLite creates files 0644 (less the umask) and gives its -wal and -shm files the mode of the
 * database file, so creating that file 0600 first covers all three. A directory Gatehouse creates
 * is 0700; one that exists is left as the operator made it (a mounted volume may need its group).
 */
function ownerOnly(file: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const fd = openSync(file, "a", 0o600);
  try {
    if ((fstatSync(fd).mode & 0o077) !== 0) fchmodSync(fd, 0o600); // made world-readable by an older Gatehouse
  } finally {
    closeSync(fd);
  }
  for (const extra of [`${file}-wal`, `${file}-shm`]) {
    if (existsSync(extra) && (statSync(extra).mode & 0o077) !== 0) chmodSync(extra, 0o600); // left by a crash
  }
}

export function migrate(db: Db): number {
  const current = db.pragma("user_version", { simple: true }) as number;
  const files = readdirSync(migrationsDir)
    .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
    .sort();
  let version = current;
  for (const file of files) {
    const n = Number(file.slice(0, 3));
    if (n <= current) continue;
    const sql = readFileSync(join(migrationsDir, file), "utf8");
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${n}`);
    })();
    version = n;
  }
  return version;
}
