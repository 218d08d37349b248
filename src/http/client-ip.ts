import net from "node:net";
import ipaddr from "ipaddr.js";
import type { Request } from "express";

/**
 * The client's IP, normalised: Express has already walked X-Forwarded-For through the configured
 * trusted proxies only. Anything that is not a strict IP (lenient forms, zone IDs, garbage a
 * proxy passed on) becomes "unknown" so the policy can treat it explicitly.
 */
export function clientIp(req: Request): string {
  return normaliseIp(req.ip ?? "");
}

export function normaliseIp(raw: string): string {
  if (raw.includes("%") || net.isIP(raw) === 0) return "unknown";
  return ipaddr.process(raw).toString();
}

/** Express `trust proxy` from the configured list: never `true`, which trusts any client's header. */
export const trustProxySetting = (proxies: readonly string[]): string[] | false => (proxies.length > 0 ? [...proxies] : false);
