import fc from "fast-check";

/**
 * Addresses as their 128 bits (eight 16-bit groups) and every legal way to write them
 * (RFC 4291 §2.2, as net.isIP accepts): upper or lower case, leading zeros in a group, any run of
 * zero groups compressed to "::" or none, the last 32 bits as a dotted quad or not. For
 * ::ffff:a.b.c.d the bare dotted quad is one more spelling. Shared by the policy and client-IP tests.
 */
export type Groups = readonly number[];

const u16 = fc.nat(0xffff);
const low32 = fc.tuple(u16, u16);

/** Biased towards the addresses whose reading is in doubt: mapped, compatible, NAT64, SIIT, zero runs. */
export const groups: fc.Arbitrary<Groups> = fc.oneof(
  fc.array(u16, { minLength: 8, maxLength: 8 }),
  low32.map(([a, b]) => [0, 0, 0, 0, 0, 0xffff, a, b]), // IPv4-mapped: an IPv4 client
  low32.map(([a, b]) => [0, 0, 0, 0, 0, 0, a, b]), // IPv4-compatible (deprecated): IPv6
  low32.map(([a, b]) => [0x64, 0xff9b, 0, 0, 0, 0, a, b]), // NAT64: IPv6
  low32.map(([a, b]) => [0, 0, 0, 0, 0xffff, 0, a, b]), // SIIT ::ffff:0:a.b.c.d: IPv6
  fc.array(fc.oneof(fc.constant(0), fc.constant(0), u16), { minLength: 8, maxLength: 8 }),
);

export const toBig = (g: Groups): bigint => g.reduce((n, p) => (n << 16n) | BigInt(p), 0n);
export const fromBig = (n: bigint): Groups => Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn));
export const isMapped = (g: Groups): boolean => toBig(g) >> 32n === 0xffffn;
export const dottedQuad = (hi: number, lo: number): string => [hi >> 8, hi & 255, lo >> 8, lo & 255].join(".");

/** What the address is: IPv4 for ::ffff:0:0/96 only, else IPv6. */
export const meaning = (g: Groups): { family: 4; start: number; end: number } | { family: 6; start: bigint; end: bigint } => {
  const n = toBig(g);
  if (n >> 32n === 0xffffn) {
    const v4 = Number(n & 0xffffffffn);
    return { family: 4, start: v4, end: v4 };
  }
  return { family: 6, start: n, end: n };
};

/** One spelling of the address, chosen by fast-check. */
export const spelling = (g: Groups): fc.Arbitrary<string> =>
  fc
    .record({
      upper: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
      pad: fc.array(fc.nat(3), { minLength: 8, maxLength: 8 }),
      dotted: fc.boolean(),
      gap: fc.nat(),
      bare: fc.boolean(),
    })
    .map(({ upper, pad, dotted, gap, bare }) => {
      if (bare && isMapped(g)) return dottedQuad(g[6] as number, g[7] as number);
      const hex = g.map((p, i) => {
        const h = p.toString(16);
        const padded = h.padStart(Math.min(4, h.length + (pad[i] as number)), "0");
        return upper[i] ? padded.toUpperCase() : padded;
      });
      const tokens = dotted ? [...hex.slice(0, 6), dottedQuad(g[6] as number, g[7] as number)] : hex;
      // Runs of hex zero groups [i, j) that "::" may replace; index -1 stands for "no compression".
      const runs: [number, number][] = [];
      for (let i = 0; i < tokens.length; i++) for (let j = i + 1; j <= tokens.length && /^0+$/.test(tokens[j - 1] as string); j++) runs.push([i, j]);
      const choice = gap % (runs.length + 1);
      const run = runs[choice - 1];
      if (!run) return tokens.join(":");
      return `${tokens.slice(0, run[0]).join(":")}::${tokens.slice(run[1]).join(":")}`;
    });

/** An address together with several of its spellings. */
export const spelled = (n = 6): fc.Arbitrary<{ g: Groups; spellings: string[] }> =>
  groups.chain((g) => fc.array(spelling(g), { minLength: n, maxLength: n }).map((spellings) => ({ g, spellings })));
