import type { Db } from "./db.ts";

/** A cached request ID, in the shape node-saml's `CacheProvider` expects (matched structurally: the store imports no SAML library). */
export interface CacheItem {
  value: string;
  createdAt: number;
}

/**
 * node-saml's cacheProvider (issued request IDs for InResponseTo checks) backed by the store,
 * so any node can validate a response to a request another node sent.
 */
export class StoreCacheProvider {
  readonly #save;
  readonly #get;
  readonly #remove;
  readonly #purge;
  readonly #namespace: string;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(db: Db, namespace: string, ttlMs: number, now: () => number) {
    this.#namespace = namespace;
    this.#ttlMs = ttlMs;
    this.#now = now;
    this.#save = db.prepare<[string, string, number]>("INSERT OR IGNORE INTO saml_request_cache (key, value, created_at) VALUES (?, ?, ?)");
    this.#get = db.prepare<[string, number], { value: string }>("SELECT value FROM saml_request_cache WHERE key = ? AND created_at > ?");
    this.#remove = db.prepare<[string], { value: string }>("DELETE FROM saml_request_cache WHERE key = ? RETURNING value");
    this.#purge = db.prepare<[string, number]>("DELETE FROM saml_request_cache WHERE key LIKE ? AND created_at <= ?");
  }

  async saveAsync(key: string, value: string): Promise<CacheItem | null> {
    const now = this.#now();
    this.#purge.run(`${this.#namespace}:%`, now - this.#ttlMs);
    const inserted = this.#save.run(`${this.#namespace}:${key}`, value, now).changes === 1;
    return Promise.resolve(inserted ? { value, createdAt: now } : null);
  }

  async getAsync(key: string): Promise<string | null> {
    return Promise.resolve(this.#get.get(`${this.#namespace}:${key}`, this.#now() - this.#ttlMs)?.value ?? null);
  }

  async removeAsync(key: string | null): Promise<string | null> {
    if (key === null) return Promise.resolve(null);
    return Promise.resolve(this.#remove.get(`${this.#namespace}:${key}`)?.value ?? null);
  }
}
