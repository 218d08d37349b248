import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { describe, expect, it } from "vitest";
import { IpEntryError, IpSet, parseAddress, parseEntry } from "../../src/policy/ip.ts";

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
    ["10.0.0.0/8", "::10.1.2.3", true], // deprecated IPv4-compatible form, unwrapped by ipaddr.js process()
    ["64:ff9b::/96", "64:ff9b::a01:203", true], // NAT64 stays IPv6
    ["10.0.0.0/8", "64:ff9b::a01:203", false],
  ])("%s contains %s: %s", (entry, address, expected) => {
    expect(new IpSet([parseEntry(entry)]).has(parseAddress(address) as NonNullable<ReturnType<typeof parseAddress>>)).toBe(expected);
  });

  it("reads lenient or zoned client addresses as missing, not as unlisted", () => {
    for (const raw of ["0x7f.1", "010.1.1.1", "fe80::1%eth0", "1.2.3.4:80", "[::1]", " 1.2.3.4", "unknown"]) expect(parseAddress(raw)).toBeNull();
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
          const addr = ipaddr.process(a);
          const naive = parsed.some(([net, bits]) => net.kind() === addr.kind() && addr.match([net, bits] as never));
          expect(set.has(parseAddress(a) as NonNullable<ReturnType<typeof parseAddress>>), `${a} in ${entries.join(",")}`).toBe(naive);
        }
      }),
      { numRuns: 300 },
    );
  });
});
