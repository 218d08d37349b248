/**
 * The login policy through the real SSO endpoint, with @node-saml/node-saml as the app: each
 * action of a policy file, report-only, the SSO session (which never carries one app's approval
 * to another) and what the audit log tells an admin. Client IPs arrive as X-Forwarded-For from
 * a trusted proxy on 127.0.0.1, the way they would behind a load balancer.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Browser, readForm, type Page } from "../helpers/client.ts";
import { startGatehouse, type TestGatehouse } from "../helpers/gatehouse.ts";
import { makeSp, readIdpMetadata, type TestSp } from "../helpers/sp.ts";
import type { StoredAuditEvent } from "../../src/audit/audit.ts";

const policyYaml = `
name: corp
version: 3
ipLists:
  office: [203.0.113.10, 198.51.100.0/24, "2001:db8:1234::/48"]
rules:
  - name: no mobile devices
    when: { device: { mobile: true } }
    then: { deny: { message: "Use a company computer for this app." } }
  - name: blocked network
    when: { ip: { in: [192.0.2.0/24] } }
    then: { deny: { message: "Sign-in from this network is not allowed." } }
  - name: office network
    when: { ip: { in: ["@office"] } }
    then: allow
  - name: contractors away from the office
    when: { user: { inGroup: [contractors] } }
    then: { challenge: { methods: [totp], ifNoneEnrolled: allow } }
default: { challenge: { methods: [totp, kba, email-otp] } }
`;

const desktop = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
const iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
const password = "correct horse battery staple";
let gh: TestGatehouse;
let enforced: TestSp; // corp, enforce
let reporting: TestSp; // corp, report-only
let open: TestSp; // no login policy of its own: the default
let enforcedId: string;

beforeAll(async () => {
  gh = await startGatehouse({ GATEHOUSE_TRUSTED_PROXIES: "127.0.0.1" }, { policies: { "corp.yaml": policyYaml } });
  await gh.addUser("ada", password, { email: "ada@example.com" });
  await gh.addUser("cole", password, { email: "cole@example.com", groups: ["contractors"] });
  const idp = await readIdpMetadata(`${gh.url}/saml/metadata`);
  enforced = await makeSp(idp, "enforced-app");
  reporting = await makeSp(idp, "reporting-app");
  open = await makeSp(idp, "open-app");
  const add = (sp: TestSp, name: string) => gh.addApp({ name, entityId: sp.entityId, acs: [{ url: sp.acs, index: 0, isDefault: true }] });
  enforcedId = (await add(enforced, "Enforced")).id;
  const reportingId = (await add(reporting, "Reporting")).id;
  await add(open, "Open");
  await gh.rt.loginPolicies.assign(enforcedId, "corp", "enforce", gh.clock.now());
  await gh.rt.loginPolicies.assign(reportingId, "corp", "report-only", gh.clock.now());
});
afterAll(async () => {
  await gh.close();
});

const client = (ip: string, ua = desktop) => new Browser({ "x-forwarded-for": ip, "user-agent": ua });

async function signIn(browser: Browser, sp: TestSp, username = "ada"): Promise<Page> {
  let page = await browser.request(await sp.saml.getAuthorizeUrlAsync("relay", undefined, {}));
  if (page.status === 303) page = await browser.follow(new URL(page.headers.get("location") as string, gh.url).toString());
  if (page.body.includes('action="/login"')) page = await browser.submit(readForm(page), { username, password });
  return page;
}

async function accepted(sp: TestSp, page: Page): Promise<string | undefined> {
  expect(page.status).toBe(200);
  const form = readForm(page);
  const { profile } = await sp.saml.validatePostResponseAsync({ SAMLResponse: form.fields.SAMLResponse as string });
  return profile?.nameID;
}

function refused(page: Page): void {
  expect(page.status).toBe(403);
  expect(page.body).toContain("Sign-in refused");
  expect(page.body).not.toContain("SAMLResponse");
  // The page never names the rule or the networks behind it.
  for (const secret of ["blocked network", "192.0.2.0/24", "office", "corp", "no mobile devices"]) expect(page.body).not.toContain(secret);
}

const lastDecision = async (): Promise<StoredAuditEvent> => (await gh.rt.audit.recent(20)).find((e) => e.type === "policy.decided") as StoredAuditEvent;
const reference = (page: Page): string => /Reference: <code>(P-\d+)<\/code>/.exec(page.body)?.[1] ?? "";

describe("a login policy decides after the password", () => {
  it.each([
    ["an office IPv4 address in a CIDR", "198.51.100.7"],
    ["a single office IPv4 address", "203.0.113.10"],
    ["an office IPv6 address in a /48", "2001:db8:1234:ff::5"],
    ["an office address written as IPv4-mapped IPv6", "::ffff:198.51.100.7"],
  ])("allows %s: the app accepts the assertion and the audit log has the trace", async (_name, ip) => {
    const nameId = await accepted(enforced, await signIn(client(ip), enforced));
    expect(nameId).toBe("ada@example.com");
    const d = await lastDecision();
    expect(d).toMatchObject({ outcome: "success", appId: enforcedId, username: "ada", reason: "allow by office network" });
    expect(d.detail).toMatchObject({ policy: "corp", version: 3, mode: "enforce", action: "allow", matched: "office network" });
    expect((d.detail?.trace as string[]).at(-1)).toMatch(/^office network: ip in \[@office\] \[saw [0-9a-f.:]+\] → pass$/);
  });

  it("refuses a denied network with the policy's message, no assertion, no session, and a reference the audit log knows", async () => {
    const browser = client("192.0.2.44");
    const start = await browser.follow(await enforced.saml.getAuthorizeUrlAsync("relay", undefined, {}));
    const login = readForm(start);
    const page = await browser.submit(login, { username: "ada", password });
    refused(page);
    expect(page.body).toContain("Sign-in from this network is not allowed.");
    expect(browser.cookies.has("gh_session")).toBe(false);
    const d = await lastDecision();
    expect(reference(page)).toBe(`P-${d.id}`);
    expect(d).toMatchObject({ outcome: "failure", ip: "192.0.2.44", reason: "deny by blocked network" });
    expect(d.detail?.trace).toEqual([
      "no mobile devices: device mobile is true [saw false] → fail",
      "blocked network: ip in [192.0.2.0/24] [saw 192.0.2.44] → pass",
    ]);
    // The transaction is over: sending the login form again does not reopen it.
    const retry = await browser.submit(login, { username: "ada", password });
    expect(retry.status).toBe(400);
    expect(retry.body).not.toContain("SAMLResponse");
  });

  it("refuses a mobile device even from the office", async () => {
    const page = await signIn(client("198.51.100.7", iphone), enforced);
    refused(page);
    expect(page.body).toContain("Use a company computer for this app.");
    expect((await lastDecision()).detail).toMatchObject({ matched: "no mobile devices", device: { mobile: true, os: "iOS" } });
  });

  it("never lets a challenge become allow: with no method set up the user is refused and told what to do", async () => {
    const page = await signIn(client("8.8.8.8"), enforced);
    refused(page);
    expect(page.body).toContain("no verification method set up");
    expect(await lastDecision()).toMatchObject({ outcome: "failure", reason: "deny (policy said challenge) by default" });
    expect((await lastDecision()).detail).toMatchObject({ action: "challenge", effective: "deny", methods: ["totp", "kba", "email-otp"], usableMethods: [] });
  });

  it("lets a challenge through when the policy says so for users with no method (ifNoneEnrolled: allow)", async () => {
    expect(await accepted(enforced, await signIn(client("8.8.8.8"), enforced, "cole"))).toBe("cole@example.com");
    expect(await lastDecision()).toMatchObject({ outcome: "success", reason: "allow (policy said challenge) by contractors away from the office" });
  });

  it("refuses a client IP it cannot read before any rule", async () => {
    const page = await signIn(client("not-an-ip"), enforced);
    refused(page);
    expect(await lastDecision()).toMatchObject({ ip: "unknown", reason: "deny by unknownIp" });
  });
});

describe("report-only", () => {
  it("records what would have happened and lets the sign-in through", async () => {
    expect(await accepted(reporting, await signIn(client("192.0.2.44"), reporting))).toBe("ada@example.com");
    const d = await lastDecision();
    expect(d).toMatchObject({ outcome: "success", reason: "report-only, would deny by blocked network" });
    expect(d.detail).toMatchObject({ mode: "report-only", enforced: false, effective: "deny" });
  });
});

describe("an SSO session", () => {
  it("does not carry one app's approval to another: the second app's policy refuses", async () => {
    const browser = client("192.0.2.44");
    expect(await accepted(open, await signIn(browser, open))).toBe("ada@example.com");
    expect(await lastDecision()).toMatchObject({ reason: "allow by default", detail: { policy: "first-factor-only", loginPolicy: "built-in" } });
    const second = await browser.request(await enforced.saml.getAuthorizeUrlAsync("", undefined, {}));
    refused(second);
    expect((await gh.rt.audit.recent(5)).map((e) => e.type)).not.toContain("session.reused");
    // The session itself is untouched: the first app still signs in without a password.
    const again = await browser.request(await open.saml.getAuthorizeUrlAsync("", undefined, {}));
    expect(await accepted(open, again)).toBe("ada@example.com");
  });

  it("runs the policy for an IdP-initiated launch from the app list", async () => {
    const browser = client("192.0.2.44");
    await signIn(browser, open);
    const home = await browser.request(`${gh.url}/`);
    const forms = [...home.body.matchAll(/<form/g)].map((_m, i) => readForm(home, i));
    const launch = forms.find((f) => f.action.endsWith(`/apps/${enforcedId}/launch`));
    if (!launch) throw new Error("no launch form for the enforced app");
    refused(await browser.submit(launch));
    expect(await lastDecision()).toMatchObject({ appId: enforcedId, reason: "deny by blocked network" });
  });

  it("applies the default login policy to apps without their own once an admin assigns one", async () => {
    await gh.rt.loginPolicies.assign("default", "corp", "enforce", gh.clock.now());
    try {
      refused(await signIn(client("192.0.2.44"), open));
      expect((await lastDecision()).detail).toMatchObject({ loginPolicy: "default", policy: "corp" });
    } finally {
      await gh.rt.loginPolicies.assign("default", "first-factor-only", "enforce", gh.clock.now());
    }
  });
});
