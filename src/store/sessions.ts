import type { Db } from "./db.ts";

export interface Session {
  idHash: string;
  userId: string;
  authMethod: string;
  authTime: number;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
}

export interface SessionApp {
  appId: string;
  sessionIndex: string;
  nameId: string;
  nameIdFormat: string;
  signedInAt: number;
}

interface Row {
  id_hash: string;
  user_id: string;
  auth_method: string;
  auth_time: number;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
}

const toSession = (r: Row): Session => ({
  idHash: r.id_hash,
  userId: r.user_id,
  authMethod: r.auth_method,
  authTime: r.auth_time,
  createdAt: r.created_at,
  lastSeenAt: r.last_seen_at,
  expiresAt: r.expires_at,
});

export class SessionRepository {
  readonly #insert;
  readonly #live;
  readonly #touch;
  readonly #end;
  readonly #addApp;
  readonly #apps;
  readonly #bySessionIndex;

  constructor(db: Db) {
    this.#insert = db.prepare(
      `INSERT INTO sessions (id_hash, user_id, auth_method, auth_time, created_at, last_seen_at, expires_at)
       VALUES (@idHash, @userId, @authMethod, @authTime, @createdAt, @lastSeenAt, @expiresAt)`,
    );
    this.#live = db.prepare<[string, number, number], Row>(
      "SELECT * FROM sessions WHERE id_hash = ? AND ended_at IS NULL AND expires_at > ? AND last_seen_at > ?",
    );
    this.#touch = db.prepare<[number, string]>("UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?");
    this.#end = db.prepare<[number, string]>("UPDATE sessions SET ended_at = ? WHERE id_hash = ? AND ended_at IS NULL");
    // A session keeps one SessionIndex per app: a second sign-in to the app in the same session
    // reuses it, so every assertion the app holds names a session Gatehouse can still find.
    // Only into a session that is still live: one signed out (or ended by an administrator) while
    // this sign-in completed gets no app, and the caller issues no assertion for it.
    this.#addApp = db.prepare<[SessionApp & { sessionHash: string }], { sessionIndex: string }>(
      `INSERT INTO session_apps (session_hash, app_id, session_index, name_id, name_id_format, signed_in_at)
       SELECT @sessionHash, @appId, @sessionIndex, @nameId, @nameIdFormat, @signedInAt
       WHERE EXISTS (SELECT 1 FROM sessions WHERE id_hash = @sessionHash AND ended_at IS NULL AND expires_at > @signedInAt)
       ON CONFLICT (session_hash, app_id) DO UPDATE SET
         name_id = excluded.name_id, name_id_format = excluded.name_id_format, signed_in_at = excluded.signed_in_at
       RETURNING session_index AS sessionIndex`,
    );
    this.#apps = db.prepare<[string], SessionApp & { sessionHash: string }>(
      `SELECT app_id AS appId, session_index AS sessionIndex, name_id AS nameId, name_id_format AS nameIdFormat,
              signed_in_at AS signedInAt, session_hash AS sessionHash
       FROM session_apps WHERE session_hash = ? ORDER BY signed_in_at`,
    );
    this.#bySessionIndex = db.prepare<[string], { sessionHash: string; appId: string; nameId: string }>(
      "SELECT session_hash AS sessionHash, app_id AS appId, name_id AS nameId FROM session_apps WHERE session_index = ?",
    );
  }

  async add(s: Session): Promise<void> {
    this.#insert.run(s);
  }

  /** The session if it is neither ended, past its absolute lifetime, nor idle too long. */
  async live(idHash: string, now: number, idleMs: number): Promise<Session | undefined> {
    const r = this.#live.get(idHash, now, now - idleMs);
    return r && toSession(r);
  }

  async touch(idHash: string, now: number): Promise<void> {
    this.#touch.run(now, idHash);
  }

  async end(idHash: string, now: number): Promise<boolean> {
    return this.#end.run(now, idHash).changes === 1;
  }

  /**
   * Records a sign-in to the app in this session and returns the SessionIndex to assert: the
   * one the pair already has, or `a.sessionIndex` on the first sign-in; null when the session
   * has ended (at `a.signedInAt`).
   */
  async addApp(sessionHash: string, a: SessionApp): Promise<string | null> {
    return this.#addApp.get({ sessionHash, ...a })?.sessionIndex ?? null;
  }

  async apps(sessionHash: string): Promise<SessionApp[]> {
    return this.#apps.all(sessionHash);
  }

  async bySessionIndex(sessionIndex: string): Promise<{ sessionHash: string; appId: string; nameId: string } | undefined> {
    return this.#bySessionIndex.get(sessionIndex);
  }
}
