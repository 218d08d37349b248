import { join } from "node:path";
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
    ["an unknown challenge method", `name: corp\nversion: 1\nrules: []\ndefault: { challenge: { methods: [sms] } }`, "default"],
    ["a bad time zone", `name: corp\nversion: 1\nrules:\n  - when: { time: { timeZone: Mars/Olympus } }\n    then: allow\ndefault: allow`, "rules[0].when.time.timeZone: is not a known IANA time zone"],
    ["duplicate YAML keys", `name: corp\nname: other\nversion: 1\nrules: []\ndefault: allow`, "not valid YAML"],
  ])("refuses %s", (_name, yaml, expected) => {
    expect(errors(yaml).join("\n")).toContain(expected);
  });
});
