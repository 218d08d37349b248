import net from "node:net";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { describe, expect, it } from "vitest";
import { compilePolicy, evaluate } from "../../src/policy/evaluate.ts";
import { IpEntryError, IpSet, parseAddress, parseEntry, type Range } from "../../src/policy/ip.ts";
import { parsePolicy } from "../../src/policy/load.ts";
import { fromBig, groups, isMapped, meaning, spelled, spelling, toBig, type Groups } from "./ip-spellings.ts";

describe("policy IP entries", () => {
  it.each([
    ["10.0.0.0/33", "prefix must be 0-32"],
    ["2001:db8::/129", "prefix must be 0-128"],
    ["10.0.0.0/ 8", "prefix must be 0-32"],
    ["10.0.0.0/-1", "prefix must be 0-32"],
    ["10.0.0.0/8/8", "more than one"],
    ["10.0.0.0/08", "prefix must be 0-32"],
    ["10.0.0.1/8", "host bits set (did you mean 10.0.0.0/8?)"],
    ["010.1.1.1", "not an IPv4 or IPv6 address"],
    ["0x7f.1", "not an IPv4 or IPv6 address"],
    ["4294967295", "not an IPv4 or IPv6 address"],
    ["1.2.3", "not an IPv4 or IPv6 address"],
    ["fe80::1%eth0", "zone ID"],
    ["fe80::%eth0/64", "zone ID"],
    ["::ffff:010.1.2.3", "not an IPv4 or IPv6 address"],
    ["::00000:1", "not an IPv4 or IPv6 address"],
    ["::10.0.0.1/104", "host bits set (did you mean ::a00:0/104?)"],
    ["::ffff:10.0.0.1/104", "host bits set (did you mean 10.0.0.0/8?)"],
    ["::ffff:0:0/80", "IPv4-mapped CIDR shorter than /96"],
  ])("refuses %s", (entry, why) => {
    expect(() => parseEntry(entry)).toThrow(IpEntryError);
    expect(() => parseEntry(entry)).toThrow(why);
  });

  it.each([
    ["0.0.0.0/0", "255.255.255.255", true],
    ["10.1.2.3/32", "10.1.2.3", true],
    ["10.1.2.3/32", "10.1.2.4", false],
    ["2001:db8::1/128", "2001:db8::1", true],
    ["::/0", "2001:db8::1", true],
    ["10.0.0.0/8", "::ffff:10.1.2.3", true], // IPv4-mapped IPv6 matches IPv4 entries
    ["::ffff:10.0.0.0/104", "10.200.0.1", true], // a mapped CIDR is the IPv4 CIDR
    ["10.0.0.0/8", "0:0:0:0:0:FFFF:0A01:0203", true],
    ["64:ff9b::/96", "64:ff9b::a01:203", true], // NAT64 stays IPv6
    ["10.0.0.0/8", "64:ff9b::a01:203", false],
    // ::a.b.c.d is IPv4-compatible IPv6 (RFC 4291 §2.5.5.1, deprecated), the address ::a01:203,
    // however it is written; only ::ffff:a.b.c.d is an IPv4 client.
    ["10.0.0.0/8", "::10.1.2.3", false],
    ["10.0.0.0/8", "::a01:203", false],
    ["10.0.0.0/8", "::ffff:0:10.1.2.3", false], // SIIT (RFC 6145) is IPv6 too
    ["::10.0.0.0/104", "::a01:203", true],
    ["::10.0.0.0/104", "::10.1.2.3", true],
    ["::a00:0/104", "0:0:0:0:0:0:10.255.255.255", true],
    ["::10.0.0.0/104", "10.1.2.3", false],
    ["::10.0.0.0/104", "::ffff:10.1.2.3", false],
    ["::10.1.2.3", "::a01:203", true],
    ["::10.1.2.3", "10.1.2.3", false],
    // An IPv6 CIDR never matches an IPv4 client, even one that spans ::ffff:0:0/96: ::/0 means every IPv6 client.
    ["::/0", "10.1.2.3", false],
    ["::/0", "::ffff:10.1.2.3", false],
    ["::/0", "::10.1.2.3", true],
  ])("%s contains %s: %s", (entry, address, expected) => {
    expect(new IpSet([parseEntry(entry)]).has(parseAddress(address) as Range)).toBe(expected);
  });

  it("reads lenient or zoned client addresses as missing, not as unlisted", () => {
    for (const raw of ["0x7f.1", "010.1.1.1", "::ffff:010.1.1.1", "fe80::1%eth0", "1.2.3.4:80", "[::1]", " 1.2.3.4", "unknown"]) expect(parseAddress(raw)).toBeNull();
  });
});

describe("compiled IP sets", () => {
  const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join("."));
  const v6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((p) => p.map((x) => x.toString(16)).join(":"));
  const cidr = fc.oneof(
    fc.tuple(v4, fc.nat(32)).map(([a, p]) => `${ipaddr.IPv4.networkAddressFromCIDR(`${a}/${p}`).toString()}/${p}`),
    fc.tuple(v6, fc.nat(128)).map(([a, p]) => `${ipaddr.IPv6.networkAddressFromCIDR(`${a}/${p}`).toString()}/${p}`),
  );
  // Addresses near the entries as well as random ones, so both answers are exercised.
  const address = fc.oneof(v4, v6, v4.map((a) => `::ffff:${a}`));

  it("agree with a naive ipaddr.js scan on random lists and addresses", () => {
    fc.assert(
      fc.property(fc.array(cidr, { minLength: 0, maxLength: 40 }), fc.array(address, { minLength: 1, maxLength: 40 }), (entries, addresses) => {
        const set = new IpSet(entries.map(parseEntry));
        const parsed = entries.map((e) => ipaddr.parseCIDR(e));
        const probes = [...addresses, ...entries.map((e) => e.split("/")[0] as string)];
        for (const a of probes) {
          // Probes here never use the ::a.b.c.d spelling, which ipaddr.js misreads as IPv4-mapped.
          const addr = ipaddr.process(a);
          const naive = parsed.some(([net, bits]) => net.kind() === addr.kind() && addr.match([net, bits] as never));
          expect(set.has(parseAddress(a) as Range), `${a} in ${entries.join(",")}`).toBe(naive);
        }
      }),
      { numRuns: 300 },
    );
  });
});

// One address, one decision: every spelling of a client address and of an entry is read as the
// same bits, and agrees with Node's own BlockList, an implementation that shares no code with ours.
describe("every spelling of an address gives one decision", () => {
  const mappedRange = { start: 0xffffn << 32n, end: (0xffffn << 32n) | 0xffffffffn };

  /** An entry: a network (host bits cleared) and a prefix, with several spellings of it. */
  const entry = fc
    .tuple(groups, fc.oneof(fc.nat(128), fc.integer({ min: 96, max: 128 })))
    .map(([g, prefix]) => {
      const mask = (1n << BigInt(128 - prefix)) - 1n;
      const network = fromBig(toBig(g) & ~mask);
      return { network, prefix, start: toBig(network), end: toBig(network) | mask };
    })
    .chain((e) =>
      fc.array(spelling(e.network), { minLength: 4, maxLength: 4 }).map((spellings) => ({
        ...e,
        // The bare dotted quad of a mapped network is an IPv4 CIDR: its prefix counts 32 bits, not 128.
        texts: spellings.map((s) => (s.includes(":") ? `${s}/${e.prefix}` : `${s}/${e.prefix - 96}`)),
      })),
    )
    // Mapped networks shorter than /96 are refused as entries (tested above).
    .filter((e) => !(e.prefix < 96 && isMapped(e.network)));

  type Entry = typeof entry extends fc.Arbitrary<infer T> ? T : never;

  /** An IPv6 entry that spans the whole mapped range: BlockList lets IPv4 clients match it, we do not (see README). */
  const spansMapped = (e: Entry): boolean => e.prefix < 96 && e.start <= mappedRange.start && e.end >= mappedRange.end;

  /** Node's answer, with the one documented difference taken out. */
  const oracle = (entries: Entry[], g: Groups, text: string): boolean => {
    const list = new net.BlockList();
    const v4Client = isMapped(g);
    for (const e of entries) {
      if (v4Client && spansMapped(e)) continue;
      const text0 = e.texts[0] as string;
      const [addr = "", prefix] = text0.split("/");
      list.addSubnet(addr, Number(prefix), net.isIPv4(addr) ? "ipv4" : "ipv6");
    }
    return list.check(text, net.isIPv4(text) ? "ipv4" : "ipv6");
  };

  it("client side: all spellings read as the same address, IPv4 only for ::ffff:0:0/96", () => {
    fc.assert(
      fc.property(spelled(8), ({ g, spellings }) => {
        for (const s of spellings) expect(parseAddress(s), s).toEqual(meaning(g));
      }),
      { numRuns: 2000 },
    );
  });

  it("entry side: all spellings of an entry compile to the same range", () => {
    fc.assert(
      fc.property(entry, (e) => {
        const ranges = e.texts.map(parseEntry);
        const want: Range = isMapped(e.network) ? { family: 4, start: Number(e.start & 0xffffffffn), end: Number(e.end & 0xffffffffn) } : { family: 6, start: e.start, end: e.end };
        for (const [i, r] of ranges.entries()) expect(r, e.texts[i]).toEqual(want);
      }),
      { numRuns: 2000 },
    );
  });

  it("decisions: every spelling of a client against every spelling of a list agrees, and agrees with net.BlockList", () => {
    // Clients inside, at the edges of and just outside the entries, as well as random ones.
    const near = (entries: Entry[]) =>
      fc.oneof(
        groups,
        ...entries.flatMap((e) => [e.start, e.end, e.start - 1n, e.end + 1n].filter((n) => n >= 0n && n < 1n << 128n).map((n) => fc.constant(fromBig(n)))),
      );
    fc.assert(
      fc.property(
        fc.array(entry, { minLength: 1, maxLength: 6 }).chain((entries) =>
          fc.tuple(fc.constant(entries), fc.array(near(entries).chain((g) => fc.array(spelling(g), { minLength: 4, maxLength: 4 }).map((s) => ({ g, spellings: s }))), { minLength: 1, maxLength: 8 })),
        ),
        ([entries, clients]) => {
          // The same list compiled from each entry's spellings.
          const sets = [0, 1, 2, 3].map((k) => new IpSet(entries.map((e) => parseEntry(e.texts[k] as string))));
          for (const { g, spellings } of clients) {
            const answers = sets.flatMap((set) => spellings.map((s) => set.has(parseAddress(s) as Range)));
            const expected = oracle(entries, g, spellings[0] as string);
            expect(answers, `${spellings.join(" | ")} in ${entries.map((e) => e.texts.join(" = ")).join(", ")}`).toEqual(answers.map(() => expected));
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it("the policy itself: one decision per client, whatever its spelling", () => {
    const p = compilePolicy(parsePolicy(`name: t\nversion: 1\nrules:\n  - name: office\n    when: { ip: { in: [10.0.0.0/8, "::10.0.0.0/104", "2001:db8::/32"] } }\n    then: allow\ndefault: { deny: { message: no } }`, "t.yaml"));
    fc.assert(
      fc.property(
        fc.oneof(spelled(4), ...[[0, 0, 0, 0, 0, 0xffff, 0x0a01, 0x0203], [0, 0, 0, 0, 0, 0, 0x0a01, 0x0203], [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]].map((g) => fc.array(spelling(g), { minLength: 4, maxLength: 4 }).map((spellings) => ({ g, spellings })))),
        ({ g, spellings }) => {
          const want = meaning(g);
          const inside = want.family === 4 ? want.start >>> 24 === 10 : (want.start >> 24n) === 0x0an || want.start >> 96n === 0x20010db8n;
          for (const s of spellings) expect(evaluate(p, { ip: s, device: { mobile: false, os: null, browser: null, known: true, trusted: false, registeredCount: 0 }, user: { groups: [] }, now: 0 }).action, s).toBe(inside ? "allow" : "deny");
        },
      ),
      { numRuns: 1000 },
    );
  });
});
