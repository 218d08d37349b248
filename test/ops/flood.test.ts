/**
 * An anonymous flood must not fill the disk. Every rejected request used to write an audit row
 * (about 900 a second from one client, half a gigabyte of permanent audit an hour), and every
 * GET /login wrote a transaction. Here 10,000 bad requests from one address, then 2,000 from
 * 2,000 networks, hit a real Gatehouse; the rows of every table and the database's bytes are
 * measured before and after. The per-network limit in front of /login and /saml/* answers most
 * with 429, and the audit counts anonymous rejections into summaries instead of a row each,
 * while every rejection stays accounted for.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGatehouse, type TestGatehouse } from "../helpers/gatehouse.ts";

let gh: TestGatehouse;

beforeAll(async () => {
  gh = await startGatehouse({ GATEHOUSE_TRUSTED_PROXIES: "127.0.0.1" });
});
afterAll(() => gh.close());

function tables(): Record<string, number> {
  const names = (gh.rt.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as { name: string }[]).map((r) => r.name);
  return Object.fromEntries(names.map((n) => [n, (gh.rt.db.prepare(`SELECT count(*) AS n FROM "${n}"`).get() as { n: number }).n]));
}

const bytes = (): number => (gh.rt.db.pragma("page_count", { simple: true }) as number) * (gh.rt.db.pragma("page_size", { simple: true }) as number);

const growth = (before: Record<string, number>, after: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.keys(after).flatMap((k) => ((after[k] ?? 0) !== (before[k] ?? 0) ? [[k, (after[k] ?? 0) - (before[k] ?? 0)] as const] : [])));

interface Sent {
  kind: string;
  status: number;
  retryAfter: string | null;
  body: string;
}

/** The bad requests of a flood, by kind: each ends on an error page, except a sign-in start. */
const kinds: Record<string, { limit: "login" | "saml"; send: (url: string, headers: Record<string, string>) => Promise<Response> }> = {
  "malformed SAMLRequest (Redirect)": { limit: "saml", send: (url, headers) => fetch(`${url}/saml/sso?SAMLRequest=%25%25%25not-base64!!`, { headers, redirect: "manual" }) },
  "garbage SAMLRequest (POST)": { limit: "saml", send: (url, headers) => post(`${url}/saml/sso`, { SAMLRequest: "PGdhcmJhZ2U+" }, headers) },
  "garbage LogoutRequest": { limit: "saml", send: (url, headers) => post(`${url}/saml/slo`, { SAMLRequest: "bm90IGEgbG9nb3V0" }, headers) },
  "password post without a sign-in": { limit: "login", send: (url, headers) => post(`${url}/login`, { tx: "A".repeat(32), csrf: "x", username: "admin", password: "guess" }, headers) },
  "sign-in start": { limit: "login", send: (url, headers) => fetch(`${url}/login`, { headers, redirect: "manual" }) },
};

const post = (url: string, form: Record<string, string>, headers: Record<string, string>) =>
  fetch(url, { method: "POST", body: new URLSearchParams(form).toString(), headers: { ...headers, "content-type": "application/x-www-form-urlencoded" }, redirect: "manual" });

/** Sends `n` requests, `concurrency` at a time; `pick(i)` chooses the kind and client address. */
async function flood(n: number, pick: (i: number) => [kind: string, ip: string], concurrency = 50): Promise<Sent[]> {
  const out: Sent[] = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const [kind, ip] = pick(next++);
      const res = await (kinds[kind] as (typeof kinds)[string]).send(gh.url, { "x-forwarded-for": ip });
      out.push({ kind, status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.text() });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}

const anonymousRejections = ["request.rejected", "saml.authn_request.rejected", "saml.logout.rejected"];

/** Rejections written one by one plus those counted into summaries, since audit row `afterId`. */
function accountedRejections(afterId: number): { written: number; counted: number } {
  const rows = gh.rt.db.prepare("SELECT type, detail_json AS detail FROM audit_events WHERE id > ?").all(afterId) as { type: string; detail: string | null }[];
  return {
    written: rows.filter((r) => anonymousRejections.includes(r.type)).length,
    counted: rows.filter((r) => r.type === "request.rejections_counted").reduce((n, r) => n + (JSON.parse(r.detail ?? "{}") as { counted: number }).counted, 0),
  };
}

const lastAuditId = (): number => (gh.rt.db.prepare("SELECT coalesce(max(id), 0) AS id FROM audit_events").get() as { id: number }).id;

describe("an anonymous flood", () => {
  it("of 10,000 bad requests from one address leaves the database bounded", async () => {
    await gh.rt.audit.flush();
    const [rowsBefore, bytesBefore, auditBefore] = [tables(), bytes(), lastAuditId()];
    const names = Object.keys(kinds);
    const t = performance.now();
    const sent = await flood(10_000, (i) => [names[i % names.length] as string, "203.0.113.7"]);
    const elapsed = performance.now() - t;
    // Limits are per minute: a flood that took longer than one (a loaded machine) had more of them.
    const minutes = Math.ceil(elapsed / 60_000);
    await gh.rt.audit.flush();
    const [rowsAfter, bytesAfter] = [tables(), bytes()];

    // The limit in front: 60 sign-in requests and 300 SAML requests a minute from one network
    // (exactly that when the flood took under a minute, as it does on an idle 2-core machine).
    const admitted = (limit: "login" | "saml") => sent.filter((s) => kinds[s.kind]?.limit === limit && s.status !== 429).length;
    expect(admitted("login")).toBeGreaterThanOrEqual(60);
    expect(admitted("login")).toBeLessThanOrEqual(60 * minutes);
    expect(admitted("saml")).toBeGreaterThanOrEqual(300);
    expect(admitted("saml")).toBeLessThanOrEqual(300 * minutes);
    const limited = sent.filter((s) => s.status === 429);
    expect(limited).toHaveLength(10_000 - admitted("login") - admitted("saml"));
    expect(limited.every((s) => Number(s.retryAfter) >= 1 && Number(s.retryAfter) <= 60 && s.body.includes("rate_limited"))).toBe(true);

    // What was written: the sign-in starts' transactions, and a few dozen audit rows.
    const starts = sent.filter((s) => s.status === 303).length;
    const grown = growth(rowsBefore, rowsAfter);
    expect(Object.keys(grown).sort()).toEqual(["audit_events", "transactions"]);
    expect(grown.transactions).toBe(starts);
    // Six kinds of rejection, three rows each, in every audit minute the flood touched, plus summaries.
    expect(grown.audit_events).toBeLessThanOrEqual(24 * (minutes + 1));
    expect(bytesAfter - bytesBefore).toBeLessThanOrEqual(128 * 1024);

    // Every rejection is still accounted for: written one by one, or counted in a summary.
    const { written, counted } = accountedRejections(auditBefore);
    expect(written + counted).toBe(10_000 - starts);
    console.log(`one address, 10,000 requests in ${Math.round(elapsed)} ms: audit +${grown.audit_events} rows (${written} rejections written, ${counted} counted), transactions +${grown.transactions}, ${bytesAfter - bytesBefore} bytes`);
  }, 120_000);

  it("from 2,000 networks writes a bounded number of audit rows a minute", async () => {
    await gh.rt.audit.flush();
    const [rowsBefore, bytesBefore, auditBefore] = [tables(), bytes(), lastAuditId()];
    const garbage = Object.keys(kinds).filter((k) => k !== "sign-in start");
    // One request from each of 2,000 IPv6 /64s: the per-network limit lets every one through.
    const sent = await flood(2_000, (i) => [garbage[i % garbage.length] as string, `2001:db8:${i.toString(16)}::1`]);
    await gh.rt.audit.flush();
    const [rowsAfter, bytesAfter] = [tables(), bytes()];

    expect(sent.filter((s) => s.status === 429)).toEqual([]);
    const grown = growth(rowsBefore, rowsAfter);
    expect(Object.keys(grown)).toEqual(["audit_events"]);
    // At most 100 rejections a minute are written one by one (the flood may straddle two minutes), plus summaries.
    expect(grown.audit_events).toBeLessThanOrEqual(2 * 100 + 4);
    expect(bytesAfter - bytesBefore).toBeLessThanOrEqual(256 * 1024);
    const { written, counted } = accountedRejections(auditBefore);
    expect(written + counted).toBe(2_000);
    console.log(`2,000 networks: audit +${grown.audit_events} rows (${written} written, ${counted} counted), ${bytesAfter - bytesBefore} bytes`);
  }, 60_000);
});

describe("the limit before sign-in and SAML", () => {
  it("lets exactly 60 sign-in posts a minute through from one network, however many arrive at once", async () => {
    const g = await startGatehouse({ GATEHOUSE_TRUSTED_PROXIES: "127.0.0.1" });
    try {
      const send = (ip: string) => post(`${g.url}/login`, { tx: "B".repeat(32), csrf: "x", username: "u", password: "p" }, { "x-forwarded-for": ip }).then(async (r) => [r.status, await r.text()] as const);
      // 100 at once from addresses in one IPv6 /64: one subscriber, one budget.
      const burst = await Promise.all(Array.from({ length: 100 }, (_, i) => send(`2001:db8:7:7::${(i + 1).toString(16)}`)));
      expect(burst.filter(([s]) => s !== 429)).toHaveLength(60);
      expect(burst.filter(([s]) => s === 429)).toHaveLength(40);
      // Another /64 and an IPv4 address have budgets of their own.
      expect((await send("2001:db8:7:8::1"))[0]).not.toBe(429);
      expect((await send("192.0.2.10"))[0]).not.toBe(429);
    } finally {
      await g.close();
    }
  });

  it("does not count looking at a sign-in page, and takes its limits from the configuration", async () => {
    const g = await startGatehouse({ GATEHOUSE_TRUSTED_PROXIES: "127.0.0.1", GATEHOUSE_LOGIN_REQUESTS_PER_MINUTE: "2", GATEHOUSE_SAML_REQUESTS_PER_MINUTE: "3" });
    try {
      const headers = { "x-forwarded-for": "192.0.2.20" };
      const start = await fetch(`${g.url}/login`, { headers, redirect: "manual" });
      expect(start.status).toBe(303);
      const page = new URL(start.headers.get("location") as string, g.url).toString();
      const cookie = start.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
      for (let i = 0; i < 5; i++) expect((await fetch(page, { headers: { ...headers, cookie } })).status).toBe(200);
      expect((await fetch(`${g.url}/login`, { headers, redirect: "manual" })).status).toBe(303);
      expect((await fetch(`${g.url}/login`, { headers, redirect: "manual" })).status).toBe(429);
      const saml = await Promise.all(Array.from({ length: 5 }, () => fetch(`${g.url}/saml/metadata`, { headers })));
      expect(saml.map((r) => r.status).sort()).toEqual([200, 200, 200, 429, 429]);
    } finally {
      await g.close();
    }
  });
});
