import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import type { Config } from "../config.ts";
import { backupDb, migrate, migrationPlan, openDb } from "../store/db.ts";
import { UsageError } from "./apps.ts";
import { parseCommand } from "./args.ts";

export const dbHelp = {
  status: `Usage: node src/main.ts db status

Where the database stands: its engine and file, its schema version, the newest this Gatehouse
knows, and the migrations not yet applied. Changes nothing.`,
  migrate: `Usage: node src/main.ts db migrate

Applies pending migrations now (serve also applies them at start). Take a backup first:
node src/main.ts db backup FILE.`,
  backup: `Usage: node src/main.ts db backup FILE

An online copy of the database into FILE (a new file, mode 0600), consistent while Gatehouse
runs, checked with SQLite's integrity check. To restore: stop Gatehouse, replace
GATEHOUSE_DATA_DIR/gatehouse.db with the copy (and remove any gatehouse.db-wal and -shm beside
it), start Gatehouse.`,
} as const;

const fileOf = (config: Config): string => join(config.dataDir, "gatehouse.db");
const kib = (file: string): string => `${Math.ceil(statSync(file).size / 1024)} KiB`;

/** `db status|migrate|backup`. */
export async function dbCommand(config: Config, sub: string | undefined, args: string[]): Promise<void> {
  const file = fileOf(config);
  if (sub === "status") {
    parseCommand(args, {}, dbHelp.status);
    if (!existsSync(file)) {
      console.log(`engine:  SQLite (embedded), ${resolve(file)}: no database yet (made at the first start)`);
      return;
    }
    const db = openDb(file, { migrate: false });
    try {
      const { current, latest, pending } = migrationPlan(db);
      console.log(`engine:  SQLite (embedded), ${resolve(file)}, ${kib(file)}`);
      console.log(`schema:  version ${current} of ${latest}`);
      console.log(pending.length ? `pending: ${pending.join(", ")} (applied by db migrate, or at the next start)` : "pending: none, up to date");
    } finally {
      db.close();
    }
    return;
  }
  if (sub === "migrate") {
    parseCommand(args, {}, dbHelp.migrate);
    const db = openDb(file, { migrate: false });
    try {
      const before = migrationPlan(db);
      if (before.pending.length === 0) {
        console.log(`Up to date: schema version ${before.current}.`);
        return;
      }
      console.log(`Migrating ${resolve(file)} from version ${before.current} to ${before.latest}: ${before.pending.join(", ")} …`);
      migrate(db); // each migration in its own transaction, as at start
      console.log(`Done: schema version ${before.latest}.`);
    } finally {
      db.close();
    }
    return;
  }
  if (sub === "backup") {
    const { positionals } = parseCommand(args, {}, dbHelp.backup);
    const target = positionals[0];
    if (!target || positionals.length > 1) throw new UsageError(`give one FILE\n\n${dbHelp.backup}`);
    const db = openDb(file, { migrate: false });
    try {
      await backupDb(db, target).catch((e: unknown) => {
        if ((e as NodeJS.ErrnoException).code === "EEXIST") throw new UsageError(`${target} exists: give a new file, a backup never overwrites one`);
        throw e;
      });
    } finally {
      db.close();
    }
    const copy = new Database(target);
    try {
      // One self-contained file: the copy leaves WAL mode, so no -wal or -shm file must travel with it.
      copy.pragma("journal_mode = DELETE");
      const check = copy.pragma("integrity_check", { simple: true });
      if (check !== "ok") throw new Error(`the copy in ${target} fails SQLite's integrity check: ${String(check)}`);
      console.log(`Backed up ${resolve(file)} to ${resolve(target)} (${kib(target)}, schema version ${String(copy.pragma("user_version", { simple: true }))}, integrity ok).`);
    } finally {
      copy.close();
    }
    return;
  }
  throw new UsageError(`unknown db command ${sub ?? "(none)"}: use status, migrate or backup`);
}
