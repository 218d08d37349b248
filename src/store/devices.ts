import type { Db } from "./db.ts";

export interface Device {
  id: string;
  userId: string;
  browser: string | null;
  os: string | null;
  mobile: boolean | null;
  firstSeenAt: number;
  lastSeenAt: number;
  lastIp: string;
  trustedUntil: number | null;
  revokedAt: number | null;
}

interface Row {
  id: string;
  user_id: string;
  browser: string | null;
  os: string | null;
  mobile: number | null;
  first_seen_at: number;
  last_seen_at: number;
  last_ip: string;
  trusted_until: number | null;
  revoked_at: number | null;
}

const toDevice = (r: Row): Device => ({
  id: r.id,
  userId: r.user_id,
  browser: r.browser,
  os: r.os,
  mobile: r.mobile === null ? null : r.mobile === 1,
  firstSeenAt: r.first_seen_at,
  lastSeenAt: r.last_seen_at,
  lastIp: r.last_ip,
  trustedUntil: r.trusted_until,
  revokedAt: r.revoked_at,
});

export interface NewDevice {
  id: string;
  userId: string;
  tokenHash: string;
  browser: string | null;
  os: string | null;
  mobile: boolean | null;
  ip: string;
  now: number;
}

/** Registered devices; tokens are stored only as hashes. */
export class DeviceRepository {
  readonly #hashes;
  readonly #byId;
  readonly #forUser;
  readonly #rotate;
  readonly #trust;
  readonly #revoke;
  readonly #untrustAll;
  readonly #addUnder;

  constructor(db: Db) {
    this.#hashes = db.prepare<[string], { current: string; previous: string | null }>("SELECT token_hash AS current, previous_token_hash AS previous FROM devices WHERE id = ?");
    this.#byId = db.prepare<[string], Row>("SELECT * FROM devices WHERE id = ?");
    this.#forUser = db.prepare<[string], Row>("SELECT * FROM devices WHERE user_id = ? AND revoked_at IS NULL ORDER BY last_seen_at DESC");
    // Compare-and-swap on the current hash: of two requests presenting the same token, one rotates.
    this.#rotate = db.prepare<[{ id: string; from: string; to: string; ip: string; now: number }]>(
      "UPDATE devices SET previous_token_hash = token_hash, token_hash = @to, last_seen_at = @now, last_ip = @ip WHERE id = @id AND token_hash = @from AND revoked_at IS NULL",
    );
    this.#trust = db.prepare<[{ id: string; userId: string; until: number | null }]>("UPDATE devices SET trusted_until = @until WHERE id = @id AND user_id = @userId AND revoked_at IS NULL");
    this.#untrustAll = db.prepare<[string]>("UPDATE devices SET trusted_until = NULL WHERE user_id = ? AND revoked_at IS NULL AND trusted_until IS NOT NULL");
    // Count and insert in one statement: two parallel sign-ins cannot both take the last place.
    this.#addUnder = db.prepare<[Record<string, unknown>]>(
      `INSERT INTO devices (id, user_id, token_hash, browser, os, mobile, first_seen_at, last_seen_at, last_ip)
       SELECT @id, @userId, @tokenHash, @browser, @os, @mobile, @now, @now, @ip
       WHERE @limit IS NULL OR (SELECT count(*) FROM devices WHERE user_id = @userId AND revoked_at IS NULL) < @limit`,
    );
    this.#revoke = db.prepare<[{ id: string; userId: string; now: number }]>("UPDATE devices SET revoked_at = @now WHERE id = @id AND user_id = @userId AND revoked_at IS NULL");
  }

  /** Registers the device unless the user already has `limit` (null: no limit); undefined when full. */
  async addUnderLimit(d: NewDevice, limit: number | null): Promise<Device | undefined> {
    const changes = this.#addUnder.run({ ...d, mobile: d.mobile === null ? null : d.mobile ? 1 : 0, limit }).changes;
    return changes === 1 ? await this.byId(d.id) : undefined;
  }

  async untrustAll(userId: string): Promise<number> {
    return this.#untrustAll.run(userId).changes;
  }

  async byId(id: string): Promise<Device | undefined> {
    const r = this.#byId.get(id);
    return r && toDevice(r);
  }

  /** The current token's hash and the one before the last rotation; kept out of Device on purpose. */
  async hashesOf(id: string): Promise<{ current: string; previous: string | null } | undefined> {
    return this.#hashes.get(id);
  }

  async forUser(userId: string): Promise<Device[]> {
    return this.#forUser.all(userId).map(toDevice);
  }

  async rotate(id: string, fromHash: string, toHash: string, ip: string, now: number): Promise<boolean> {
    return this.#rotate.run({ id, from: fromHash, to: toHash, ip, now }).changes === 1;
  }

  async setTrust(id: string, userId: string, until: number | null): Promise<boolean> {
    return this.#trust.run({ id, userId, until }).changes === 1;
  }

  async revoke(id: string, userId: string, now: number): Promise<boolean> {
    return this.#revoke.run({ id, userId, now }).changes === 1;
  }
}
