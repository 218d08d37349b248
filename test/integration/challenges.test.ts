/**
 * Challenges at login, end to end: a real SMTP server on 127.0.0.1 receives the mail, TOTP codes
 * are computed by the test, and @node-saml/node-saml as the app accepts (or never sees) the
 * assertion. Users enrol through their account console, as they would.
 *
 * The Gatehouse clock moves a little (throttle delays, resend gaps); the app runs on real time,
 * so it tolerates a few minutes of skew. Each scenario has its own user and client IP, so the
 * throttles of one never decide another.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Browser, readForm, type Page } from "../helpers/client.ts";
import { startGatehouse, type TestGatehouse } from "../helpers/gatehouse.ts";
import { journeys } from "../helpers/journeys.ts";
import { codeIn, startSmtp } from "../helpers/smtp.ts";
import { makeSp, readIdpMetadata, type TestSp } from "../helpers/sp.ts";

const password = "correct horse battery staple";
let gh: TestGatehouse;
let smtp: Awaited<ReturnType<typeof startSmtp>>;
let sp: TestSp;

beforeAll(async () => {
  smtp = await startSmtp();
  gh = await startGatehouse(
    { GATEHOUSE_SMTP_URL: smtp.url, GATEHOUSE_TRUSTED_PROXIES: "127.0.0.1", GATEHOUSE_KBA: "true" },
    { policies: { "verify.yaml": "name: verify\nversion: 1\nrules: []\ndefault: { challenge: { methods: [totp, kba, email-otp] } }\n" } },
  );
  const idp = await readIdpMetadata(`${gh.url}/saml/metadata`);
  sp = await makeSp(idp, "secure-app", { acceptedClockSkewMs: 10 * 60_000 });
  const app = await gh.addApp({ name: "Secure", entityId: sp.entityId, acs: [{ url: sp.acs, index: 0, isDefault: true }] });
  await gh.rt.loginPolicies.assign(app.id, "verify", "enforce", gh.clock.now());
});
afterAll(async () => {
  await gh.close();
  await smtp.close();
});

const j = journeys(() => gh, password);
const { url, totpNow, browser } = j;
const accountSession = (username: string) => j.accountSession(browser(), username);
const enrolTotp = (b: Browser) => j.enrolTotp(b);
const accepted = (page: Page) => j.accepted(sp, page);

/** From the app to the first page after the password: here, always the challenge. */
async function toChallenge(b: Browser, username: string): Promise<Page> {
  const page = await j.signIn(b, sp, username);
  expect(page.url).toMatch(/\/login\/challenge\?tx=/);
  return page;
}

async function choose(b: Browser, page: Page, method: string): Promise<Page> {
  const forms = [...page.body.matchAll(/<form/g)].map((_m, i) => readForm(page, i));
  const form = forms.find((f) => f.fields.method === method);
  if (!form) throw new Error(`method ${method} not offered: ${page.body.slice(0, 800)}`);
  return b.submit(form);
}

const audits = async (type: string, n = 30) => (await gh.rt.audit.recent(n)).filter((e) => e.type === type);

describe("an authenticator app (TOTP)", () => {
  let secret: string;
  let used = ""; // the code the first sign-in spent, replayed as it was
  beforeAll(async () => {
    await gh.addUser("tess", password, { email: "tess@example.com" });
    secret = await enrolTotp(await accountSession("tess"));
    expect((await smtp.next("tess@example.com", /sign-in setting/)).text).toContain("authenticator app was set up");
  });

  it("completes the sign-in with a code from the app (one step of drift allowed), and only then says multi-factor", async () => {
    const b = browser();
    const page = await toChallenge(b, "tess"); // one method: asked directly
    expect(page.body).toContain("Enter the code from your authenticator app");
    // The enrolment used the current step; the next one is within the allowed drift.
    used = totpNow(secret, 1);
    const { nameId, xml } = await accepted(await b.submit(readForm(page), { code: used }));
    expect(nameId).toBe("tess@example.com");
    expect(xml).toContain("<saml:AuthnContextClassRef>https://refeds.org/profile/mfa</saml:AuthnContextClassRef>");
    expect((await audits("challenge.passed"))[0]?.detail).toMatchObject({ method: "totp", multiFactor: true });
  });

  it("never accepts the same code twice, nor one two steps away", async () => {
    const b = browser();
    const page = await toChallenge(b, "tess");
    const replay = await b.submit(readForm(page), { code: used });
    expect(replay.status).toBe(401);
    // It was right once: the user is told it is spent, not that it is wrong.
    expect(replay.body).toContain("it was already used");
    expect(replay.body).not.toContain("SAMLResponse");
    expect((await audits("challenge.failed"))[0]).toMatchObject({ username: "tess", reason: "TOTP code already used" });
    const far = await b.submit(readForm(replay), { code: totpNow(secret, 3) });
    expect(far.status).toBe(401);
    expect(far.body).toContain("That code is not right");
    expect((await audits("challenge.failed"))[0]).toMatchObject({ username: "tess", reason: "wrong or expired TOTP code" });
  });

  it("stores the seed sealed, never in the clear", () => {
    const row = gh.rt.db.prepare("SELECT secret_sealed FROM totp_factors").get() as { secret_sealed: string };
    expect(row.secret_sealed).toMatch(/^v1\./);
    expect(row.secret_sealed).not.toContain(secret);
  });
});

describe("security questions (KBA)", () => {
  beforeAll(async () => {
    await gh.addUser("kim", password, { email: "kim@example.com" });
    const b = await accountSession("kim");
    const form = readForm(await b.request(url("/account/kba")));
    const saved = await b.submit(form, { q0: "First school?", a0: "  St.  Mary's ", q1: "First job town?", a1: "Ipswich", q2: "A teacher you remember?", a2: "Ms Ｆrost" });
    expect(saved.status).toBe(303);
  });
  const answers: Record<string, string> = { "First school?": "st. mary's", "First job town?": "IPSWICH", "A teacher you remember?": "ms frost" };
  const fill = (page: Page, wrong = -1): Record<string, string> => {
    const labels = [...page.body.matchAll(/<label for="f-(answer\d)">([^<]+)<\/label>/g)];
    expect(labels).toHaveLength(2);
    return Object.fromEntries(labels.map((l, i) => [l[1] as string, i === wrong ? "nope" : (answers[(l[2] as string).replace(/&#39;/g, "'")] as string)]));
  };

  const asked = (page: Page) => [...page.body.matchAll(/<label for="f-answer\d">([^<]+)</g)].map((m) => m[1]);

  it("asks two of the three, keeps the same pair on reload and in another sign-in, and accepts normalised answers", async () => {
    const b = browser();
    const page = await toChallenge(b, "kim");
    expect(page.body).toContain("Answer your security questions");
    const again = await b.request(page.url);
    expect(asked(again)).toEqual(asked(page));
    for (let i = 0; i < 3; i++) expect(asked(await toChallenge(browser(), "kim"))).toEqual(asked(page));
    const pending = () => (gh.rt.db.prepare("SELECT count(*) AS n FROM kba_pending").get() as { n: number }).n;
    expect(pending()).toBe(1); // the pair is the account's, until answered right
    const { nameId, xml } = await accepted(await b.submit(readForm(again), fill(again)));
    expect(nameId).toBe("kim@example.com");
    expect(pending()).toBe(0);
    // Not a second factor: the assertion must not claim multi-factor.
    expect(xml).toContain("PasswordProtectedTransport");
    expect(xml).not.toContain("refeds.org/profile/mfa");
  });

  it("refuses a half-right pair and keeps answers out of the audit log", async () => {
    const b = browser();
    const page = await toChallenge(b, "kim");
    const half = await b.submit(readForm(page), fill(page, 1));
    expect(half.status).toBe(401);
    expect(half.body).toContain("do not match");
    const failed = (await audits("challenge.failed"))[0];
    expect(failed).toMatchObject({ username: "kim", reason: "KBA: 1 of 2 answers right" });
    expect(JSON.stringify(await gh.rt.audit.recent(200))).not.toMatch(/ipswich|frost|mary/i);
  });

  it("locks the method for half an hour after repeated failures, and the lock outlives a new transaction", async () => {
    const b = browser();
    let page = await toChallenge(b, "kim");
    // One failure from the test above, four here: the fifth consecutive failure starts the lock.
    for (let i = 0; i < 4; i++) page = await b.submit(readForm(page), fill(page, 0));
    expect(page.status).toBe(401);
    const fresh = browser();
    const p = await toChallenge(fresh, "kim");
    const locked = await fresh.submit(readForm(p), fill(p));
    expect(locked.status).toBe(429);
    // Security questions lock for 30 minutes (growing), not the 30 seconds of other methods.
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(29 * 60);
    expect((await audits("challenge.throttled"))[0]?.reason).toMatch(/account delay after 5 consecutive failures/);
  });
});

describe("a code sent to the alternate email", () => {
  /** A user with a confirmed alternate email, set up through the console. */
  async function withAltEmail(username: string): Promise<string> {
    await gh.addUser(username, password, { email: `${username}@example.com` });
    const alt = `${username}.alt@example.org`;
    const b = await accountSession(username);
    const sent = await b.submit(readForm(await b.request(url("/account/alt-email"))), { address: alt });
    expect(sent.body).toContain(`We sent a code to ${username[0] ?? ""}•••@example.org`);
    const mail = await smtp.next(alt, /Confirm your alternate email/);
    expect(mail.html).toContain(codeIn(mail));
    const wrong = await b.submit(readForm(sent), { code: codeIn(mail) === "000000" ? "111111" : "000000" });
    expect(wrong.status).toBe(400);
    expect((await gh.rt.users.byLogin(username))?.altEmail).toBeNull(); // not used before it is confirmed
    const confirmed = await b.submit(readForm(wrong), { code: codeIn(mail) });
    expect(confirmed.status).toBe(303);
    expect((await gh.rt.users.byLogin(username))?.altEmail).toBe(alt);
    return alt;
  }

  it("mails a code that completes the sign-in once, and is never multi-factor", async () => {
    const alt = await withAltEmail("eve");
    const b = browser();
    const page = await toChallenge(b, "eve");
    expect(page.body).toContain("We sent a code to e•••@example.org");
    const mail = await smtp.next(alt, /sign-in code/);
    const code = codeIn(mail);
    expect(JSON.stringify(await gh.rt.audit.recent(50))).not.toContain(code);
    const { nameId, xml } = await accepted(await b.submit(readForm(page), { code }));
    expect(nameId).toBe("eve@example.com");
    expect(xml).not.toContain("refeds.org/profile/mfa");
    const again = await b.submit(readForm(page), { code });
    expect(again.status).toBe(400); // the transaction is complete; the code is spent
  });

  it("limits resends to one a minute; a new code replaces the old one", async () => {
    const alt = await withAltEmail("ed");
    const b = browser();
    const page = await toChallenge(b, "ed");
    const first = codeIn(await smtp.next(alt, /sign-in code/));
    const resendForm = readForm(page, 1);
    const tooSoon = await b.submit(resendForm);
    expect(tooSoon.status).toBe(429);
    expect(tooSoon.body).toContain("less than a minute ago");
    expect(tooSoon.body).toMatch(/You can ask for another in \d+ seconds/);
    expect(tooSoon.body).not.toContain("We sent a code"); // only the refusal, not the earlier notice
    gh.clock.advance(61_000);
    const posted = await b.submit(resendForm);
    expect(posted.status).toBe(303); // a reload of the page that follows never mails again
    const resent = await b.follow(new URL(posted.headers.get("location") ?? "", url("/")).toString());
    expect(resent.body).toContain("We sent a new code");
    const second = codeIn(await smtp.next(alt, /sign-in code/));
    if (first !== second) expect((await b.submit(readForm(resent), { code: first })).status).toBe(401);
    await accepted(await b.submit(readForm(resent), { code: second }));
  });

  it("ends the transaction at the fifth wrong code, and a new code does not reset the failures", async () => {
    const alt = await withAltEmail("em");
    const b = browser();
    let page = await toChallenge(b, "em");
    const code = codeIn(await smtp.next(alt, /sign-in code/));
    const wrong = code === "000000" ? "111111" : "000000";
    for (let i = 0; i < 4; i++) page = await b.submit(readForm(page), { code: wrong });
    expect(page.status).toBe(401);
    expect((await smtp.next("em@example.com", /not the next step/)).text).toContain("your password was entered correctly");
    gh.clock.advance(61_000);
    const resendForm = readForm(page, 1);
    page = await b.follow(resendForm.action, { form: resendForm.fields }); // a new code…
    expect(page.body).toContain("We sent a new code");
    await smtp.next(alt, /sign-in code/);
    const fifth = await b.submit(readForm(page), { code: wrong });
    expect(fifth.status).toBe(429); // …and the fifth wrong answer ends this transaction
    expect((await b.submit(readForm(page), { code: wrong })).status).toBe(400);
    // A new sign-in gets a new code, but the account's failures stand: the right code waits.
    const b2 = browser();
    const again = await toChallenge(b2, "em");
    const fresh = codeIn(await smtp.next(alt, /sign-in code/));
    expect((await b2.submit(readForm(again), { code: fresh })).status).toBe(429);
  });
});

describe("the challenge step", () => {
  it("lets the user choose among the methods they have, and a pass in one tab never completes another", async () => {
    await gh.addUser("max", password, { email: "max@example.com" });
    const acct = await accountSession("max");
    // The app first; the questions then need a sign-in with it (the strongest method).
    const secret = await enrolTotp(acct);
    await j.stepUp(acct, "max", secret, "/account/kba");
    const saved = await acct.submit(readForm(await acct.request(url("/account/kba"))), { q0: "Question one?", a0: "alpha", q1: "Question two?", a1: "bravo", q2: "Question three?", a2: "charlie" });
    expect(saved.headers.get("location")).toBe("/account?done=kba");
    const b = browser();
    const tabA = await toChallenge(b, "max");
    expect(tabA.body).toContain("Choose how to verify");
    expect(tabA.body).not.toContain("alternate email"); // not set up: not offered
    const tabB = await toChallenge(b, "max");
    gh.clock.advance(60_000); // the step-up spent the last code
    await accepted(await b.submit(readForm(await choose(b, tabB, "totp")), { code: totpNow(secret, 1) }));
    const stillA = await b.request(tabA.url);
    expect(stillA.status).toBe(200);
    expect(stillA.body).toContain("Choose how to verify");
  });

  it("refuses a user with none of the methods, telling them how to set one up", async () => {
    await gh.addUser("nia", password, { email: "nia@example.com" });
    const b = browser();
    const start = await b.follow(await sp.saml.getAuthorizeUrlAsync("", undefined, {}));
    const page = await b.submit(readForm(start), { username: "nia", password });
    expect(page.status).toBe(403);
    expect(page.body).toContain("/account");
    expect(b.cookies.has("gh_session")).toBe(false);
  });

  it("throttles wrong answers per IP as well, across accounts", async () => {
    await gh.addUser("ivy", password, { email: "ivy@example.com" });
    const secret = await enrolTotp(await accountSession("ivy"));
    const b = browser(); // one IP for everything below
    // 19 failed sign-ins from this IP, spread over unknown accounts and several transactions…
    for (let t = 0; t < 4; t++) {
      let page = await b.follow(await sp.saml.getAuthorizeUrlAsync("", undefined, {}));
      for (let i = 0; i < (t < 3 ? 5 : 4); i++) page = await b.submit(readForm(page), { username: `ghost${t}${i}`, password: "wrong password here" });
    }
    // …then one wrong code reaches the IP's limit of 20, and even the right code waits.
    const page = await toChallenge(b, "ivy");
    expect((await b.submit(readForm(page), { code: "000000" })).status).toBe(401);
    const blocked = await b.submit(readForm(page), { code: totpNow(secret, 1) });
    expect(blocked.status).toBe(429);
    expect((await audits("challenge.throttled"))[0]).toMatchObject({ username: "ivy", reason: "IP failure rate" });
  });

  it("refuses a challenge answer with a wrong CSRF token or from another browser", async () => {
    const b = browser();
    const page = await toChallenge(b, "tess");
    expect((await b.submit(readForm(page), { code: "123456", csrf: "x" })).status).toBe(403);
    const other = browser();
    expect((await other.submit(readForm(page), { code: "123456" })).status).toBe(400);
  });
});
