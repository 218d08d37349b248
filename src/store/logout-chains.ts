import type { Db } from "./db.ts";

export interface PendingLogout {
  appId: string;
  nameId: string;
  nameIdFormat: string;
  sessionIndex: string;
}

export interface LogoutChain {
  id: string;
  pending: PendingLogout[];
  currentRequestId: string | null;
  currentAppId: string | null;
  initiatorAppId: string | null;
  initiatorRequestId: string | null;
  relayState: string | null;
  expiresAt: number;
}

interface Row {
  id: string;
  pending_json: string;
  current_request_id: string | null;
  current_app_id: string | null;
  initiator_app_id: string | null;
  initiator_request_id: string | null;
  relay_state: string | null;
  expires_at: number;
}

const toChain = (r: Row): LogoutChain => ({
  id: r.id,
  pending: JSON.parse(r.pending_json) as PendingLogout[],
  currentRequestId: r.current_request_id,
  currentAppId: r.current_app_id,
  initiatorAppId: r.initiator_app_id,
  initiatorRequestId: r.initiator_request_id,
  relayState: r.relay_state,
  expiresAt: r.expires_at,
});

/** A single logout in progress: the apps still to be told, one front-channel redirect at a time. */
export class LogoutChainRepository {
  readonly #save;
  readonly #byRequest;
  readonly #remove;
  readonly #claim;

  constructor(db: Db) {
    this.#save = db.prepare(
      `INSERT INTO logout_chains (id, pending_json, current_request_id, current_app_id, initiator_app_id, initiator_request_id, relay_state, expires_at)
       VALUES (@id, @pending, @currentRequestId, @currentAppId, @initiatorAppId, @initiatorRequestId, @relayState, @expiresAt)
       ON CONFLICT (id) DO UPDATE SET pending_json = excluded.pending_json, current_request_id = excluded.current_request_id,
         current_app_id = excluded.current_app_id`,
    );
    this.#byRequest = db.prepare<[string, number], Row>("SELECT * FROM logout_chains WHERE current_request_id = ? AND expires_at > ?");
    this.#remove = db.prepare<[string]>("DELETE FROM logout_chains WHERE id = ?");
    // Our LogoutRequest is single-use: of two copies of its response, one moves the chain on.
    this.#claim = db.prepare<[{ id: string; requestId: string }]>("UPDATE logout_chains SET current_request_id = NULL WHERE id = @id AND current_request_id = @requestId");
  }

  /** Takes the chain past the answered request; false if another response already did. */
  async claim(id: string, requestId: string): Promise<boolean> {
    return this.#claim.run({ id, requestId }).changes === 1;
  }

  async save(c: LogoutChain): Promise<void> {
    this.#save.run({ ...c, pending: JSON.stringify(c.pending) });
  }

  async byCurrentRequest(requestId: string, now: number): Promise<LogoutChain | undefined> {
    const r = this.#byRequest.get(requestId, now);
    return r && toChain(r);
  }

  async remove(id: string): Promise<void> {
    this.#remove.run(id);
  }
}
