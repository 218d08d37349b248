import net from "node:net";
import ipaddr from "ipaddr.js";

/** An address range, as integers: IPv4 in a number, IPv6 in a bigint. */
export type Range = { family: 4; start: number; end: number } | { family: 6; start: bigint; end: bigint };

export class IpEntryError extends Error {}

const prefixPattern = /^(0|[1-9][0-9]*)$/;

/** The top 96 bits of an IPv4-mapped address (::ffff:0:0/96, RFC 4291 §2.5.5.2). */
const mappedHigh = 0xffffn;

/** A strict dotted quad (net.isIP has accepted it) as a 32-bit number. */
const v4Bits = (addr: string): number => addr.split(".").reduce((n, o) => n * 256 + Number(o), 0);

/**
 * A strict IPv6 address (net.isIP has accepted it) as 128 bits: "::" expanded, and a trailing
 * dotted quad read as the two groups it spells. Read here rather than by ipaddr.js, whose parser
 * turns `::a.b.c.d` (IPv4-compatible, RFC 4291 §2.2/§2.5.5.1) into `::ffff:a.b.c.d` (IPv4-mapped):
 * one is an IPv6 address, the other an IPv4 client.
 */
function v6Bits(addr: string): bigint {
  const groups = (s: string): number[] => (s === "" ? [] : s.split(":").flatMap((g) => (g.includes(".") ? [v4Bits(g) >>> 16, v4Bits(g) & 0xffff] : [Number.parseInt(g, 16)])));
  const gap = addr.indexOf("::");
  const head = groups(gap === -1 ? addr : addr.slice(0, gap));
  const tail = gap === -1 ? [] : groups(addr.slice(gap + 2));
  const parts = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  return parts.reduce((n, p) => (n << 16n) | BigInt(p), 0n);
}

const formatV4 = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
const formatV6 = (n: bigint): string => new ipaddr.IPv6(Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn))).toString();

/**
 * Parses one policy entry strictly: an IPv4 or IPv6 address or CIDR as `net.isIP` accepts it
 * (no octal, hex or short forms), no zone IDs, a prefix in range without leading zeros and
 * without host bits. IPv4-mapped entries (`::ffff:a.b.c.d/96+n`) are the IPv4 entry they stand
 * for; every other IPv6 entry, `::a.b.c.d` included, matches IPv6 clients only (even `::/0`).
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
  let v4: number | null = family === 4 ? v4Bits(addr) : null;
  const v6 = family === 6 ? v6Bits(addr) : 0n;
  if (family === 6 && v6 >> 32n === mappedHigh) {
    if (prefix < 96) throw new IpEntryError(`"${entry}" is an IPv4-mapped CIDR shorter than /96`);
    v4 = Number(v6 & 0xffffffffn);
    prefix -= 96;
  }
  if (v4 !== null) {
    const size = 2 ** (32 - prefix);
    if (v4 % size !== 0) throw new IpEntryError(`"${entry}" has host bits set (did you mean ${formatV4(v4 - (v4 % size))}/${prefix}?)`);
    return { family: 4, start: v4, end: v4 + size - 1 };
  }
  const mask = (1n << BigInt(128 - prefix)) - 1n;
  if ((v6 & mask) !== 0n) throw new IpEntryError(`"${entry}" has host bits set (did you mean ${formatV6(v6 & ~mask)}/${prefix}?)`);
  return { family: 6, start: v6, end: v6 | mask };
}

/**
 * A client address as a range of one, or null when it is not a strict IP. Only `::ffff:a.b.c.d`
 * (in any spelling) is an IPv4 client; `::a.b.c.d`, NAT64 and every other IPv6 address stay IPv6.
 */
export function parseAddress(ip: string): Range | null {
  const family = ip.includes("%") ? 0 : net.isIP(ip);
  if (family === 0) return null;
  if (family === 4) {
    const n = v4Bits(ip);
    return { family: 4, start: n, end: n };
  }
  const bits = v6Bits(ip);
  if (bits >> 32n === mappedHigh) {
    const n = Number(bits & 0xffffffffn);
    return { family: 4, start: n, end: n };
  }
  return { family: 6, start: bits, end: bits };
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
