import { createServer, type Server } from "node:http";
import type { RequestHandler } from "express";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { AuditEvent } from "../audit/audit.ts";
import type { StoreHealth } from "../store/health.ts";

/** More distinct values than this in one label and the rest are counted as "other": a bad reason string cannot explode the series. */
const maxValuesPerLabel = 50;

/**
 * Routes grouped as operators think of them; a raw path (IDs, typos, scanners) never becomes a
 * label. First match wins; anything else is "other" (mostly 404s).
 */
const routeGroups: readonly (readonly [RegExp, string])[] = [
  [/^\/(healthz|readyz)$/, "health"],
  [/^\/saml\/sso$/, "saml_sso"],
  [/^\/saml\/slo$/, "saml_slo"],
  [/^\/saml\/metadata$/, "saml_metadata"],
  [/^\/saml(\/|$)/, "saml_other"],
  [/^\/login\/challenge(\/|$)/, "challenge"],
  [/^\/login$/, "login"],
  [/^\/account(\/|$)/, "account"],
  [/^\/apps\/[^/]+\/launch$/, "launch"],
  [/^\/logout$/, "logout"],
  [/^\/demo(\/|$)/, "demo"],
  [/^\/(static\/|favicon\.ico$)/, "static"],
  [/^\/$/, "home"],
];

export const routeGroup = (path: string): string => routeGroups.find(([re]) => re.test(path))?.[1] ?? "other";

/** A label value from free text: lower case, [a-z0-9_-] only, capped, so catalogued codes and method IDs pass unchanged. */
const labelValue = (s: unknown, fallback: string): string => {
  if (typeof s !== "string" || !s) return fallback;
  return (
    s
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, "_")
      .replace(/^_+|_+$/g, "")
      .slice(0, 48) || fallback
  );
};

/**
 * One registry per runtime (never prom-client's global one), so several Gatehouses in one
 * process (tests) keep their own counts. The sign-in, policy, challenge and SAML counters are fed
 * only from audit events (AuditLog's observer), so the metrics say what the audit log says.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly #seen = new Map<string, Set<string>>();
  readonly #auditEvents;
  readonly #signIns;
  readonly #decisions;
  readonly #challenges;
  readonly #samlRefused;
  readonly #latency;

  constructor(store: StoreHealth) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry }); // process_* and nodejs_* (event loop lag, heap, GC)
    this.#auditEvents = new Counter({ name: "gatehouse_audit_events_total", help: "Audit events recorded, by type and outcome (anonymous rejections counted even when the audit log summarises them).", labelNames: ["type", "outcome"], registers });
    this.#signIns = new Counter({
      name: "gatehouse_sign_ins_total",
      help: "Sign-ins that ended: success (an SSO session started or reused), failure (wrong password, unknown user, disabled), throttled, denied (by the login policy); by first factor.",
      labelNames: ["outcome", "first_factor"],
      registers,
    });
    this.#decisions = new Counter({ name: "gatehouse_policy_decisions_total", help: "Login policy decisions, by policy, effective action (allow, challenge, deny) and mode (enforce, report-only).", labelNames: ["policy", "action", "mode"], registers });
    this.#challenges = new Counter({ name: "gatehouse_challenges_total", help: "Second steps, by method (totp, kba, email-otp) and outcome (passed, failed, throttled, code_sent).", labelNames: ["method", "outcome"], registers });
    this.#samlRefused = new Counter({ name: "gatehouse_saml_refused_total", help: "SAML messages refused, by message (authn_request, response, logout, request) and reason (an error code).", labelNames: ["message", "reason"], registers });
    this.#latency = new Histogram({
      name: "gatehouse_http_request_duration_seconds",
      help: "Time from request to response finished, by route group (never the raw path), method and status class.",
      labelNames: ["route", "method", "status"],
      // A password check (argon2id) alone takes tens of milliseconds: the buckets reach past it.
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    new Gauge({
      name: "gatehouse_db_connections",
      help: "Open database connections. SQLite: one connection, 1 while the store is open; its queries run on the event loop, so their time shows in nodejs_eventloop_lag_seconds and the request latency.",
      labelNames: ["engine"],
      registers,
      collect() {
        const c = store.connections();
        this.set({ engine: c.engine }, c.open);
      },
    });
    new Gauge({
      name: "gatehouse_db_up",
      help: "1 when a trivial query through the store answered at this scrape, 0 when it failed.",
      registers,
      async collect() {
        this.set(await store.ping().then(() => 1, () => 0));
      },
    });
  }

  /** AuditLog's observer: counts one event. Never throws: a metric must not break the audit. */
  observe(e: AuditEvent): void {
    try {
      this.#count(e);
    } catch {
      // A malformed detail only loses a count.
    }
  }

  #count(e: AuditEvent): void {
    const d = e.detail ?? {};
    this.#auditEvents.inc({ type: e.type, outcome: e.outcome });
    const firstFactor = this.#bounded("first_factor", labelValue(d.firstFactor, "password"));
    switch (e.type) {
      case "session.started": {
        // authMethod is "password", "password+totp", …: its first part is the first factor.
        const first = typeof d.authMethod === "string" ? d.authMethod.split("+")[0] : undefined;
        this.#signIns.inc({ outcome: "success", first_factor: this.#bounded("first_factor", labelValue(first, "password")) });
        break;
      }
      case "session.reused":
        this.#signIns.inc({ outcome: "success", first_factor: "sso_session" });
        break;
      case "login.password.failed":
        this.#signIns.inc({ outcome: "failure", first_factor: firstFactor });
        break;
      case "login.throttled":
        this.#signIns.inc({ outcome: "throttled", first_factor: firstFactor });
        break;
      case "policy.decided":
        this.#decisions.inc({
          policy: this.#bounded("policy", typeof d.policy === "string" ? d.policy.slice(0, 64) : "unknown"),
          action: this.#bounded("action", labelValue(d.effective ?? d.action, "unknown")),
          mode: this.#bounded("mode", labelValue(d.mode, "unknown")),
        });
        if (e.outcome === "failure") this.#signIns.inc({ outcome: "denied", first_factor: firstFactor });
        break;
      case "challenge.passed":
      case "challenge.failed":
      case "challenge.throttled":
      case "challenge.code_sent":
        // Only email codes are sent: a send (or a refused send) names no method of its own.
        this.#challenges.inc({ method: this.#bounded("method", labelValue(d.method, "email-otp")), outcome: e.type.slice("challenge.".length) });
        break;
      case "saml.authn_request.rejected":
        this.#refused("authn_request", e.reason);
        break;
      case "saml.response.refused":
        this.#refused("response", e.reason);
        break;
      case "saml.logout.rejected":
        this.#refused("logout", e.reason);
        break;
      case "saml.logout.request_received":
        if (e.outcome === "failure") this.#refused("logout", e.reason);
        break;
      case "request.rejected":
        // Refused before a SAML handler ran (rate limit, body size): still a refused SAML message.
        if (typeof d.path === "string" && (d.path === "/saml" || d.path.startsWith("/saml/"))) this.#refused("request", e.reason);
        break;
      default:
        break;
    }
  }

  #refused(message: string, reason: string | null | undefined): void {
    this.#samlRefused.inc({ message, reason: this.#bounded(`reason:${message}`, labelValue(reason, "unknown")) });
  }

  #bounded(label: string, value: string): string {
    let seen = this.#seen.get(label);
    if (!seen) this.#seen.set(label, (seen = new Set()));
    if (seen.has(value)) return value;
    if (seen.size >= maxValuesPerLabel) return "other";
    seen.add(value);
    return value;
  }

  /** Times every request into the latency histogram; mounted first so nothing escapes it. */
  requestTimer(): RequestHandler {
    return (req, res, next) => {
      const start = process.hrtime.bigint();
      res.once("finish", () => {
        const method = req.method === "GET" || req.method === "HEAD" || req.method === "POST" ? req.method : "other";
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        this.#latency.observe({ route: routeGroup(req.path), method, status: `${Math.floor(res.statusCode / 100)}xx` }, seconds);
      });
      next();
    };
  }

  /** The Prometheus text exposition of this runtime's registry. */
  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/**
 * The metrics listener: GET /metrics and nothing else, on its own address (GATEHOUSE_METRICS_ADDR),
 * never on the public port. Resolves once listening; rejects when the address cannot be bound.
 */
export async function listenMetrics(metrics: Metrics, addr: { host: string; port: number }): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (path !== "/metrics" || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found\n");
      return;
    }
    metrics.text().then(
      ({ contentType, body }) => res.writeHead(200, { "content-type": contentType, "cache-control": "no-store" }).end(req.method === "HEAD" ? undefined : body),
      () => res.writeHead(500, { "content-type": "text/plain; charset=utf-8" }).end("metrics unavailable\n"),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(addr.port, addr.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server;
}
