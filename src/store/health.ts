import { migrationPlan, type Db } from "./db.ts";

/** What readiness and the metrics ask of the store: is it reachable, and is its schema the one this code knows. */
export class StoreHealth {
  readonly #db: Db;
  readonly #ping;

  constructor(db: Db) {
    this.#db = db;
    this.#ping = db.prepare<[], { one: number }>("SELECT 1 AS one");
  }

  /** Resolves when a trivial query comes back; rejects when the database cannot answer. */
  async ping(): Promise<void> {
    if (this.#ping.get()?.one !== 1) throw new Error("SELECT 1 returned no row");
  }

  /** The schema version the database is at, and the newest this code would migrate it to. */
  async schema(): Promise<{ current: number; known: number }> {
    const { current, latest } = migrationPlan(this.#db);
    return { current, known: latest };
  }

  /** Open connections to the database: SQLite has exactly one while the runtime is open. */
  connections(): { engine: "sqlite"; open: number } {
    return { engine: "sqlite", open: this.#db.open ? 1 : 0 };
  }
}
