import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { Db } from "./db.ts";

/** The newest numbered migration this code ships (src/store/migrations/NNN_name.sql). */
export const knownSchemaVersion: number = Math.max(
  0,
  ...readdirSync(join(import.meta.dirname, "migrations"))
    .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
    .map((f) => Number(f.slice(0, 3))),
);

/** What readiness asks of the store: is it reachable, and is its schema the one this code knows. */
export class StoreHealth {
  readonly #db: Db;
  readonly #ping;
  readonly #version;

  constructor(db: Db) {
    this.#db = db;
    this.#ping = db.prepare<[], { one: number }>("SELECT 1 AS one");
    this.#version = db.prepare<[], { user_version: number }>("PRAGMA user_version");
  }

  /** Resolves when a trivial query comes back; rejects when the database cannot answer. */
  async ping(): Promise<void> {
    if (this.#ping.get()?.one !== 1) throw new Error("SELECT 1 returned no row");
  }

  /** The schema version the database is at, and the one this code would migrate it to. */
  async schema(): Promise<{ current: number; known: number }> {
    return { current: this.#version.get()?.user_version ?? 0, known: knownSchemaVersion };
  }

  /** Open connections to the database: SQLite has exactly one while the runtime is open. */
  connections(): { engine: "sqlite"; open: number } {
    return { engine: "sqlite", open: this.#db.open ? 1 : 0 };
  }
}
