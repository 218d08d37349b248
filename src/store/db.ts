import { chmodSync, closeSync, existsSync, fstatSync, fchmodSync, mkdirSync, openSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";

export type Db = Database.Database;

const migrationsDir = join(import.meta.dirname, "migrations");

/** A database made by a newer Gatehouse: this one would not know what its tables mean. */
export class SchemaTooNewError extends Error {}

/**
 * Opens (creating if needed) the SQLite database and applies pending numbered migrations
 * (`migrate: false` only looks). A schema newer than this code knows is refused before anything
 * is read or written.
 */
export function openDb(file: string, opts: { migrate?: boolean } = {}): Db {
  if (file !== ":memory:") ownerOnly(file);
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  const { current, latest } = migrationPlan(db);
  if (current > latest) {
    db.close();
    throw new SchemaTooNewError(`the database ${file} has schema version ${current}, newer than this Gatehouse knows (${latest}): run the Gatehouse version that wrote it, or restore a backup made before the upgrade`);
  }
  if (opts.migrate !== false) migrate(db);
  return db;
}

// The migrations ship with the code: read once, not at every readiness poll.
let known: { n: number; file: string }[] | undefined;
const migrationFiles = (): { n: number; file: string }[] =>
  (known ??= readdirSync(migrationsDir)
    .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((file) => ({ n: Number(file.slice(0, 3)), file })));

/** Where the schema stands: its version, the newest this code knows, and the migrations not yet applied. */
export function migrationPlan(db: Db): { current: number; latest: number; pending: string[] } {
  const current = db.pragma("user_version", { simple: true }) as number;
  const files = migrationFiles();
  return { current, latest: Math.max(0, ...files.map((f) => f.n)), pending: files.filter((f) => f.n > current).map((f) => f.file) };
}

/** An online copy of the live database (SQLite's backup API: consistent while Gatehouse runs). */
export async function backupDb(db: Db, destination: string): Promise<void> {
  const fd = openSync(destination, "wx", 0o600); // never overwrites, and is owner-only from the start
  closeSync(fd);
  await db.backup(destination);
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
  let version = current;
  for (const { n, file } of migrationFiles()) {
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
