import net from "node:net";
import ipaddr from "ipaddr.js";

/** An address range, as integers: IPv4 in a number, IPv6 in a bigint. */
export type Range = { family: 4; start: number; end: number } | { family: 6; start: bigint; end: bigint };

export class IpEntryError extends Error {}

const prefixPattern = /^(0|[1-9][0-9]*)$/;

const v4ToInt = (a: ipaddr.IPv4): number => a.octets.reduce((n, o) => n * 256 + o, 0);
const v6ToBig = (a: ipaddr.IPv6): bigint => a.parts.reduce((n, p) => (n << 16n) | BigInt(p), 0n);

/**
 * Parses one policy entry strictly: an IPv4 or IPv6 address or CIDR as `net.isIP` accepts it
 * (no octal, hex or short forms), no zone IDs, a prefix in range without leading zeros and
 * without host bits. IPv4-mapped IPv6 entries become the IPv4 entry they stand for.
 */
export function parseEntry(entry: string): Range {
  const parts = entry.split("/");
  if (parts.length > 2) throw new IpEntryError(`"${entry}" has more than one "/"`);
  const [addr = "", prefixText] = parts;
  if (addr.includes("%")) throw new IpEntryError(`"${entry}" has a zone ID, which a policy cannot use`);
  const family = net.isIP(addr);
  if (family === 0) throw new IpEntryError(`"${entry}" is not an IPv4 or IPv6 address${prefixText !== undefined ? " or CIDR" : ""}`);
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (prefixText !== undefined) {
    if (!prefixPattern.test(prefixText) || Number(prefixText) > max) throw new IpEntryError(`"${entry}" is not an IPv${family} CIDR (prefix must be 0-${max})`);
    prefix = Number(prefixText);
  }
  let parsed = ipaddr.parse(addr);
  if (parsed.kind() === "ipv6" && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    if (prefix < 96) throw new IpEntryError(`"${entry}" is an IPv4-mapped CIDR shorter than /96`);
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
    prefix -= 96;
  }
  if (parsed.kind() === "ipv4") {
    const start = v4ToInt(parsed as ipaddr.IPv4);
    const size = 2 ** (32 - prefix);
    if (start % size !== 0) throw new IpEntryError(`"${entry}" has host bits set (did you mean ${ipaddr.IPv4.networkAddressFromCIDR(`${parsed.toString()}/${prefix}`).toString()}/${prefix}?)`);
    return { family: 4, start, end: start + size - 1 };
  }
  const start = v6ToBig(parsed as ipaddr.IPv6);
  const hostBits = BigInt(128 - prefix);
  const mask = (1n << hostBits) - 1n;
  if ((start & mask) !== 0n) throw new IpEntryError(`"${entry}" has host bits set (did you mean ${ipaddr.IPv6.networkAddressFromCIDR(`${addr}/${prefix}`).toString()}/${prefix}?)`);
  return { family: 6, start, end: start | mask };
}

/** A client address as a range of one, or null when it is not a strict IP. */
export function parseAddress(ip: string): Range | null {
  const family = ip.includes("%") ? 0 : net.isIP(ip);
  if (family === 0) return null;
  // Already validated: parse with the family's own parser (ipaddr.process would validate again,
  // doubling the cost of the hottest line of a decision).
  let a: ipaddr.IPv4 | ipaddr.IPv6 = family === 4 ? ipaddr.IPv4.parse(ip) : ipaddr.IPv6.parse(ip);
  // IPv4-mapped IPv6 matches IPv4 entries.
  if (a instanceof ipaddr.IPv6 && a.isIPv4MappedAddress()) a = a.toIPv4Address();
  if (a instanceof ipaddr.IPv4) {
    const n = v4ToInt(a);
    return { family: 4, start: n, end: n };
  }
  const n = v6ToBig(a);
  return { family: 6, start: n, end: n };
}

/**
 * A compiled IP set: merged, sorted ranges per family, looked up by binary search, so a policy
 * with 100,000 entries decides in logarithmic time.
 */
export class IpSet {
  readonly #v4Starts: Float64Array;
  readonly #v4Ends: Float64Array;
  readonly #v6Starts: bigint[];
  readonly #v6Ends: bigint[];
  readonly size: number;

  constructor(ranges: readonly Range[]) {
    this.size = ranges.length;
    const v4 = merge(ranges.filter((r): r is Extract<Range, { family: 4 }> => r.family === 4).map((r) => [r.start, r.end] as [number, number]));
    const v6 = merge(ranges.filter((r): r is Extract<Range, { family: 6 }> => r.family === 6).map((r) => [r.start, r.end] as [bigint, bigint]));
    this.#v4Starts = Float64Array.from(v4.map((r) => r[0]));
    this.#v4Ends = Float64Array.from(v4.map((r) => r[1]));
    this.#v6Starts = v6.map((r) => r[0]);
    this.#v6Ends = v6.map((r) => r[1]);
  }

  has(address: Range): boolean {
    return address.family === 4 ? search(this.#v4Starts, this.#v4Ends, address.start) : search(this.#v6Starts, this.#v6Ends, address.start);
  }
}

function merge<T extends number | bigint>(ranges: [T, T][]): [T, T][] {
  ranges.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: [T, T][] = [];
  for (const r of ranges) {
    const last = out.at(-1);
    // Adjacent or overlapping ranges merge (end + 1 >= start).
    if (last && (typeof r[0] === "bigint" ? (last[1] as bigint) + 1n >= (r[0]) : (last[1] as number) + 1 >= (r[0]))) {
      if (r[1] > last[1]) last[1] = r[1];
    } else out.push([r[0], r[1]]);
  }
  return out;
}

function search<T extends number | bigint>(starts: ArrayLike<T>, ends: ArrayLike<T>, x: T): boolean {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if ((starts[mid] as T) > x) hi = mid - 1;
    else if ((ends[mid] as T) < x) lo = mid + 1;
    else return true;
  }
  return false;
}
