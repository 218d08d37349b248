/**
 * How the peer's address reaches the policy. Node writes a peer ::a01:203 as "::10.1.2.3", and
 * ipaddr.js (used by Express's proxy-addr and, before, by us) reads that spelling as the IPv4
 * address 10.1.2.3: such a client passed an IPv4 allow-list, and as a proxy hop it was trusted
 * as if it were in 10.0.0.0/8 and could choose the client IP. Only ::ffff:a.b.c.d is IPv4.
 */
import { createServer, type Server } from "node:http";
import fc from "fast-check";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientIp, networkKeys, normaliseIp, trustProxySetting } from "../../src/http/client-ip.ts";
import { parseAddress } from "../../src/policy/ip.ts";
import { Browser, readForm } from "../helpers/client.ts";
import { startGatehouse, type TestGatehouse } from "../helpers/gatehouse.ts";
import { meaning, spelled } from "../policy/ip-spellings.ts";

describe("normalising a client IP", () => {
  it.each([
    ["10.1.2.3", "10.1.2.3"],
    ["::ffff:10.1.2.3", "10.1.2.3"],
    ["::FFFF:0A01:0203", "10.1.2.3"],
    ["0:0:0:0:0:ffff:10.1.2.3", "10.1.2.3"],
    ["::10.1.2.3", "::a01:203"], // IPv4-compatible: IPv6, not 10.1.2.3
    ["0:0:0:0:0:0:10.1.2.3", "::a01:203"],
    ["::ffff:0:10.1.2.3", "::ffff:0:a01:203"], // SIIT: IPv6
    ["64:ff9b::10.1.2.3", "64:ff9b::a01:203"], // NAT64: IPv6
    ["2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["::", "::"],
    ["::0.0.0.0", "::"],
    ["fe80::1%eth0", "unknown"],
    ["010.1.2.3", "unknown"],
    ["::ffff:010.1.2.3", "unknown"],
    ["[::1]", "unknown"],
    ["", "unknown"],
  ])("%s is %s", (raw, expected) => {
    expect(normaliseIp(raw)).toBe(expected);
  });

  it("writes every spelling of one address the same way, and the policy reads that as the same address", () => {
    fc.assert(
      fc.property(spelled(8), ({ g, spellings }) => {
        const written = spellings.map(normaliseIp);
        expect(new Set(written).size, spellings.join(" | ")).toBe(1);
        expect(parseAddress(written[0] as string)).toEqual(meaning(g));
        // No dotted quad in an IPv6 result: the throttles' and rate limits' own ipaddr.js reading
        // of this string would take ::a.b.c.d for IPv4.
        expect(written[0]?.includes(".")).toBe(meaning(g).family === 4);
        // Already normal: normalising again changes nothing.
        expect(normaliseIp(written[0] as string)).toBe(written[0]);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("the keys an address is throttled under", () => {
  it.each([
    ["192.0.2.7", "192.0.2.7", "192.0.2.0/24"],
    ["::ffff:192.0.2.7", "192.0.2.7", "192.0.2.0/24"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64", "2001:db8:1::/48"],
    ["2001:DB8:1:2::9", "2001:db8:1:2::/64", "2001:db8:1::/48"],
    ["::10.1.2.3", "0:0:0:0::/64", "0:0:0::/48"], // IPv6, never the IPv4 address 10.1.2.3
    ["garbage", "unknown", "unknown"],
  ])("%s counts as %s within %s", (ip, address, network) => {
    expect(networkKeys(ip)).toEqual({ address, network });
  });

  it("gives every spelling of an address the same keys", () => {
    fc.assert(
      fc.property(fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff })), ([a, b, c, d]) => {
        const hex = [0x2001, 0xdb8, a, b, c, d, 1, 2].map((g) => g.toString(16));
        expect(networkKeys(hex.join(":").toUpperCase())).toEqual(networkKeys(hex.map((g) => g.padStart(4, "0")).join(":")));
      }),
    );
  });
});

describe("trusted proxies (real HTTP through Express)", () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    const app = express();
    app.set("trust proxy", trustProxySetting(["127.0.0.1", "10.0.0.0/8"]));
    app.get("/", (req, res) => {
      res.type("text").send(clientIp(req));
    });
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it.each([
    ["", "127.0.0.1"],
    ["203.0.113.9", "203.0.113.9"],
    ["203.0.113.9, 10.1.2.3", "203.0.113.9"], // a trusted proxy in 10.0.0.0/8
    ["203.0.113.9, ::ffff:10.1.2.3", "203.0.113.9"], // the same proxy, IPv4-mapped
    ["203.0.113.9, ::10.1.2.3", "::a01:203"], // ::a01:203 is no proxy of ours: it is the client
    ["203.0.113.9, ::a01:203", "::a01:203"],
    ["203.0.113.9, 0:0:0:0:0:0:10.1.2.3", "::a01:203"],
    ["203.0.113.9, 10.1.2.3%eth0", "unknown"],
    ["::10.1.2.3", "::a01:203"],
  ])("X-Forwarded-For %j gives %s", async (xff, expected) => {
    const res = await fetch(url, { headers: xff ? { "x-forwarded-for": xff } : {} });
    expect(await res.text()).toBe(expected);
  });

  it("trusts nothing when no proxy is configured: the header is ignored", () => {
    expect(trustProxySetting([])).toBe(false);
  });
});

describe("the peer address in a real sign-in", () => {
  const password = "correct horse battery staple";
  let gh: TestGatehouse;
  beforeAll(async () => {
    const net = `name: net\nversion: 1\nrules:\n  - name: private network\n    when: { ip: { in: [10.0.0.0/8] } }\n    then: { deny: { message: "Not from the private network." } }\ndefault: allow\n`;
    gh = await startGatehouse({ GATEHOUSE_TRUSTED_PROXIES: "127.0.0.1" }, { policies: { "net.yaml": net } });
    await gh.rt.loginPolicies.assign("default", "net", "enforce", gh.clock.now());
    await gh.addUser("ada", password);
  });
  afterAll(async () => {
    await gh.close();
  });

  async function signIn(xff: string): Promise<{ refused: boolean; ip: unknown }> {
    const b = new Browser({ "x-forwarded-for": xff });
    const form = readForm(await b.follow(`${gh.url}/login`));
    const done = await b.follow(new URL(form.action, gh.url).toString(), { form: { ...form.fields, username: "ada", password } }, gh.url);
    const decided = (await gh.rt.audit.recent(20)).find((e) => e.type === "policy.decided");
    return { refused: done.body.includes("Not from the private network."), ip: decided?.ip };
  }

  it.each([
    ["10.1.2.3", true, "10.1.2.3"],
    ["::ffff:10.1.2.3", true, "10.1.2.3"],
    ["::10.1.2.3", false, "::a01:203"],
    ["::a01:203", false, "::a01:203"],
  ])("a client at %s is refused by an IPv4 rule: %s (the audit says %s)", async (xff, refused, ip) => {
    expect(await signIn(xff)).toEqual({ refused, ip });
  });
});
