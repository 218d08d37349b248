/**
 * The request log, read as an operator reads it: Gatehouse's JSON lines captured from a real
 * server while a user enrols, fails and passes a sign-in through @node-saml/node-saml as the app.
 * Every line carries the ID of its request, the same ID is echoed in X-Request-ID and stored with
 * the audit events of that request, and no secret the journey used appears anywhere in the log.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Browser, readForm, type Page } from "../helpers/client.ts";
import { startGatehouse, type TestGatehouse } from "../helpers/gatehouse.ts";
import { journeys } from "../helpers/journeys.ts";
import { codeIn, startSmtp } from "../helpers/smtp.ts";
import { makeSp, readIdpMetadata, type TestSp } from "../helpers/sp.ts";

const password = "correct horse battery staple";
const wrongPassword = "incorrect donkey battery stable";
const answers = { "Name of your first ferry?": "Zanzibar Lighthouse", "Street you grew up on?": "Quillfeather Lane", "A teacher you remember?": "Professor Umbridgewater" };
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface Line {
  reqId?: string;
  msg?: string;
  level: number;
  req?: { id: string; method: string; url: string };
  res?: { statusCode: number };
  [k: string]: unknown;
}

const captured: string[] = [];
const logs = { write: (chunk: string) => void captured.push(chunk) };
const logText = () => captured.join("");
const logLines = (): Line[] => logText().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Line);

let gh: TestGatehouse;
let smtp: Awaited<ReturnType<typeof startSmtp>>;
let sp: TestSp;
let smtpClosed = false;
const j = journeys(() => gh, password);
const { url } = j;

beforeAll(async () => {
  smtp = await startSmtp();
  gh = await startGatehouse(
    { GATEHOUSE_SMTP_URL: smtp.url, GATEHOUSE_TRUSTED_PROXIES: "127.0.0.1", GATEHOUSE_KBA: "true", GATEHOUSE_LOG_LEVEL: "debug" },
    { policies: { "verify.yaml": "name: verify\nversion: 1\nrules: []\ndefault: { challenge: { methods: [email-otp, kba] } }\n" }, logs },
  );
  sp = await makeSp(await readIdpMetadata(`${gh.url}/saml/metadata`), "logged-app", { acceptedClockSkewMs: 10 * 60_000 });
  const app = await gh.addApp({ name: "Logged", entityId: sp.entityId, acs: [{ url: sp.acs, index: 0, isDefault: true }] });
  await gh.rt.loginPolicies.assign(app.id, "verify", "enforce", gh.clock.now());
  await gh.addUser("lena", password, { email: "lena@example.com" });
});
afterAll(async () => {
  await gh.close();
  if (!smtpClosed) await smtp.close();
});

/** Every secret the journey below handles, to be looked for in the log. */
const secrets = new Map<string, string>([
  ["password", password],
  ["wrong password", wrongPassword],
  ...Object.values(answers).map((a, i) => [`security answer ${i}`, a] as [string, string]),
]);
const rememberCookies = (b: Browser) => b.cookies.forEach((value, name) => secrets.set(`cookie ${name}=${value.slice(0, 8)}…`, value));
/** A SAML message as it travels and decoded; a part of it catches a value logged cut short. */
const rememberMessage = (what: string, value: string) => {
  secrets.set(what, value);
  secrets.set(`${what}, URL-encoded`, encodeURIComponent(value));
  secrets.set(`${what}, a part`, value.slice(20, 60));
};
const ids: Record<string, string> = {};
const idOf = (page: Page): string => page.headers.get("x-request-id") ?? "";

describe("a full sign-in, logged", () => {
  beforeAll(async () => {
    // Enrolment in the account console: an alternate email for codes, then security questions,
    // which the console asks a fresh sign-in for (with a code to the new address).
    const acct = await j.accountSession(j.browser(), "lena");
    const sent = await acct.submit(readForm(await acct.request(url("/account/alt-email"))), { address: "lena.alt@example.org" });
    const confirmCode = codeIn(await smtp.next("lena.alt@example.org", /Confirm your alternate email/));
    secrets.set("alternate email confirmation code", confirmCode);
    expect((await acct.submit(readForm(sent), { code: confirmCode })).status).toBe(303);
    rememberCookies(acct);
    gh.clock.advance(61_000); // past the resend gap of the confirmation code
    const reauth = await acct.follow(url("/account/kba"));
    const reauthChallenge = await acct.follow(url((await acct.submit(readForm(reauth), { username: "lena", password })).headers.get("location") ?? ""));
    const reauthCode = codeIn(await smtp.next("lena.alt@example.org", /sign-in code/));
    secrets.set("re-authentication code", reauthCode);
    rememberCookies(acct);
    const kbaPage = await acct.follow(url((await acct.submit(readForm(reauthChallenge), { code: reauthCode })).headers.get("location") ?? ""));
    const kba = await acct.submit(readForm(kbaPage), Object.fromEntries(Object.entries(answers).flatMap(([q, a], i) => [[`q${i}`, q], [`a${i}`, a]])));
    expect(kba.status).toBe(303);
    rememberCookies(acct);

    // From the app: a wrong password, the right one, a wrong emailed code, the right one.
    const b = j.browser();
    const authorize = new URL(await sp.saml.getAuthorizeUrlAsync("relay-1", undefined, {}));
    rememberMessage("SAMLRequest", authorize.searchParams.get("SAMLRequest") ?? "");
    rememberMessage("Signature", authorize.searchParams.get("Signature") ?? "");
    const start = await b.request(authorize.toString());
    ids.authnRequest = idOf(start);
    const login = await b.follow(url(start.headers.get("location") ?? ""));
    rememberCookies(b);
    const wrong = await b.submit(readForm(login), { username: "lena", password: wrongPassword });
    expect(wrong.status).toBe(401);
    ids.wrongPassword = idOf(wrong);
    const right = await b.submit(readForm(wrong), { username: "lena", password });
    expect(right.status).toBe(303);
    const choose = await b.follow(url(right.headers.get("location") ?? ""));
    const emailForm = [...choose.body.matchAll(/<form/g)].map((_m, i) => readForm(choose, i)).find((f) => f.fields.method === "email-otp");
    const challenge = await b.submit(emailForm ?? readForm(choose));
    const code = codeIn(await smtp.next("lena.alt@example.org", /sign-in code/));
    const wrongCode = code === "000000" ? "111111" : "000000";
    secrets.set("sign-in code", code);
    secrets.set("wrong sign-in code", wrongCode);
    rememberCookies(b);
    const refused = await b.submit(readForm(challenge), { code: wrongCode });
    expect(refused.status).toBe(401);
    const posted = await b.submit(readForm(refused), { code, remember: "yes" });
    ids.passed = idOf(posted);
    const samlResponse = readForm(posted).fields.SAMLResponse ?? "";
    rememberMessage("SAMLResponse", samlResponse);
    expect((await sp.saml.validatePostResponseAsync({ SAMLResponse: samlResponse })).profile?.nameID).toBe("lena@example.com");
    rememberCookies(b);

    // A second sign-in with the security questions, in a fresh browser, while the mail server is
    // down: the notice of a new device fails in the background, and that failure is logged.
    await smtp.close();
    smtpClosed = true;
    const b2 = j.browser();
    let page = await j.signIn(b2, sp, "lena");
    const kbaForm = [...page.body.matchAll(/<form/g)].map((_m, i) => readForm(page, i)).find((f) => f.fields.method === "kba");
    if (kbaForm) page = await b2.submit(kbaForm);
    const labels = [...page.body.matchAll(/<label for="f-(answer\d)">([^<]+)<\/label>/g)];
    expect(labels).toHaveLength(2);
    const filled = Object.fromEntries(labels.map((l) => [l[1] as string, answers[(l[2] as string).replace(/&#39;/g, "'") as keyof typeof answers]]));
    rememberCookies(b2);
    await j.accepted(sp, await b2.submit(readForm(page), filled));
    rememberCookies(b2);
  });

  it("writes none of its secrets: passwords, codes, security answers, cookies, SAML messages and signatures", () => {
    const text = logText();
    expect(logLines().length).toBeGreaterThan(20);
    expect(secrets.size).toBeGreaterThan(15);
    // Codes are six digits: looked for as a whole number, not inside a timestamp.
    const leaked = [...secrets].filter(([, value]) => value.length > 0 && (/^\d{6}$/.test(value) ? new RegExp(`(?<!\\d)${value}(?!\\d)`).test(text) : text.includes(value)));
    expect(leaked.map(([what]) => what)).toEqual([]);
    for (const [what, value] of secrets) expect(value.length, what).toBeGreaterThan(0);
  });

  it("logs the AuthnRequest's URL with the message and signature replaced", () => {
    const [line] = logLines().filter((l) => l.reqId === ids.authnRequest && l.req);
    expect(line?.req?.url).toMatch(/^\/saml\/sso\?/);
    const logged = new URLSearchParams(line?.req?.url.split("?")[1]);
    expect(logged.get("SAMLRequest")).toBe("[redacted]");
    expect(logged.get("Signature")).toBe("[redacted]");
    expect(logged.get("RelayState")).toBe("relay-1");
  });

  it("puts a request ID on every line, the one its response echoed in X-Request-ID", () => {
    const lines = logLines();
    expect(lines.filter((l) => typeof l.reqId !== "string")).toEqual([]);
    for (const l of lines.filter((x) => x.req)) expect(l.reqId).toBe(l.req?.id);
    for (const id of Object.values(ids)) expect(id).toMatch(uuid);
    const wrong = lines.filter((l) => l.reqId === ids.wrongPassword);
    expect(wrong).toHaveLength(1);
    expect(wrong[0]).toMatchObject({ req: { method: "POST", url: "/login" }, res: { statusCode: 401 } });
  });

  it("stores the request ID with the audit events of that request", async () => {
    const events = await gh.rt.audit.recent(200);
    const of = (id: string | undefined) => events.filter((e) => e.requestId === id).map((e) => e.type);
    expect(of(ids.authnRequest)).toContain("saml.authn_request.accepted");
    expect(of(ids.wrongPassword)).toEqual(["login.password.failed"]);
    expect(of(ids.passed)).toEqual(expect.arrayContaining(["challenge.passed", "session.started", "saml.response.issued"]));
    // Each request files its events under its own ID only.
    expect(new Set(events.filter((e) => e.type === "saml.response.issued").map((e) => e.requestId)).size).toBe(2);
  });

  it("carries the ID onto lines written in the background for the request: notices the mail server refused", async () => {
    const events = await gh.rt.audit.recent(200);
    const lastDevice = events.find((e) => e.type === "device.registered"); // the second sign-in's
    const failures = () => logLines().filter((l) => l.msg === "could not send a notice");
    const deadline = Date.now() + 5000;
    while (!failures().some((l) => l.reqId === lastDevice?.requestId) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(failures().find((l) => l.reqId === lastDevice?.requestId)).toMatchObject({ kind: "new-device" });
    // Notices still in flight when the server closed fail too: each under the request that caused it.
    const cause: Record<string, string> = { "new-device": "device.registered", "second-step-failed": "challenge.failed" };
    for (const failure of failures()) {
      expect(events.filter((e) => e.requestId === failure.reqId).map((e) => e.type)).toContain(cause[failure.kind as string]);
      expect(logLines().filter((l) => l.reqId === failure.reqId && l.req)).toHaveLength(1);
    }
  });
});

describe("X-Request-ID from a client", () => {
  it("is kept when a trusted proxy sends one that looks like an ID, and stored with its audit events", async () => {
    const b = new Browser({ "x-forwarded-for": "198.51.100.200", "x-request-id": "edge-7f3a9c21b4d8" });
    const start = await b.request(await sp.saml.getAuthorizeUrlAsync("", undefined, {}));
    expect(start.headers.get("x-request-id")).toBe("edge-7f3a9c21b4d8");
    expect((await gh.rt.audit.recent(20)).find((e) => e.requestId === "edge-7f3a9c21b4d8")?.type).toBe("saml.authn_request.accepted");
    expect(logLines().filter((l) => l.reqId === "edge-7f3a9c21b4d8").map((l) => l.req?.url.split("?")[0])).toEqual(["/saml/sso"]);
  });

  it.each([
    ["with spaces and a line break", "id with\tspaces"],
    ["too short", "abc"],
    ["too long", "a".repeat(65)],
    ["with a quote", 'abc"def1234'],
  ])("is replaced when it is %s", async (_what, sent) => {
    const res = await fetch(url("/saml/metadata"), { headers: { "x-forwarded-for": "198.51.100.201", "x-request-id": sent } });
    expect(res.headers.get("x-request-id")).toMatch(uuid);
  });

  it("is given to a health poll too, which writes no line", async () => {
    const res = await fetch(url("/healthz"));
    const id = res.headers.get("x-request-id");
    expect(id).toMatch(uuid);
    // A request after the poll: once its line is written, the poll's would have been.
    const after = (await fetch(url("/saml/metadata"))).headers.get("x-request-id");
    const deadline = Date.now() + 5000;
    while (!logLines().some((l) => l.reqId === after) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(logLines().some((l) => l.reqId === after)).toBe(true);
    expect(logLines().filter((l) => l.reqId === id)).toEqual([]);
  });

  it("is never taken from a client that is not a trusted proxy", async () => {
    const direct = await startGatehouse({});
    try {
      const res = await fetch(`${direct.url}/saml/metadata`, { headers: { "x-request-id": "client-chosen-id-1" } });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-request-id")).toMatch(uuid);
    } finally {
      await direct.close();
    }
  });
});
