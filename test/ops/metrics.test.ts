/**
 * /metrics: Prometheus text on its own listener (GATEHOUSE_METRICS_ADDR), never on the public
 * port. Real sign-ins against a real Gatehouse, @node-saml/node-saml as the app, and the counters
 * read back from the exposition a Prometheus server would scrape. The sign-in, policy, challenge
 * and SAML counters come from the audit events, so the test also holds them to the audit table.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { listenMetrics, routeGroup } from "../../src/ops/metrics.ts";
import { readForm } from "../helpers/client.ts";
import { startGatehouse, type TestGatehouse } from "../helpers/gatehouse.ts";
import { journeys } from "../helpers/journeys.ts";
import { makeSp, readIdpMetadata, type TestSp } from "../helpers/sp.ts";

const password = "correct horse battery staple";
let gh: TestGatehouse;
let sp: TestSp;
let closedSp: TestSp; // an app whose policy refuses everyone
let closedAppId: string;
let listener: Server;
let metricsUrl: string;

beforeAll(async () => {
  gh = await startGatehouse(
    { GATEHOUSE_TRUSTED_PROXIES: "127.0.0.1" },
    {
      policies: {
        "verify.yaml": "name: verify\nversion: 1\nrules: []\ndefault: { challenge: { methods: [totp] } }\n",
        "closed.yaml": 'name: closed\nversion: 1\nrules: []\ndefault: { deny: { message: "Closed." } }\n',
      },
    },
  );
  const idp = await readIdpMetadata(`${gh.url}/saml/metadata`);
  sp = await makeSp(idp, "metered-app", { acceptedClockSkewMs: 10 * 60_000 });
  const app = await gh.addApp({ name: "Metered", entityId: sp.entityId, acs: [{ url: sp.acs, index: 0, isDefault: true }] });
  await gh.rt.loginPolicies.assign(app.id, "verify", "enforce", gh.clock.now());
  closedSp = await makeSp(idp, "closed-app", { acceptedClockSkewMs: 10 * 60_000 });
  closedAppId = (await gh.addApp({ name: "Closed", entityId: closedSp.entityId, acs: [{ url: closedSp.acs, index: 0, isDefault: true }] })).id;
  await gh.rt.loginPolicies.assign(closedAppId, "closed", "enforce", gh.clock.now());
  listener = await listenMetrics(gh.rt.metrics, { host: "127.0.0.1", port: 0 });
  metricsUrl = `http://127.0.0.1:${(listener.address() as AddressInfo).port}/metrics`;
});
afterAll(async () => {
  await new Promise((resolve) => listener.close(resolve));
  await gh.close();
});

const j = journeys(() => gh, password);

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Scrapes the metrics listener as Prometheus would, and parses the text format's samples. */
async function scrape(url = metricsUrl): Promise<Sample[]> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return (await res.text())
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((line) => {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!m) throw new Error(`not a sample: ${line}`);
      const labels = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l): [string, string] => [l[1] ?? "", l[2] ?? ""]));
      return { name: m[1] as string, labels, value: Number(m[3]) };
    });
}

/** The sample with exactly these labels (0 when the series does not exist yet). */
const value = (samples: Sample[], name: string, labels: Record<string, string> = {}): number =>
  samples.find((s) => s.name === name && Object.keys(s.labels).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value ?? 0;

describe("where /metrics is served", () => {
  it("is not found on the public port, for any method or spelling", async () => {
    for (const path of ["/metrics", "/metrics/", "/Metrics", "/metrics?format=prometheus"]) {
      const res = await fetch(`${gh.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.text()).not.toContain("gatehouse_");
    }
    expect((await fetch(`${gh.url}/metrics`, { method: "POST" })).status).toBe(404);
  });

  it("is served on the metrics listener, which answers nothing else", async () => {
    const samples = await scrape();
    expect(samples.some((s) => s.name === "gatehouse_db_connections")).toBe(true);
    for (const path of ["/", "/healthz", "/login", "/metrics/x"]) expect((await fetch(metricsUrl.replace("/metrics", path))).status, path).toBe(404);
  });
});

describe("what is counted", () => {
  let secret = "";
  beforeAll(async () => {
    await gh.addUser("mia", password);
    secret = await j.enrolTotp(await j.accountSession(j.browser(), "mia"));
  });

  it("counts a wrong password as a failed sign-in by its first factor", async () => {
    const before = value(await scrape(), "gatehouse_sign_ins_total", { outcome: "failure", first_factor: "password" });
    const b = j.browser();
    const login = await b.follow(j.url("/login"));
    expect((await b.submit(readForm(login), { username: "mia", password: "not it" })).status).toBe(401);
    expect(value(await scrape(), "gatehouse_sign_ins_total", { outcome: "failure", first_factor: "password" })).toBe(before + 1);
  });

  it("counts a sign-in to an app: the policy's decision, the challenge failed then passed, the success", async () => {
    const before = await scrape();
    const b = j.browser();
    const challenge = await j.signIn(b, sp, "mia");
    expect(challenge.url).toMatch(/\/login\/challenge\?tx=/);
    gh.clock.advance(60_000); // a step the enrolment did not use
    const wrong = await b.submit(readForm(challenge), { code: j.totpNow(secret, 1) === "000000" ? "111111" : "000000" });
    expect(wrong.status).toBe(401);
    await j.accepted(sp, await b.submit(readForm(wrong), { code: j.totpNow(secret, 1) }));

    const after = await scrape();
    const grew = (name: string, labels: Record<string, string>) => value(after, name, labels) - value(before, name, labels);
    expect(grew("gatehouse_policy_decisions_total", { policy: "verify", action: "challenge", mode: "enforce" })).toBe(1);
    expect(grew("gatehouse_challenges_total", { method: "totp", outcome: "failed" })).toBe(1);
    expect(grew("gatehouse_challenges_total", { method: "totp", outcome: "passed" })).toBe(1);
    expect(grew("gatehouse_sign_ins_total", { outcome: "success", first_factor: "password" })).toBe(1);
    expect(grew("gatehouse_audit_events_total", { type: "saml.response.issued", outcome: "success" })).toBe(1);
    expect(grew("gatehouse_http_request_duration_seconds_count", { route: "challenge", method: "POST", status: "4xx" })).toBe(1);
    expect(grew("gatehouse_http_request_duration_seconds_count", { route: "saml_sso", method: "GET", status: "3xx" })).toBe(1);
  });

  it("counts a policy denial by how the sign-in began: the password, or an existing SSO session", async () => {
    const denied = (s: Sample[], firstFactor: string) => value(s, "gatehouse_sign_ins_total", { outcome: "denied", first_factor: firstFactor });
    const before = await scrape();
    expect((await j.signIn(j.browser(), closedSp, "mia")).status).toBe(403); // password typed now
    const signedIn = await j.accountSession(j.browser(), "mia");
    expect((await j.signIn(signedIn, closedSp, "mia")).status).toBe(403); // no password: the SSO session
    const after = await scrape();
    expect(denied(after, "password") - denied(before, "password")).toBe(1);
    expect(denied(after, "sso_session") - denied(before, "sso_session")).toBe(1);
    const decisions = (await gh.rt.audit.recent(30)).filter((e) => e.type === "policy.decided" && e.appId === closedAppId);
    expect(decisions.slice(0, 2).map((e) => [e.outcome, e.detail?.firstFactor])).toEqual([
      ["failure", "sso_session"],
      ["failure", "password"],
    ]);
  });

  it("counts SAML messages refused, by message and catalogued reason", async () => {
    const before = await scrape();
    const res = await fetch(`${gh.url}/saml/sso?SAMLRequest=%25%25%25not-base64`, { redirect: "manual" });
    expect(res.status).toBe(400);
    const [event] = await gh.rt.audit.recent(1);
    expect(event?.type).toBe("saml.authn_request.rejected");
    const labels = { message: "authn_request", reason: event?.reason ?? "" };
    expect(labels.reason).toMatch(/^[a-z_]+$/);
    expect(value(await scrape(), "gatehouse_saml_refused_total", labels) - value(before, "gatehouse_saml_refused_total", labels)).toBe(1);
  });

  it("labels latency by route group, never by the raw path", async () => {
    await Promise.all(Array.from({ length: 40 }, (_v, i) => fetch(`${gh.url}/users/${i}/secret-${i}?q=${i}`)));
    await Promise.all(Array.from({ length: 10 }, (_v, i) => fetch(`${gh.url}/apps/app-${i}/launch`, { method: "POST" })));
    const routes = new Set((await scrape()).filter((s) => s.name === "gatehouse_http_request_duration_seconds_count").map((s) => s.labels.route));
    const groups = ["health", "saml_sso", "saml_slo", "saml_metadata", "saml_other", "challenge", "login", "account", "launch", "logout", "demo", "static", "home", "other"];
    for (const r of routes) expect(groups).toContain(r);
    expect(routes).toContain("other");
    expect(routeGroup("/users/17/secret-17")).toBe("other");
    expect(routeGroup("/apps/0f3a/launch")).toBe("launch");
  });

  it("says what the audit log says: every event type counted as often as it was written", async () => {
    const rows = gh.rt.db.prepare("SELECT type, count(*) AS n FROM audit_events WHERE type != 'request.rejections_counted' GROUP BY type").all() as { type: string; n: number }[];
    expect(rows.length).toBeGreaterThan(5);
    const samples = await scrape();
    for (const { type, n } of rows) {
      const counted = samples.filter((s) => s.name === "gatehouse_audit_events_total" && s.labels.type === type).reduce((sum, s) => sum + s.value, 0);
      expect(counted, type).toBe(n);
    }
  });

  it("shows the database: one SQLite connection, reachable", async () => {
    const samples = await scrape();
    expect(value(samples, "gatehouse_db_connections", { engine: "sqlite" })).toBe(1);
    expect(value(samples, "gatehouse_db_up")).toBe(1);
  });
});

describe("two Gatehouses in one process", () => {
  it("keep their own counts (a registry each, not prom-client's global one)", async () => {
    const other = await startGatehouse();
    const otherListener = await listenMetrics(other.rt.metrics, { host: "127.0.0.1", port: 0 });
    try {
      const otherUrl = `http://127.0.0.1:${(otherListener.address() as AddressInfo).port}/metrics`;
      const failures = (s: Sample[]) => value(s, "gatehouse_sign_ins_total", { outcome: "failure", first_factor: "password" });
      const mine = failures(await scrape());
      const b = j.browser();
      const login = await b.follow(`${other.url}/login`);
      expect((await b.submit(readForm(login), { username: "nobody", password: "x" })).status).toBe(401);
      expect(failures(await scrape(otherUrl))).toBe(1);
      expect(failures(await scrape())).toBe(mine);
    } finally {
      await new Promise((resolve) => otherListener.close(resolve));
      await other.close();
    }
  });
});

describe("GATEHOUSE_METRICS_ADDR", () => {
  it("accepts loopback addresses and leaves metrics off when unset", () => {
    expect(loadConfig({}).metricsAddr).toBeUndefined();
    expect(loadConfig({ GATEHOUSE_METRICS_ADDR: "127.0.0.1:9464" }).metricsAddr).toEqual({ host: "127.0.0.1", port: 9464 });
    expect(loadConfig({ GATEHOUSE_METRICS_ADDR: "[::1]:9464" }).metricsAddr).toEqual({ host: "::1", port: 9464 });
    expect(loadConfig({ GATEHOUSE_METRICS_ADDR: "localhost:9464" }).metricsAddr).toEqual({ host: "localhost", port: 9464 });
  });

  it.each([["0.0.0.0:9464"], ["[::]:9464"], ["192.0.2.10:9464"], ["metrics.example.com:9464"]])("refuses %s, which is not loopback, with one line naming the setting", (addr) => {
    let message = "";
    try {
      loadConfig({ GATEHOUSE_METRICS_ADDR: addr });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message.split("\n")).toHaveLength(1);
    expect(message).toMatch(/^GATEHOUSE_METRICS_ADDR: is not a loopback address.*GATEHOUSE_METRICS_ALLOW_PUBLIC=true/);
    expect(loadConfig({ GATEHOUSE_METRICS_ADDR: addr, GATEHOUSE_METRICS_ALLOW_PUBLIC: "true" }).metricsAddr?.port).toBe(9464);
  });

  it.each([["9464"], ["127.0.0.1"], ["127.0.0.1:99999"], ["[zz]:1"], ["http://127.0.0.1:9464"]])("refuses %s, which is not host:port", (addr) => {
    expect(() => loadConfig({ GATEHOUSE_METRICS_ADDR: addr })).toThrow(/^GATEHOUSE_METRICS_ADDR: must be host:port/);
  });
});
