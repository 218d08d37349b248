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

/**
 * One spelling per address: IPv4 as a dotted quad (IPv4-mapped `::ffff:a.b.c.d` included), IPv6 as
 * RFC 5952 text. `::a.b.c.d` (IPv4-compatible, deprecated, RFC 4291 §2.5.5.1), which Node itself
 * writes for a peer `::a01:203`, is an IPv6 address: its dotted quad is turned into hex groups
 * before ipaddr.js reads it, because ipaddr.js would take it for IPv4-mapped.
 */
export function normaliseIp(raw: string): string {
  const family = raw.includes("%") ? 0 : net.isIP(raw);
  if (family === 0) return "unknown";
  if (family === 4) return raw; // net.isIP takes only the strict dotted quad, already canonical
  const v6 = ipaddr.IPv6.parse(raw.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a: string, b: string, c: string, d: string) => `${((+a << 8) | +b).toString(16)}:${((+c << 8) | +d).toString(16)}`));
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address().toString() : v6.toString();
}

/**
 * The keys a client address is counted under (SECURITY.md B.6), from `clientIp`'s output: the
 * address itself (an IPv6 /64, since one subscriber holds a whole /64) and the network around it
 * (an IPv4 /24, an IPv6 /48). "unknown" and anything unreadable are one bucket of their own.
 */
export function networkKeys(ip: string): { address: string; network: string } {
  const normal = normaliseIp(ip);
  if (normal === "unknown") return { address: "unknown", network: "unknown" };
  if (net.isIPv4(normal)) return { address: normal, network: `${normal.split(".").slice(0, 3).join(".")}.0/24` };
  const groups = ipaddr.IPv6.parse(normal).parts.map((p) => p.toString(16));
  return { address: `${groups.slice(0, 4).join(":")}::/64`, network: `${groups.slice(0, 3).join(":")}::/48` };
}

/**
 * Express `trust proxy` from the configured list: never `true`, which trusts any client's header.
 * A function over Node's own BlockList rather than the list itself: Express's proxy-addr reads a
 * hop `::a.b.c.d` as the IPv4 address a.b.c.d, so `::10.1.2.3` would pass as a proxy in 10.0.0.0/8
 * and could choose the client IP.
 */
export function trustProxySetting(proxies: readonly string[]): ((addr: string) => boolean) | false {
  if (proxies.length === 0) return false;
  const trusted = new net.BlockList();
  for (const entry of proxies) {
    const [addr = "", prefix] = entry.split("/");
    const type = net.isIPv4(addr) ? "ipv4" : "ipv6";
    if (prefix === undefined) trusted.addAddress(addr, type);
    else trusted.addSubnet(addr, Number(prefix), type);
  }
  return (addr) => {
    const family = addr.includes("%") ? 0 : net.isIP(addr);
    return family !== 0 && trusted.check(addr, family === 4 ? "ipv4" : "ipv6");
  };
}
