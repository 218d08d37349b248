import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

// The admin's policy tools, run the way an admin runs them: node's own type stripping, real files.
const root = mkdtempSync(join(tmpdir(), "gatehouse-policy-cli-"));
const dataDir = join(root, "data");
const good = join(root, "good");
const bad = join(root, "bad");
mkdirSync(good);
mkdirSync(bad);
afterAll(() => rmSync(root, { recursive: true, force: true }));

writeFileSync(
  join(good, "corp.yaml"),
  `name: corp\nversion: 2\nipLists: { office: [198.51.100.0/24, "2001:db8:1234::/48"] }\nrules:\n  - name: office\n    when: { ip: { in: ["@office"] } }\n    then: allow\n  - name: phones\n    when: { device: { mobile: true } }\n    then: { deny: { message: Not from a phone } }\ndefault: { challenge: { methods: [totp] } }\n`,
);
writeFileSync(join(bad, "corp.yaml"), `name: corp\nversion: 1\nrules:\n  - when: { ip: { in: [10.0.0.0/8, 10.0.0.0/33] } }\n    then: allow\ndefault: allow\n`);
writeFileSync(join(bad, "mac.yaml"), `name: mac\nversion: 1\nrules:\n  - when: { device: { mac: "aa:bb:cc:dd:ee:ff" } }\n    then: allow\ndefault: allow\n`);

function cli(args: string[], policiesDir = good) {
  const r = spawnSync(process.execPath, ["src/main.ts", ...args], { encoding: "utf8", env: { ...process.env, GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_POLICIES_DIR: policiesDir, GATEHOUSE_PORT: "0" }, timeout: 20_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("policy check", () => {
  it("passes good files and says what it read", () => {
    const r = cli(["policy", "check"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/ok {2}.*corp\.yaml: corp v2, 2 rules/);
  });

  it("prints every error as file: path: reason and exits 1", () => {
    const r = cli(["policy", "check", join(bad, "corp.yaml"), join(bad, "mac.yaml")]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${join(bad, "corp.yaml")}: rules[0].when.ip.in[1]: "10.0.0.0/33" is not an IPv4 CIDR (prefix must be 0-32)`);
    expect(r.err).toContain(`${join(bad, "mac.yaml")}: rules[0].when.device.mac: a browser does not reveal a MAC address`);
    expect(r.err).toContain("2 errors in 2 files");
  });

  it("says what is allowed for a method, an action, ifNoneEnrolled and an IP condition", () => {
    const file = join(root, "choices.yaml");
    writeFileSync(
      file,
      `name: choices\nversion: 1\nrules:\n  - when: { ip: { in: [10.0.0.0/8], notIn: [10.1.0.0/16] } }\n    then: maybe\ndefault: { challenge: { methods: [sms], ifNoneEnrolled: maybe } }\n`,
    );
    const r = cli(["policy", "check", file]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${file}: rules[0].when.ip: "in" and "notIn" in one IP condition: use one`);
    expect(r.err).toContain(`${file}: rules[0].then: unknown action "maybe"; allowed: allow, deny, challenge`);
    expect(r.err).toContain(`${file}: default.challenge.methods[0]: unknown method "sms"; allowed: totp, kba, email-otp`);
    expect(r.err).toContain(`${file}: default.challenge.ifNoneEnrolled: unknown value "maybe"; allowed: deny, allow`);
    expect(r.err).not.toContain("Invalid input");
  });
});

describe("starting with policies", () => {
  it("does not start with a bad policy file, and names the file, the path and the reason", () => {
    const r = cli(["serve"], bad);
    expect(r.code).toBe(1);
    expect(r.err).toContain("a policy file is invalid");
    expect(r.err).toContain('rules[0].when.ip.in[1]: "10.0.0.0/33" is not an IPv4 CIDR');
    expect(r.out).not.toContain("listening");
    // Nothing is half-done: no admin account whose one-time password nobody saw.
    expect(cli(["user", "list"]).out).toContain("No users.");
  });
});

describe("policy assign, list and simulate", () => {
  it("assigns a policy to an app and explains what a sign-in would get", () => {
    expect(cli(["user", "add", "ada", "--email", "ada@example.com", "--group", "eng"]).code).toBe(0);
    expect(cli(["app", "add", "--entity-id", "https://sp.example.test", "--acs", "https://sp.example.test/acs", "--name", "Wiki"]).code).toBe(0);
    const app = /^(app_[0-9a-f]+)/m.exec(cli(["app", "list"]).out)?.[1] as string;

    expect(cli(["policy", "assign", "--app", app, "--policy", "nope"])).toMatchObject({ code: 2, err: expect.stringContaining("no policy named nope; loaded: first-factor-only, corp") as unknown });
    expect(cli(["policy", "assign", "--app", "app_0000", "--policy", "corp"]).code).toBe(2);
    expect(cli(["policy", "assign", "--app", app, "--policy", "corp", "--mode", "sometimes"]).code).toBe(2);
    expect(cli(["policy", "assign", "--app", app, "--policy", "corp", "--mode", "report-only"]).out).toContain(`Login policy of Wiki (${app}): corp, report-only.`);
    expect(cli(["policy", "list"]).out).toContain(`Wiki (${app}): corp, report-only`);
    expect(cli(["policy", "assign", "--app", app, "--policy", "corp"]).code).toBe(0);

    const office = cli(["policy", "simulate", "--app", app, "--user", "ada", "--ip", "2001:db8:1234::9"]);
    expect(office.code).toBe(0);
    expect(office.out).toContain('Decision: ALLOW — rule "office" matched (policy corp v2).');
    expect(office.out).toContain("holds    office: ip in [@office] — saw 2001:db8:1234::9");

    // ::a.b.c.d is an IPv6 address (IPv4-compatible), not the IPv4 office; ::ffff:a.b.c.d is.
    const compatible = cli(["policy", "simulate", "--app", app, "--user", "ada", "--ip", "::198.51.100.7"]);
    expect(compatible.out).toContain("IP ::c633:6407,");
    expect(compatible.out).toContain("Decision: CHALLENGE — no rule matched");
    const mapped = cli(["policy", "simulate", "--app", app, "--user", "ada", "--ip", "::FFFF:198.51.100.7"]);
    expect(mapped.out).toContain("IP 198.51.100.7,");
    expect(mapped.out).toContain('Decision: ALLOW — rule "office" matched');

    const phone = cli(["policy", "simulate", "--app", app, "--user", "ada", "--ip", "8.8.8.8", "--user-agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"]);
    expect(phone.out).toContain('Decision: DENY — rule "phones" matched');
    expect(phone.out).toContain('The user sees: "Not from a phone"');

    const away = cli(["policy", "simulate", "--app", app, "--user", "ada", "--ip", "8.8.8.8", "--device", "trusted", "--devices", "4"]);
    expect(away.out).toContain("Decision: CHALLENGE — no rule matched, so the default applies");
    expect(away.out).toContain("trusted device with 4 registered");
    expect(away.out).toContain("missing  phones: device mobile is true — saw unknown");

    expect(cli(["policy", "simulate", "--app", app, "--user", "nobody", "--ip", "8.8.8.8"]).code).toBe(2);
    expect(cli(["policy", "simulate", "--app", app, "--user", "ada", "--ip", "8.8.8.8", "--devices", "-1"]).code).toBe(2);
  }, 120_000); // a dozen CLI runs, each a whole Node start: slow on a loaded machine

  it("does not start while a login policy names a policy that is no longer loaded", () => {
    const r = cli(["serve"], join(root, "empty"));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/login policy of app app_[0-9a-f]+ names policy "corp", which is not loaded/);
    expect(cli(["user", "list"]).out).not.toContain("admin@");
  });
});
