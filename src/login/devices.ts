import type { Request, Response } from "express";
import type { AuditLog } from "../audit/audit.ts";
import type { Clock } from "../clock.ts";
import { randomToken, safeEqual, sha256 } from "../crypto/tokens.ts";
import type { CookieJar } from "../http/cookies.ts";
import { clientIp } from "../http/client-ip.ts";
import type { Device, DeviceRepository } from "../store/devices.ts";
import type { User } from "../store/users.ts";
import { describeDevice } from "./device-context.ts";
import type { DeviceFacts } from "./policy-gate.ts";

export interface DeviceNotices {
  newDevice(user: User, device: string, ip: string, at: number): void;
  cloned(user: User, device: string, at: number): void;
}

// Two tabs signing in at once both present the token one of them is about to rotate; a stale
// copy seen this soon after its rotation is that race, not a clone.
const rotationGraceMs = 60_000;
const cookiePattern = /^([A-Za-z0-9_-]{16,32})\.([A-Za-z0-9_-]{32,64})$/;

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

  constructor(deps: { repo: DeviceRepository; cookies: CookieJar; clock: Clock; audit: AuditLog; notices: DeviceNotices; lifetimes: { deviceTrustMs: number; deviceCookieMs: number } }) {
    this.#repo = deps.repo;
    this.#cookies = deps.cookies;
    this.#clock = deps.clock;
    this.#audit = deps.audit;
    this.#notices = deps.notices;
    this.#lifetimes = deps.lifetimes;
  }

  /** This browser's registered device for this user, if it presents the current token. */
  recognise(req: Request, user: User): Device | null {
    const m = cookiePattern.exec(this.#cookies.get(req, "device") ?? "");
    if (!m) return null;
    const [, id = "", secret = ""] = m;
    const device = this.#repo.byId(id);
    // Another user's device (a shared browser, or a cookie stolen from someone else) is not this user's.
    if (!device || device.revokedAt !== null || device.userId !== user.id) return null;
    const hash = sha256(secret);
    const stored = this.#repo.hashesOf(id);
    if (stored && safeEqual(hash, stored.current)) {
      // Coarse binding (SECURITY.md C.3): the cookie replayed from another browser or system is not this device.
      const described = describeDevice(req.get("user-agent"), req.get("sec-ch-ua-mobile"));
      const sameKind = (device.browser === null || described.browser === device.browser) && (device.os === null || described.os === device.os);
      return sameKind ? device : null;
    }
    if (stored?.previous && safeEqual(hash, stored.previous)) {
      const now = this.#clock.now();
      if (now - device.lastSeenAt < rotationGraceMs) return device;
      this.#repo.revoke(device.id, user.id, now);
      this.#audit.record({ type: "device.revoked", outcome: "failure", userId: user.id, username: user.username, ip: clientIp(req), reason: "a replaced device token was presented again (copied cookie)", detail: { deviceId: device.id } });
      this.#notices.cloned(user, deviceName(device), now);
    }
    return null;
  }

  facts(req: Request, user: User): DeviceFacts {
    const device = this.recognise(req, user);
    const now = this.#clock.now();
    return { known: device !== null, trusted: device !== null && (device.trustedUntil ?? 0) > now, registeredCount: this.#repo.forUser(user.id).length };
  }

  /**
   * After a sign-in has passed: a known device gets a fresh token; a new one is registered while
   * the user is under the policy's device limit, and the user is told about it. `trust` marks the
   * device trusted for the configured time.
   */
  afterSignIn(req: Request, res: Response, user: User, opts: { limit: number | null; trust: boolean; transactionId: string }): Device | null {
    const now = this.#clock.now();
    const ip = clientIp(req);
    const base = { userId: user.id, username: user.username, ip, transactionId: opts.transactionId };
    let device = this.recognise(req, user);
    const secret = randomToken(32);
    if (device) {
      const from = this.#repo.hashesOf(device.id)?.current ?? "";
      if (!this.#repo.rotate(device.id, from, sha256(secret), ip, now)) return device; // a concurrent sign-in rotated it
    } else {
      const described = describeDevice(req.get("user-agent"), req.get("sec-ch-ua-mobile"));
      this.#notices.newDevice(user, deviceName(described), ip, now);
      const added = this.#repo.addUnderLimit({ id: randomToken(16), userId: user.id, tokenHash: sha256(secret), ...described, ip, now }, opts.limit);
      if (!added) {
        this.#audit.record({ type: "device.not_registered", outcome: "info", ...base, reason: `device limit ${String(opts.limit)} reached`, detail: { registered: this.#repo.forUser(user.id).length } });
        return null;
      }
      device = added;
      this.#audit.record({ type: "device.registered", outcome: "success", ...base, detail: { deviceId: device.id, name: deviceName(device) } });
    }
    this.#cookies.set(res, "device", `${device.id}.${secret}`, Math.floor(this.#lifetimes.deviceCookieMs / 1000));
    if (opts.trust) this.trust(user, device.id, base);
    return this.#repo.byId(device.id) ?? device;
  }

  untrust(user: User, deviceId: string, ip: string): boolean {
    const ok = this.#repo.setTrust(deviceId, user.id, null);
    if (ok) this.#audit.record({ type: "device.untrusted", outcome: "success", userId: user.id, username: user.username, ip, detail: { deviceId } });
    return ok;
  }

  /** Removed by its owner: its cookie no longer counts, and it no longer takes a place under the limit. */
  remove(user: User, deviceId: string, ip: string): boolean {
    const ok = this.#repo.revoke(deviceId, user.id, this.#clock.now());
    if (ok) this.#audit.record({ type: "device.revoked", outcome: "success", userId: user.id, username: user.username, ip, reason: "removed by its owner", detail: { deviceId } });
    return ok;
  }

  trust(user: User, deviceId: string, base: { ip: string; transactionId?: string }): boolean {
    const until = this.#clock.now() + this.#lifetimes.deviceTrustMs;
    const ok = this.#repo.setTrust(deviceId, user.id, until);
    if (ok) this.#audit.record({ type: "device.trusted", outcome: "success", userId: user.id, username: user.username, ...base, detail: { deviceId, until: new Date(until).toISOString() } });
    return ok;
  }
}
