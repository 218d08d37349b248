import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compilePolicy, evaluate, type PolicyContext } from "../../src/policy/evaluate.ts";
import { loadPolicyFile, parsePolicy, PolicyLoadError } from "../../src/policy/load.ts";

const guide = compilePolicy(loadPolicyFile(join(import.meta.dirname, "..", "..", "policies", "sentry-guide.yaml")));

const ctx = (over: { ip?: string; mobile?: boolean | null; known?: boolean; trusted?: boolean; count?: number; groups?: string[]; now?: number } = {}): PolicyContext => ({
  ip: over.ip ?? "192.0.2.1",
  device: { mobile: over.mobile === undefined ? false : over.mobile, os: "Linux", browser: "Chrome", known: over.known ?? true, trusted: over.trusted ?? false, registeredCount: over.count ?? 1 },
  user: { groups: over.groups ?? [] },
  now: over.now ?? Date.UTC(2026, 10, 23, 10),
});

describe("the Sentry guide policy", () => {
  it.each([
    ["office IPv4 address", ctx({ ip: "203.0.113.10" }), "allow", "office network"],
    ["office IPv4 CIDR", ctx({ ip: "198.51.100.77" }), "allow", "office network"],
    ["office IPv6 CIDR", ctx({ ip: "2001:db8:1234:5::1" }), "allow", "office network"],
    ["office IPv4 as mapped IPv6", ctx({ ip: "::ffff:198.51.100.77" }), "allow", "office network"],
    ["mobile device in the office", ctx({ ip: "203.0.113.10", mobile: true }), "deny", "no mobile devices"],
    ["unparseable user agent in the office", ctx({ ip: "203.0.113.10", mobile: null }), "allow", "office network"],
    ["elsewhere", ctx(), "challenge", "default"],
    ["a 4th device elsewhere", ctx({ known: false, count: 3 }), "challenge", "more than 3 devices"],
    ["a known device when 3 are registered", ctx({ known: true, count: 3 }), "challenge", "default"],
    ["an unreadable client IP", ctx({ ip: "unknown" }), "deny", "unknownIp"],
    ["a lenient IP form", ctx({ ip: "0x7f.1" }), "deny", "unknownIp"],
  ])("%s → %s by %s", (_name, context, action, matched) => {
    const d = evaluate(guide, context);
    expect(d.action).toBe(action);
    expect(d.matched).toBe(matched);
    expect(d.policy).toEqual({ name: "sentry-guide", version: 1 });
  });

  it("explains a denial to the user with the policy's message, and every check to the admin", () => {
    const d = evaluate(guide, ctx({ mobile: true }));
    expect(d.message).toBe("Sign in from a company computer to use this app.");
    expect(d.trace).toEqual([{ rule: "no mobile devices", condition: "device mobile is true", input: "true", result: "pass" }]);
  });

  it("offers the challenge methods in order of preference", () => {
    expect(evaluate(guide, ctx())).toMatchObject({ methods: ["totp", "kba", "email-otp"], ifNoneEnrolled: "deny" });
  });
});

const policy = (yaml: string) => compilePolicy(parsePolicy(`name: t\nversion: 1\n${yaml}`, "t.yaml"));

describe("conditions", () => {
  it("never lets `ip not in` pass on a missing IP: it is traced as missing", () => {
    const p = policy(`unknownIp: { challenge: { methods: [totp] } }\nrules:\n  - when: { ip: { notIn: [10.0.0.0/8] } }\n    then: allow\ndefault: { deny: { message: no } }`);
    const d = evaluate(p, ctx({ ip: "unknown" }));
    expect(d.action).toBe("challenge");
    expect(d.matched).toBe("unknownIp");
    expect(evaluate(p, ctx({ ip: "10.1.1.1" })).action).toBe("deny");
    expect(evaluate(p, ctx({ ip: "11.1.1.1" })).action).toBe("allow");
  });

  it("does not turn a missing user agent into a pass for `mobile: false`", () => {
    const p = policy(`rules:\n  - when: { device: { mobile: false } }\n    then: allow\ndefault: { deny: { message: no } }`);
    const d = evaluate(p, ctx({ mobile: null }));
    expect(d.action).toBe("deny");
    expect(d.trace[0]?.result).toBe("missing");
  });

  it("matches the first rule in order and falls back to the default", () => {
    const p = policy(`rules:\n  - name: a\n    when: { user: { inGroup: [eng] } }\n    then: allow\n  - name: b\n    when: { user: { inGroup: [eng, ops] } }\n    then: { deny: { message: b } }\ndefault: { deny: { message: d } }`);
    expect(evaluate(p, ctx({ groups: ["eng"] })).matched).toBe("a");
    expect(evaluate(p, ctx({ groups: ["ops"] })).matched).toBe("b");
    expect(evaluate(p, ctx({ groups: [] })).matched).toBe("default");
  });

  it("reads time of access in the policy's time zone, spanning midnight", () => {
    const p = policy(`rules:\n  - when: { time: { days: [mon], hours: "22:00-06:00", timeZone: Asia/Tokyo } }\n    then: allow\ndefault: { deny: { message: d } }`);
    expect(evaluate(p, ctx({ now: Date.UTC(2026, 10, 23, 14) })).action).toBe("allow"); // Mon 23:00 in Tokyo
    expect(evaluate(p, ctx({ now: Date.UTC(2026, 10, 23, 3) })).action).toBe("deny"); // Mon 12:00 in Tokyo
  });
});

// A window that crosses midnight belongs to the day it starts (as in cron); its end minute is
// outside; hours are wall-clock minutes in the policy's zone, so on a DST day it is an hour shorter
// or longer. 2026-11-20 is a Friday; Europe/Paris springs forward on 2026-03-29 at 02:00 (to
// 03:00) and falls back on 2026-10-25 at 03:00 (to 02:00).
describe("time windows", () => {
  const at = (when: { days?: string; hours?: string; timeZone?: string }) =>
    policy(`rules:\n  - name: window\n    when: { time: { ${when.days ? `days: [${when.days}], ` : ""}${when.hours ? `hours: "${when.hours}", ` : ""}timeZone: ${when.timeZone ?? "UTC"} } }\n    then: allow\ndefault: { deny: { message: outside } }`);
  it.each([
    // [window, zone, instant (UTC), inside?]
    ["fri 22:00-02:00", "UTC", "2026-11-20T21:59Z", false],
    ["fri 22:00-02:00", "UTC", "2026-11-20T22:00Z", true], // the start minute is inside
    ["fri 22:00-02:00", "UTC", "2026-11-20T23:59Z", true],
    ["fri 22:00-02:00", "UTC", "2026-11-21T00:00Z", true], // Saturday, in Friday's window
    ["fri 22:00-02:00", "UTC", "2026-11-21T01:00Z", true],
    ["fri 22:00-02:00", "UTC", "2026-11-21T01:59Z", true],
    ["fri 22:00-02:00", "UTC", "2026-11-21T02:00Z", false], // the end minute is outside
    ["fri 22:00-02:00", "UTC", "2026-11-20T01:00Z", false], // Friday 01:00 is Thursday's window
    ["fri 22:00-02:00", "UTC", "2026-11-21T22:30Z", false], // Saturday's own window
    ["fri 22:00-02:00", "UTC", "2026-11-22T01:00Z", false],
    ["sat 23:00-01:00", "UTC", "2026-11-22T00:30Z", true], // Saturday → Sunday
    ["sun 23:00-01:00", "UTC", "2026-11-23T00:30Z", true], // Sunday → Monday: the week wraps
    ["sun 23:00-01:00", "UTC", "2026-11-22T00:30Z", false], // Sunday 00:30 is Saturday's window
    ["fri 22:00-00:00", "UTC", "2026-11-20T23:59Z", true],
    ["fri 22:00-00:00", "UTC", "2026-11-21T00:00Z", false],
    ["fri 09:00-17:00", "UTC", "2026-11-20T09:00Z", true],
    ["fri 09:00-17:00", "UTC", "2026-11-20T16:59Z", true],
    ["fri 09:00-17:00", "UTC", "2026-11-20T17:00Z", false],
    ["fri 09:00-17:00", "UTC", "2026-11-20T08:59Z", false],
    ["any 22:00-02:00", "UTC", "2026-11-21T01:00Z", true], // no days: every day's window
    ["sat,sun all day", "UTC", "2026-11-21T00:00Z", true],
    ["sat,sun all day", "UTC", "2026-11-20T23:59Z", false],
    // The day and the minute are the zone's, not UTC's.
    ["fri 22:00-02:00", "Asia/Tokyo", "2026-11-20T16:00Z", true], // Sat 01:00 in Tokyo
    ["fri 22:00-02:00", "Asia/Tokyo", "2026-11-21T01:00Z", false], // Sat 10:00 in Tokyo
    ["fri 22:00-02:00", "America/New_York", "2026-11-21T03:30Z", true], // Fri 22:30 EST, Saturday in UTC
    ["fri 22:00-02:00", "America/New_York", "2026-11-21T07:00Z", false], // Sat 02:00 EST
    // DST: spring forward, 02:00-02:59 never happens, so the window ends at 03:00 local.
    ["sat 22:00-02:30", "Europe/Paris", "2026-03-28T21:00Z", true], // Sat 22:00 CET
    ["sat 22:00-02:30", "Europe/Paris", "2026-03-29T00:59Z", true], // Sun 01:59 CET
    ["sat 22:00-02:30", "Europe/Paris", "2026-03-29T01:00Z", false], // Sun 03:00 CEST
    // DST: fall back, 02:00-02:59 happens twice and both are inside.
    ["sat 22:00-02:30", "Europe/Paris", "2026-10-24T20:00Z", true], // Sat 22:00 CEST
    ["sat 22:00-02:30", "Europe/Paris", "2026-10-25T00:15Z", true], // Sun 02:15 CEST
    ["sat 22:00-02:30", "Europe/Paris", "2026-10-25T01:15Z", true], // Sun 02:15 CET, the second time
    ["sat 22:00-02:30", "Europe/Paris", "2026-10-25T01:29Z", true],
    ["sat 22:00-02:30", "Europe/Paris", "2026-10-25T01:30Z", false], // Sun 02:30 CET
  ])("%s in %s at %s: inside %s", (window, timeZone, iso, inside) => {
    const [days, hours] = window.split(" ");
    const p = at({ days: days === "any" ? undefined : days, hours: hours === "all" ? undefined : hours, timeZone });
    const d = evaluate(p, ctx({ now: Date.parse(iso) }));
    expect(d.action).toBe(inside ? "allow" : "deny");
  });

  it("agrees with a model of the week as minutes: each listed day's window is [day + from, day + from + length)", () => {
    const names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    const hhmm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
    const monday = Date.parse("2026-11-23T00:00Z");
    fc.assert(
      fc.property(fc.subarray([0, 1, 2, 3, 4, 5, 6], { minLength: 1 }), fc.nat(1439), fc.nat(1439), fc.nat(7 * 1440 - 1), (days, from, to, minute) => {
        fc.pre(from !== to);
        const length = (to - from + 1440) % 1440;
        const inside = days.some((d) => (minute - (d * 1440 + from) + 7 * 1440) % (7 * 1440) < length);
        const p = at({ days: days.map((d) => names[d]).join(","), hours: `${hhmm(from)}-${hhmm(to)}` });
        expect(evaluate(p, ctx({ now: monday + minute * 60_000 })).action).toBe(inside ? "allow" : "deny");
      }),
      { numRuns: 300 },
    );
  });

  it("says in the trace which day's window a time after midnight belongs to", () => {
    const d = evaluate(at({ days: "fri", hours: "22:00-02:00" }), ctx({ now: Date.parse("2026-11-21T01:00Z") }));
    expect(d.trace).toEqual([{ rule: "window", condition: "time fri 22:00-02:00 UTC", input: "sat 01:00 (the fri window)", result: "pass" }]);
  });
});

describe("loading policies", () => {
  const errors = (yaml: string): string[] => {
    try {
      parsePolicy(yaml, "policies/corp.yaml");
    } catch (e) {
      if (e instanceof PolicyLoadError) return e.message.split("\n");
      throw e;
    }
    return [];
  };

  it("names the file, the path inside it and the reason", () => {
    const yaml = `name: corp\nversion: 1\nrules:\n  - when: { user: { inGroup: [a] } }\n    then: allow\n  - when: { user: { inGroup: [a] } }\n    then: allow\n  - when: { ip: { in: [10.0.0.0/8, 10.1.0.0/16, 2001:db8::/32, 10.0.0.0/33] } }\n    then: allow\ndefault: allow`;
    expect(errors(yaml)).toEqual(['policies/corp.yaml: rules[2].when.ip.in[3]: "10.0.0.0/33" is not an IPv4 CIDR (prefix must be 0-32)']);
  });

  it("refuses a MAC address condition with the reason", () => {
    const out = errors(`name: corp\nversion: 1\nrules:\n  - when: { device: { mac: "aa:bb:cc:dd:ee:ff" } }\n    then: allow\ndefault: allow`);
    expect(out[0]).toContain("rules[0].when.device.mac: a browser does not reveal a MAC address");
  });

  it.each([
    ["an unknown key", `name: corp\nversion: 1\nrules: []\ndefault: allow\nextra: 1`, "Unrecognized key"],
    ["an undefined IP list", `name: corp\nversion: 1\nrules:\n  - when: { ip: { in: ["@nowhere"] } }\n    then: allow\ndefault: allow`, 'rules[0].when.ip.in[0]: "@nowhere" names no list'],
    ["an unknown challenge method", `name: corp\nversion: 1\nrules: []\ndefault: { challenge: { methods: [sms] } }`, 'default.challenge.methods[0]: unknown method "sms"; allowed: totp, kba, email-otp'],
    ["a bad time zone", `name: corp\nversion: 1\nrules:\n  - when: { time: { timeZone: Mars/Olympus } }\n    then: allow\ndefault: allow`, "rules[0].when.time.timeZone: is not a known IANA time zone"],
    ["duplicate YAML keys", `name: corp\nname: other\nversion: 1\nrules: []\ndefault: allow`, "not valid YAML"],
  ])("refuses %s", (_name, yaml, expected) => {
    expect(errors(yaml).join("\n")).toContain(expected);
  });
});
