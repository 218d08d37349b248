import { join } from "node:path";
import express, { type ErrorRequestHandler } from "express";
import { homeRouter } from "./console/account/home.ts";
import { demoRouter } from "./demo/demo-app.ts";
import { GatehouseError } from "./errors.ts";
import { clientIp, trustProxySetting } from "./http/client-ip.ts";
import { cookieJar } from "./http/cookies.ts";
import { Csrf } from "./http/csrf.ts";
import { securityHeaders } from "./http/headers.ts";
import { preAuthRateLimit } from "./http/rate-limit.ts";
import { healthRouter } from "./ops/health.ts";
import { requestLog } from "./http/request-log.ts";
import { render } from "./http/render.ts";
import { LoginFlow } from "./login/flow.ts";
import { PolicyGate } from "./login/policy-gate.ts";
import { ChallengeStep } from "./login/challenge-step.ts";
import { DeviceService, strictestDeviceLimit } from "./login/devices.ts";
import { buildChallenges } from "./challenges/build.ts";
import { accountRouter } from "./console/account/account.ts";
import { storedNoticeLimiter, userNotices } from "./mail/notices.ts";
import { SessionManager } from "./login/sessions.ts";
import { LoginThrottle } from "./login/throttle.ts";
import { TransactionService } from "./login/transactions.ts";
import type { Runtime } from "./runtime.ts";
import type { Config } from "./config.ts";
import type { IdpContext } from "./saml/idp/context.ts";
import { issueAssertion } from "./saml/idp/issue.ts";
import { StoreCacheProvider } from "./store/saml-cache.ts";
import { idpRouter } from "./saml/idp/routes.ts";

/**
 * Node's own header cap (16 KiB) would answer a long Redirect-binding URL with a bare 431 before
 * Gatehouse sees it; allowing the SAML message cap plus room for headers lets our checks
 * refuse it with a catalogued error and an audit event instead.
 */
export const httpServerOptions = (c: Config) => ({
  maxHeaderSize: c.limits.maxSamlMessageBytes + 64 * 1024,
  // Idle keep-alive connections outlive a load balancer's (60 s is common) and a client's, so the
  // server is never the side that closes a socket just as a request is sent on it (a reset).
  keepAliveTimeout: 65_000,
  headersTimeout: 66_000,
});

/** Composes the HTTP app from the routers; no logic of its own. */
export async function buildServer(rt: Runtime): Promise<express.Express> {
  const { config, clock } = rt;
  const cookies = cookieJar(config.secureCookies);
  const csrf = new Csrf(rt.keys.derived.csrf, config.baseUrl);
  const sessions = new SessionManager(rt.sessions, rt.users, cookies, clock, config.lifetimes);
  const transactions = new TransactionService(rt.transactions, cookies, clock, config.lifetimes.transactionMs);
  const throttle = await LoginThrottle.create(rt.db, clock);
  await assignmentsResolve(rt);
  const notices = userNotices(rt.mailer, rt.log, await storedNoticeLimiter(rt.db));
  const { challenges, emailCodes, totpEnrolment } = buildChallenges({ config, totp: rt.totp, kba: rt.kba, emailCodes: rt.emailCodes, mailer: rt.mailer, serverSecret: rt.keys.derived.emailCodes, factorKey: rt.keys.factorKey });
  const devices = new DeviceService({ repo: rt.devices, cookies, clock, audit: rt.audit, notices, lifetimes: config.lifetimes, strictestLimit: () => strictestDeviceLimit(rt.policies, rt.loginPolicies) });
  const gate = new PolicyGate({
    policies: rt.policies,
    loginPolicies: rt.loginPolicies,
    audit: rt.audit,
    clock,
    deviceFacts: (req, user) => devices.facts(req, user),
    enrolledMethods: (user) => challenges.enrolled(user),
  });

  const appName = async (id: string | null) => (id ? ((await rt.apps.byId(id))?.name ?? null) : null);
  const login = new LoginFlow({
    transactions,
    sessions,
    users: rt.users,
    throttle,
    gate,
    challenges,
    devices,
    audit: rt.audit,
    csrf,
    clock,
    appName,
    onPassed: async (req, res, passed) => {
      if (passed.tx.appId === null) {
        if (!(await transactions.complete(passed.tx))) throw new GatehouseError("transaction_not_found", "already completed");
        // Gatehouse's own pages: back to where the sign-in was asked for (checked when it began).
        return res.redirect(303, passed.tx.relayState ?? "/");
      }
      await issueAssertion(idp, req, res, passed); // idp is defined below, before any request
    },
  });
  const challengeStep = new ChallengeStep({
    transactions,
    users: rt.users,
    challenges,
    throttle,
    audit: rt.audit,
    csrf,
    clock,
    appName,
    notices,
    passed: (req, res, tx, user, how) => login.completeChallenge(req, res, tx, user, how),
  });
  login.attach(challengeStep);
  const idp: IdpContext = {
    config,
    key: rt.keys.signing,
    nameIdKey: rt.keys.nameIdKey,
    apps: rt.apps,
    seenRequests: rt.seenRequests,
    // Kept twice as long as a transaction lives, so a sign-in never outlives what its request asked for.
    requestedAuthnContexts: new StoreCacheProvider(rt.db, "idp-authn-context", 2 * config.lifetimes.transactionMs, () => clock.now()),
    sessionRecords: rt.sessions,
    sessions,
    logoutChains: rt.logoutChains,
    login,
    transactions,
    csrf,
    audit: rt.audit,
    clock,
  };

  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", trustProxySetting(config.trustedProxies));
  app.set("query parser", "simple");
  app.use(requestLog(rt.log, config.trustedProxies)); // first: every response, even a refusal, has its ID
  app.use(rt.metrics.requestTimer()); // by route group, never the raw path
  app.use(securityHeaders(config.secureCookies));
  // Polled by load balancers: before the pre-auth limit, and never audited. /metrics is not here (ops/metrics.ts).
  app.use(healthRouter({ store: rt.storeHealth, keys: rt.keys, log: rt.log }));
  app.use("/static", express.static(join(import.meta.dirname, "..", "public"), { index: false, maxAge: "1h" }));
  app.get("/favicon.ico", (_req, res) => res.status(204).end());
  app.use(preAuthRateLimit(config)); // before the body is parsed: a flood costs a counter, not work
  app.use(express.urlencoded({ extended: false, limit: config.limits.maxFormBytes, parameterLimit: 20 }));
  app.use(homeRouter({ sessions, apps: rt.apps, csrf, demo: config.demo }));
  app.use(
    accountRouter({
      config,
      clock,
      sessions,
      users: rt.users,
      apps: rt.apps,
      csrf,
      audit: rt.audit,
      challenges,
      totp: totpEnrolment,
      kba: rt.kba,
      emailCodes,
      devices,
      deviceStore: rt.devices,
      mailer: rt.mailer,
      notices,
    }),
  );
  app.use(login.router());
  app.use(challengeStep.router());
  app.use(idpRouter(idp));
  if (config.demo) app.use(demoRouter({ config, db: rt.db, key: rt.keys.signing, clock }));
  app.use((_req, _res, next) => next(new GatehouseError("not_found")));
  app.use(errorPage(rt));
  return app;
}

export class PolicyAssignmentError extends Error {}

/** Every assigned login policy names a loaded policy, or Gatehouse does not start. */
async function assignmentsResolve(rt: Runtime): Promise<void> {
  const broken = (await rt.loginPolicies.list()).filter((lp) => !rt.policies.has(lp.policyName));
  if (broken.length) {
    throw new PolicyAssignmentError(
      broken.map((lp) => `login policy ${lp.scope === "default" ? "default" : `of app ${lp.scope}`} names policy "${lp.policyName}", which is not loaded (no such name in ${rt.config.policiesDir}); restore the file or run: policy assign`).join("\n"),
    );
  }
}

function errorPage(rt: Runtime): ErrorRequestHandler {
  // Async: the rejection's audit event is written before the error page is sent.
  return async (err: unknown, req, res, _next) => {
    let e: GatehouseError;
    if (err instanceof GatehouseError) e = err;
    else if ((err as { type?: string }).type === "entity.too.large") e = new GatehouseError("payload_too_large", "form body over the limit");
    else if ((err as { status?: number }).status === 400 || (err as { type?: string }).type === "parameters.too.many") e = new GatehouseError("bad_request", (err as Error).message);
    else {
      rt.log.error({ err, path: req.path }, "unhandled error");
      e = new GatehouseError("internal", (err as Error).message);
    }
    if (!(e as { audited?: boolean }).audited && e.code !== "not_found") {
      await rt.audit.record({ type: "request.rejected", outcome: "failure", ip: clientIp(req), reason: e.code, detail: { path: req.path.slice(0, 200), detail: e.detail } });
    }
    if (res.headersSent) return;
    if (e.retryAfterS !== undefined) res.set("Retry-After", String(e.retryAfterS));
    render(res, "error", { title: "Error", message: e.userMessage, code: e.code }, e.status);
  };
}
