/**
 * Attacks with parallel requests: a guarantee that holds one request at a time must hold when
 * 20–100 arrive at once. Every limit is taken before the expensive or external work (the
 * argon2 hash, the answer check, the mail), so requests in flight cannot all slip through
 * between a read and a write; the login transaction moves by compare-and-set, so two requests
 * on one transaction cannot both move it. Real HTTP on 127.0.0.1, fired with Promise.all.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setKba } from "../../src/challenges/kba.ts";
import { accountLimits, networkLimits } from "../../src/login/throttle.ts";
import { maxTriesPerMethodPerTransaction } from "../../src/login/challenge-step.ts";
import { Browser, readForm, type Form, type Page } from "../helpers/client.ts";
import { startGatehouse, type TestGatehouse } from "../helpers/gatehouse.ts";
import { journeys } from "../helpers/journeys.ts";
import { codeIn, startSmtp } from "../helpers/smtp.ts";
import { makeSp, readIdpMetadata, type TestSp } from "../helpers/sp.ts";

const password = "correct horse battery staple";
let gh: TestGatehouse;
let smtp: Awaited<ReturnType<typeof startSmtp>>;
let sp: TestSp;

// Admins need the authenticator app; everyone else answers security questions or gets a code.
const policy = `name: split
version: 1
rules:
  - name: admins
    when: { user: { inGroup: [admins] } }
    then: { challenge: { methods: [totp] } }
default: { challenge: { methods: [kba, email-otp] } }
`;

beforeAll(async () => {
  smtp = await startSmtp();
  gh = await startGatehouse(
    // The anonymous pre-authentication limit is tested elsewhere; here the login's own limits answer.
    { GATEHOUSE_SMTP_URL: smtp.url, GATEHOUSE_TRUSTED_PROXIES: "127.0.0.1", GATEHOUSE_KBA: "true", GATEHOUSE_LOGIN_REQUESTS_PER_MINUTE: "100000", GATEHOUSE_SAML_REQUESTS_PER_MINUTE: "100000" },
    { policies: { "split.yaml": policy } },
  );
  const idp = await readIdpMetadata(`${gh.url}/saml/metadata`);
  sp = await makeSp(idp, "parallel-app", { acceptedClockSkewMs: 10 * 60_000 });
  const app = await gh.addApp({ name: "Parallel", entityId: sp.entityId, acs: [{ url: sp.acs, index: 0, isDefault: true }] });
  await gh.rt.loginPolicies.assign(app.id, "split", "enforce", gh.clock.now());
});
afterAll(async () => {
  await gh?.close();
  await smtp?.close();
});

const j = journeys(() => gh, password);
const { url, totpNow } = j;
let net = 0;
/** A browser from an address of its own in a network of its own: each scenario has its own budgets. */
const from = (ip?: string) => {
  net++;
  return new Browser({ "x-forwarded-for": ip ?? `100.${64 + Math.floor(net / 250)}.${net % 250}.7` });
};
const audits = async (type: string, n = 2000) => (await gh.rt.audit.recent(n)).filter((e) => e.type === type);
const count = async (type: string, pred: (e: Awaited<ReturnType<typeof audits>>[number]) => boolean = () => true) => (await audits(type)).filter(pred).length;

/** The password form of a sign-in to Gatehouse itself, started in this browser. */
async function loginForm(b: Browser): Promise<Form> {
  return readForm(await b.follow(url("/login")));
}

/** The password form of a sign-in to the app, started in this browser. */
async function appLoginForm(b: Browser): Promise<Form> {
  return readForm(await b.follow(await sp.saml.getAuthorizeUrlAsync("relay", undefined, {})));
}

const kbaItems = [
  { question: "First school?", answer: "ipswich" },
  { question: "First job town?", answer: "frostburg" },
  { question: "A teacher?", answer: "mary" },
];

describe("password throttles under a burst", () => {
  it(`check at most ${networkLimits.perAddress.points} passwords from one address, however many arrive at once`, async () => {
    const ip = "192.0.2.44";
    const forms = await Promise.all(Array.from({ length: 50 }, async () => {
      const b = from(ip);
      return { b, form: await loginForm(b) };
    }));
    const before = await count("login.password.failed", (e) => e.ip === ip);
    // Different (unknown) accounts: only the address budget stands between them and the hash.
    const pages = await Promise.all(forms.map(({ b, form }, i) => b.submit(form, { username: `nobody${i}`, password: "wrong password" })));
    expect(pages.filter((p) => p.status === 401)).toHaveLength(networkLimits.perAddress.points);
    expect(pages.filter((p) => p.status === 429)).toHaveLength(50 - networkLimits.perAddress.points);
    expect(await count("login.password.failed", (e) => e.ip === ip) - before).toBe(networkLimits.perAddress.points);
  });

  it("counts an IPv6 /64 as one address: spreading over its addresses gains nothing", async () => {
    const forms = await Promise.all(Array.from({ length: 30 }, async (_x, i) => {
      const b = from(`2001:db8:77:1:${(i + 1).toString(16)}::1`);
      return { b, form: await loginForm(b) };
    }));
    const pages = await Promise.all(forms.map(({ b, form }, i) => b.submit(form, { username: `v6nobody${i}`, password: "wrong password" })));
    expect(pages.filter((p) => p.status === 401)).toHaveLength(networkLimits.perAddress.points);
  });

  it("checks at most five passwords of one account at once, from many addresses and spellings", async () => {
    const user = await gh.addUser("burst", password, { email: "burst@example.com" });
    const forms = await Promise.all(Array.from({ length: 40 }, async () => {
      const b = from();
      return { b, form: await loginForm(b) };
    }));
    // The username and the email name one account: one budget.
    const pages = await Promise.all(forms.map(({ b, form }, i) => b.submit(form, { username: i % 2 ? "burst" : "BURST@example.com", password: "wrong password" })));
    expect(pages.filter((p) => p.status === 401)).toHaveLength(accountLimits.freeFailures + 1);
    expect(await count("login.password.failed", (e) => e.userId === user.id)).toBe(accountLimits.freeFailures + 1);
    // Even the right password now waits out the delay, from a stranger's browser.
    const late = from();
    expect((await late.submit(await loginForm(late), { username: "burst", password })).status).toBe(429);
  });

  it("stops exactly at the hard stop, lets the owner's known address past the delay but not past the stop, and `user unlock` lifts it", async () => {
    const user = await gh.addUser("stopper", password, { email: "stopper@example.com" });
    const home = "198.18.0.9";
    // The owner signed in from home once.
    const owner = from(home);
    expect((await owner.submit(await loginForm(owner), { username: "stopper", password })).status).toBe(303);
    // A long campaign has brought the account near the hard stop; its delay is running.
    gh.rt.db.prepare("INSERT INTO account_failures (account_key, consecutive, last_failure_at) VALUES (?, ?, ?)").run(`user:${user.id}`, accountLimits.hardStop - 10, gh.clock.now());
    const stranger = from();
    expect((await stranger.submit(await loginForm(stranger), { username: "stopper", password })).status).toBe(429);
    // From home, the delay does not apply: the owner gets in, and the count starts again.
    const back = from(home);
    expect((await back.submit(await loginForm(back), { username: "stopper", password })).status).toBe(303);

    gh.rt.db.prepare("INSERT OR REPLACE INTO account_failures (account_key, consecutive, last_failure_at) VALUES (?, ?, ?)").run(`user:${user.id}`, accountLimits.hardStop - 10, gh.clock.now());
    // An attacker on the owner's network (the known address) fires 30 at once: exactly 10 are checked.
    const forms = await Promise.all(Array.from({ length: 30 }, async (_x, i) => {
      const b = from(`198.18.${i + 1}.9`);
      return { b, form: await loginForm(b) };
    }));
    // Each of these addresses is known too: the owner signed in from all of them before.
    for (let i = 1; i <= 30; i++) await gh.rt.audit.record({ type: "session.started", outcome: "success", userId: user.id, ip: `198.18.${i}.9` });
    const pages = await Promise.all(forms.map(({ b, form }) => b.submit(form, { username: "stopper", password: "wrong password" })));
    expect(pages.filter((p) => p.status === 401)).toHaveLength(10);
    const row = gh.rt.db.prepare("SELECT consecutive FROM account_failures WHERE account_key = ?").get(`user:${user.id}`) as { consecutive: number };
    expect(row.consecutive).toBe(accountLimits.hardStop);
    // The hard stop holds for everyone, the owner at home included, and says to ask an administrator.
    const home2 = from(home);
    const stopped = await home2.submit(await loginForm(home2), { username: "stopper", password });
    expect(stopped.status).toBe(429);
    expect(stopped.body).toContain("Ask your administrator to unlock it");

    const cli = spawnSync(process.execPath, [join(import.meta.dirname, "../../src/main.ts"), "user", "unlock", "stopper"], {
      env: { ...process.env, GATEHOUSE_DATA_DIR: gh.rt.config.dataDir, GATEHOUSE_POLICIES_DIR: gh.rt.config.policiesDir, GATEHOUSE_BASE_URL: gh.url },
      encoding: "utf8",
    });
    expect(cli.status, cli.stderr).toBe(0);
    expect(cli.stdout).toContain(`Unlocked stopper: cleared ${accountLimits.hardStop} failed password tries`);
    expect(await count("user.unlocked", (e) => e.userId === user.id)).toBe(1);
    const after = from(home);
    expect((await after.submit(await loginForm(after), { username: "stopper", password })).status).toBe(303);
  });
});

describe("one transaction under parallel requests", () => {
  it("two users' passwords on one transaction: one wins, and the challenge is the winner's own", async () => {
    await gh.addUser("root", password, { email: "root@example.com", groups: ["admins"] });
    const rootSession = await j.accountSession(from(), "root");
    rootSecretValue = await j.enrolTotp(rootSession);
    const bob = await gh.addUser("bob", password, { email: "bob@example.com" });
    await setKba(gh.rt.kba, bob, kbaItems);
    for (let round = 0; round < 8; round++) {
      const b = from();
      const form = await appLoginForm(b);
      const txId = form.fields.tx as string;
      const [a, c] = await Promise.all([b.submit(form, { username: "root", password }), b.submit(form, { username: "bob", password })]);
      const statuses = [a.status, c.status].sort();
      // One moves the transaction on; the other is told it has moved on, whatever the timing.
      expect(statuses).toEqual([303, 400]);
      const tx = await gh.rt.transactions.byId(txId);
      const winner = a.status === 303 ? "root" : "bob";
      expect(tx?.userId).toBe((await gh.rt.users.byLogin(winner))?.id);
      expect(tx?.challenge?.methods).toEqual(winner === "root" ? ["totp"] : ["kba"]);
    }
  });

  it(`ends a KBA challenge at the ${maxTriesPerMethodPerTransaction}th wrong answer, though 30 arrive at once`, async () => {
    const kim = await gh.addUser("kimp", password, { email: "kimp@example.com" });
    await setKba(gh.rt.kba, kim, kbaItems);
    const b = from();
    let page = await b.submit(await appLoginForm(b), { username: "kimp", password });
    page = await b.follow(url(page.headers.get("location") as string));
    if (page.body.includes('name="method"') && !page.body.includes('name="answer0"')) page = await b.submit(readForm(page, 0));
    expect(page.body).toContain('name="answer0"');
    const form = readForm(page);
    const before = await count("challenge.failed", (e) => e.userId === kim.id);
    const pages = await Promise.all(Array.from({ length: 30 }, () => b.submit(form, { answer0: "wrong one", answer1: "wrong two" })));
    expect(await count("challenge.failed", (e) => e.userId === kim.id) - before).toBe(maxTriesPerMethodPerTransaction);
    expect(pages.filter((p) => p.status === 401 || p.status === 429).length).toBeGreaterThan(0);
    expect((await gh.rt.transactions.byId(form.fields.tx as string))?.state).toBe("denied");
    // Over: even the right answers are refused now.
    expect((await b.submit(form, { answer0: "ipswich", answer1: "frostburg" })).status).toBe(400);
  });

  /** Root's sign-in to the app, up to the authenticator prompt. */
  async function rootAtTotp(): Promise<{ b: Browser; form: Form }> {
    const b = from();
    let page = await b.submit(await appLoginForm(b), { username: "root", password });
    page = await b.follow(url(page.headers.get("location") as string));
    expect(page.body).toContain("Enter the code from your authenticator app");
    return { b, form: readForm(page) };
  }

  it("issues at most one assertion however many right answers arrive at once, and exactly one for a double submit", async () => {
    // 20 at once: some are refused as over the tries; never more than one assertion.
    gh.clock.advance(90_000); // a step the enrolment did not spend
    const burst = await rootAtTotp();
    const code = totpNow(rootSecretValue);
    const pages = await Promise.all(Array.from({ length: 20 }, () => burst.b.submit(burst.form, { code })));
    expect(pages.filter((p) => p.body.includes('name="SAMLResponse"')).length).toBeLessThanOrEqual(1);
    expect(await count("saml.response.issued", (e) => e.transactionId === burst.form.fields.tx)).toBeLessThanOrEqual(1);
    // Fewer than the tries allowed, with a fresh step: exactly one goes through, and the app accepts it.
    gh.clock.advance(60_000);
    const clicks = await rootAtTotp();
    const fresh = totpNow(rootSecretValue);
    const answered = await Promise.all(Array.from({ length: maxTriesPerMethodPerTransaction - 1 }, () => clicks.b.submit(clicks.form, { code: fresh })));
    const issued = answered.filter((p) => p.body.includes('name="SAMLResponse"'));
    expect(issued).toHaveLength(1);
    expect(await count("saml.response.issued", (e) => e.transactionId === clicks.form.fields.tx)).toBe(1);
    await j.accepted(sp, issued[0] as Page);
  });

  it("accepts one TOTP step once, though 20 sign-ins present it at once", async () => {
    gh.clock.advance(60_000);
    // Twenty sign-ins wait at the prompt (started one by one: parallel passwords of one account
    // would meet its throttle, which counts every try before the hash)…
    const signIns: { b: Browser; form: Form }[] = [];
    for (let i = 0; i < 20; i++) signIns.push(await rootAtTotp());
    // …and present the same code at once.
    const code = totpNow(rootSecretValue);
    const pages = await Promise.all(signIns.map(({ b, form }) => b.submit(form, { code })));
    expect(pages.filter((p) => p.body.includes('name="SAMLResponse"'))).toHaveLength(1);
    // The rest are refused: checked and found spent, or not checked at all, since the user's
    // authenticator throttle counts every try before its check.
    const checked = pages.filter((p) => p.status === 401);
    for (const p of checked) expect(p.body).toContain("already used");
    expect(pages.filter((p) => p.status === 429)).toHaveLength(19 - checked.length);
  });
});

describe("email codes under a burst", () => {
  it("mails one code however many resends arrive at once, and the code works once", async () => {
    const eve = await gh.addUser("evep", password, { email: "evep@example.com" });
    await gh.rt.users.setAltEmail(eve.id, "evep.alt@example.org", gh.clock.now());
    const b = from();
    let page = await b.submit(await appLoginForm(b), { username: "evep", password });
    page = await b.follow(url(page.headers.get("location") as string));
    expect(page.body).toContain("We sent a code");
    const first = codeIn(await smtp.next("evep.alt@example.org", /sign-in code/));
    gh.clock.advance(61_000);
    const resend = readForm(page, 1);
    const before = smtp.mails.filter((m) => m.to === "evep.alt@example.org").length;
    const pages = await Promise.all(Array.from({ length: 40 }, () => b.submit(resend)));
    expect(pages.filter((p) => p.status === 303)).toHaveLength(1);
    expect(pages.filter((p) => p.status === 429)).toHaveLength(39);
    await smtp.next("evep.alt@example.org", /sign-in code/);
    await new Promise((r) => setTimeout(r, 300)); // any mail that slipped through would have arrived
    expect(smtp.mails.filter((m) => m.to === "evep.alt@example.org").length - before).toBe(1);
    const rows = gh.rt.db.prepare("SELECT count(*) AS n FROM email_codes WHERE user_id = ?").get(eve.id) as { n: number };
    expect(rows.n).toBe(2);
    const second = codeIn(smtp.mails.filter((m) => m.to === "evep.alt@example.org").at(-1) as { text: string; html: string; to: string; subject: string });
    const challenge = await b.follow(url(`/login/challenge?tx=${readForm(page).fields.tx as string}`));
    // A double submit of the right code: one sign-in, and the code is spent.
    const answers = await Promise.all(Array.from({ length: maxTriesPerMethodPerTransaction - 1 }, () => b.submit(readForm(challenge), { code: second })));
    expect(answers.filter((p) => p.body.includes('name="SAMLResponse"'))).toHaveLength(1);
    expect(await count("challenge.passed", (e) => e.userId === eve.id)).toBe(1);
    if (first !== second) expect(await count("challenge.failed", (e) => e.userId === eve.id && e.reason === "email code wrong")).toBe(0);
  });
});

/** The seed root enrolled with, as the set-up page showed it. */
let rootSecretValue = "";
