import type { Request, Response } from "express";
import type { AuditLog } from "../audit/audit.ts";
import type { Clock } from "../clock.ts";
import { randomToken, safeEqual, sha256 } from "../crypto/tokens.ts";
import type { CookieJar } from "../http/cookies.ts";
import { clientIp } from "../http/client-ip.ts";
import type { PolicyCatalog } from "../policy/catalog.ts";
import type { Device, DeviceRepository } from "../store/devices.ts";
import type { LoginPolicy } from "../store/login-policies.ts";
import type { User } from "../store/users.ts";
import { describeDevice } from "./device-context.ts";
import type { DeviceFacts } from "./policy-gate.ts";

export interface DeviceNotices {
  newDevice(user: User, device: string, ip: string, at: number): void;
  cloned(user: User, device: string, at: number): void;
}

// Two tabs signing in at once both present the token one of them is about to rotate; a stale
// copy seen this soon after its rotation is that race, not a clone. It is not the device either:
// a copy of the cookie would look the same (see `#identify`).
const rotationGraceMs = 60_000;
const cookiePattern = /^([A-Za-z0-9_-]{16,32})\.([A-Za-z0-9_-]{32,64})$/;

/** The smaller of two device limits, null meaning none. */
const minLimit = (a: number | null, b: number | null): number | null => (a === null ? b : b === null ? a : Math.min(a, b));

/**
 * The strictest device limit of the login policies in use: the default one (or the built-in
 * one when none is assigned) and every app's own. A device is registered only under it, so a
 * device admitted under a lax policy never counts as known under a stricter one.
 */
export async function strictestDeviceLimit(policies: Pick<PolicyCatalog, "get">, loginPolicies: { forApp(appId: null): Promise<LoginPolicy>; list(): Promise<LoginPolicy[]> }): Promise<number | null> {
  const [fallback, assigned] = await Promise.all([loginPolicies.forApp(null), loginPolicies.list()]);
  const names = new Set([fallback.policyName, ...assigned.map((lp) => lp.policyName)]);
  let limit: number | null = null;
  // A policy that is not loaded refuses every sign-in it governs (policy-gate): no limit from it.
  for (const name of names) limit = minLimit(limit, policies.get(name)?.deviceLimit ?? null);
  return limit;
}

export const deviceName = (d: Pick<Device, "browser" | "os" | "mobile">): string =>
  `${d.browser ?? "Unknown browser"} on ${d.os ?? "an unknown system"}${d.mobile ? " (mobile)" : ""}`;

/**
 * Devices as the lucia recipe has it: the cookie holds `id.secret`, the store the secret's hash,
 * compared in constant time. The secret rotates at every sign-in, so an old copy presented later
 * gives away a copied cookie: that device is revoked and its owner told.
 */
export class DeviceService {
  readonly #repo: DeviceRepository;
  readonly #cookies: CookieJar;
  readonly #clock: Clock;
  readonly #audit: AuditLog;
  readonly #notices: DeviceNotices;
  readonly #lifetimes: { deviceTrustMs: number; deviceCookieMs: number };
  readonly #strictestLimit: () => Promise<number | null>;

  constructor(deps: {
    repo: DeviceRepository;
    cookies: CookieJar;
    clock: Clock;
    audit: AuditLog;
    notices: DeviceNotices;
    lifetimes: { deviceTrustMs: number; deviceCookieMs: number };
    /** The strictest device limit any login policy in use applies (null: none). */
    strictestLimit: () => Promise<number | null>;
  }) {
    this.#repo = deps.repo;
    this.#cookies = deps.cookies;
    this.#clock = deps.clock;
    this.#audit = deps.audit;
    this.#notices = deps.notices;
    this.#lifetimes = deps.lifetimes;
    this.#strictestLimit = deps.strictestLimit;
  }

  /** This browser's registered device for this user, if it presents the current token. */
  async recognise(req: Request, user: User): Promise<Device | null> {
    const found = await this.#identify(req, user);
    return found?.token === "current" ? found.device : null;
  }

  /**
   * What the device cookie says about this browser. `current`: the device (current token, same
   * kind of browser and system). `replaced`: a token rotated away less than a minute ago, from the
   * same kind of browser: perhaps a second tab of the same browser, perhaps a copy, so it only
   * stops that device being registered a second time; it is never known to the policy, never
   * trusted, never rotated. An older replaced token gives a copy away: the device is revoked.
   */
  async #identify(req: Request, user: User): Promise<{ device: Device; token: "current" | "replaced"; hash: string } | null> {
    const m = cookiePattern.exec(this.#cookies.get(req, "device") ?? "");
    if (!m) return null;
    const [, id = "", secret = ""] = m;
    // Hashes before the row: a rotation by another tab between the two reads then shows up as a
    // later last-seen time (inside the grace), never as an old token with an old time (a "clone").
    const stored = await this.#repo.hashesOf(id);
    const device = await this.#repo.byId(id);
    // Another user's device (a shared browser, or a cookie stolen from someone else) is not this user's.
    if (!device || device.revokedAt !== null || device.userId !== user.id) return null;
    const hash = sha256(secret);
    // Coarse binding (SECURITY.md C.3): the cookie replayed from another browser or system is not this device.
    const described = describeDevice(req.get("user-agent"), req.get("sec-ch-ua-mobile"));
    const sameKind = (device.browser === null || described.browser === device.browser) && (device.os === null || described.os === device.os);
    if (stored && safeEqual(hash, stored.current)) return sameKind ? { device, token: "current", hash } : null;
    if (stored?.previous && safeEqual(hash, stored.previous)) {
      const now = this.#clock.now();
      if (now - device.lastSeenAt < rotationGraceMs) return sameKind ? { device, token: "replaced", hash } : null;
      // Of several requests presenting the copy at once, the one that revokes audits and tells the owner.
      if (await this.#repo.revoke(device.id, user.id, now)) {
        await this.#audit.record({ type: "device.revoked", outcome: "failure", userId: user.id, username: user.username, ip: clientIp(req), reason: "a replaced device token was presented again (copied cookie)", detail: { deviceId: device.id } });
        this.#notices.cloned(user, deviceName(device), now);
      }
    }
    return null;
  }

  async facts(req: Request, user: User): Promise<DeviceFacts> {
    const device = await this.recognise(req, user);
    const registered = await this.#repo.forUser(user.id);
    const now = this.#clock.now();
    return { known: device !== null, trusted: device !== null && (device.trustedUntil ?? 0) > now, registeredCount: registered.length };
  }

  /**
   * After a sign-in has passed: a known device gets a fresh token; a new one is registered while
   * the user is under the device limit, and the user is told about it. The limit is the smaller
   * of the one asked for (the sign-in's policy; null for none) and the strictest one any login
   * policy in use applies, so a device admitted here counts for every app. `trust` marks the
   * device trusted for the configured time.
   */
  async afterSignIn(req: Request, res: Response, user: User, opts: { limit: number | null; trust: boolean; transactionId: string }): Promise<Device | null> {
    const admitted = await this.admit(req, res, user, opts);
    return "device" in admitted ? admitted.device : null;
  }

  /** As `afterSignIn`, saying why a device was not admitted (the console tells the user). */
  async admit(req: Request, res: Response, user: User, opts: { limit: number | null; trust: boolean; transactionId: string }): Promise<{ device: Device } | { refused: "limit" | "token-replaced" | "rotated-meanwhile" }> {
    const now = this.#clock.now();
    const ip = clientIp(req);
    const base = { userId: user.id, username: user.username, ip, transactionId: opts.transactionId };
    const found = await this.#identify(req, user);
    if (found?.token === "replaced") {
      // Already registered, so not added again; but its holder gets neither a token nor trust.
      await this.#audit.record({ type: "device.not_registered", outcome: "info", ...base, reason: "a device token replaced less than a minute ago: not rotated, not trusted", detail: { deviceId: found.device.id } });
      return { refused: "token-replaced" };
    }
    const secret = randomToken(32);
    let device: Device;
    if (found) {
      // Compare-and-swap from the token this browser presented: of two requests with it, one rotates.
      if (!(await this.#repo.rotate(found.device.id, found.hash, sha256(secret), ip, now))) return { refused: "rotated-meanwhile" };
      device = found.device;
    } else {
      const limit = minLimit(opts.limit, await this.#strictestLimit());
      const described = describeDevice(req.get("user-agent"), req.get("sec-ch-ua-mobile"));
      const added = await this.#repo.addUnderLimit({ id: randomToken(16), userId: user.id, tokenHash: sha256(secret), ...described, ip, now }, limit);
      if (!added) {
        const registered = await this.#repo.forUser(user.id);
        await this.#audit.record({ type: "device.not_registered", outcome: "info", ...base, reason: `device limit ${String(limit)} reached`, detail: { registered: registered.length, asked: opts.limit } });
        return { refused: "limit" };
      }
      device = added;
      await this.#audit.record({ type: "device.registered", outcome: "success", ...base, detail: { deviceId: device.id, name: deviceName(device), limit } });
      // Told only once it is registered: a device turned away was never added to the account.
      this.#notices.newDevice(user, deviceName(device), ip, now);
    }
    this.#cookies.set(res, "device", `${device.id}.${secret}`, Math.floor(this.#lifetimes.deviceCookieMs / 1000));
    if (opts.trust) await this.trust(user, device.id, base);
    return { device: (await this.#repo.byId(device.id)) ?? device };
  }

  async untrust(user: User, deviceId: string, ip: string): Promise<boolean> {
    const ok = await this.#repo.setTrust(deviceId, user.id, null);
    if (ok) await this.#audit.record({ type: "device.untrusted", outcome: "success", userId: user.id, username: user.username, ip, detail: { deviceId } });
    return ok;
  }

  /** Removed by its owner: its cookie no longer counts, and it no longer takes a place under the limit. */
  async remove(user: User, deviceId: string, ip: string): Promise<boolean> {
    const ok = await this.#repo.revoke(deviceId, user.id, this.#clock.now());
    if (ok) await this.#audit.record({ type: "device.revoked", outcome: "success", userId: user.id, username: user.username, ip, reason: "removed by its owner", detail: { deviceId } });
    return ok;
  }

  async trust(user: User, deviceId: string, base: { ip: string; transactionId?: string }): Promise<boolean> {
    const until = this.#clock.now() + this.#lifetimes.deviceTrustMs;
    const ok = await this.#repo.setTrust(deviceId, user.id, until);
    if (ok) await this.#audit.record({ type: "device.trusted", outcome: "success", userId: user.id, username: user.username, ...base, detail: { deviceId, until: new Date(until).toISOString() } });
    return ok;
  }
}
