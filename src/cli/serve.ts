import { randomBytes } from "node:crypto";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { systemClock } from "../clock.ts";
import type { Config } from "../config.ts";
import { hashSecret } from "../crypto/passwords.ts";
import { registerDemoApp, removeDemoApp } from "../demo/demo-app.ts";
import { listenMetrics } from "../ops/metrics.ts";
import { Sweeper } from "../ops/sweeper.ts";
import { openRuntime } from "../runtime.ts";
import { buildServer, httpServerOptions } from "../server.ts";

export const serveHelp = `Usage: node src/main.ts serve

Starts Gatehouse. Configuration comes from the environment:
  GATEHOUSE_BASE_URL        public URL (default http://localhost:8080)
  GATEHOUSE_PORT            port to listen on (default 8080)
  GATEHOUSE_HOST            address to listen on (default 127.0.0.1)
  GATEHOUSE_DATA_DIR        database and keys (default ./data)
  GATEHOUSE_KEYS_DIR        the key set (default DATA_DIR/keys)
  GATEHOUSE_KEYS_GENERATE   false: never make keys; refuse to start when one is missing
  GATEHOUSE_TRUSTED_PROXIES CIDRs of reverse proxies whose X-Forwarded-For is believed
  GATEHOUSE_SMTP_URL        smtp(s):// URL for mail (without it: data/outbox)
  GATEHOUSE_MAIL_FROM       sender of Gatehouse's mail
  GATEHOUSE_KBA             offer security questions: false (default) or true
  GATEHOUSE_POLICIES_DIR    policies as code (default ./policies)
  GATEHOUSE_DEMO            built-in demo app: true (default) or false
  GATEHOUSE_AUDIT_RETENTION_DAYS  audit events older than this are purged (default 400)
  GATEHOUSE_LOGIN_REQUESTS_PER_MINUTE, GATEHOUSE_SAML_REQUESTS_PER_MINUTE
                            per client network, before anything else (defaults 60, 300)
  GATEHOUSE_METRICS_ADDR    host:port of a separate /metrics listener, loopback (e.g.
                            127.0.0.1:9464; unset: none). GATEHOUSE_METRICS_ALLOW_PUBLIC=true
                            allows another address
  GATEHOUSE_SHUTDOWN_GRACE_SECONDS  on SIGTERM/SIGINT, how long requests in flight may
                            finish before their connections are closed (default 10)
  GATEHOUSE_CONFIG          optional JSON file with the same settings`;

/** `serve`: opens the runtime, makes what a first start needs, listens, and stops cleanly on a signal. */
export async function serve(config: Config): Promise<void> {
  const rt = await openRuntime(config, systemClock);
  // Everything that can refuse the start runs before the first-start admin is created, so its
  // one-time password is never made and then lost.
  const app = await buildServer(rt);
  const notices: string[] = [];
  for (const file of rt.keys.created) notices.push(`created ${file} (generated on first start; back up ${config.keysDir}, or put your own signing key and certificate there)`);
  notices.push(...rt.keys.notices);
  if ((await rt.users.count()) === 0) {
    const password = randomBytes(15).toString("base64url");
    await rt.users.add({ username: "admin", email: `admin@${new URL(config.baseUrl).hostname}`, isAdmin: true, passwordHash: await hashSecret(password) }, systemClock.now());
    await rt.audit.record({ type: "user.created", outcome: "success", username: "admin", reason: "first start" });
    notices.push(`created the admin account — username: admin  password: ${password}  (shown once; store it now)`);
  }
  if (config.demo) {
    await registerDemoApp(rt.apps, config, systemClock.now());
    notices.push(`demo mode is on: ${config.baseUrl}/demo is a built-in app to click through (GATEHOUSE_DEMO=false turns it off)`);
  } else if (await removeDemoApp(rt.apps)) {
    notices.push("GATEHOUSE_DEMO=false: removed the built-in demo app registered by an earlier start (it is registered again if the demo is turned back on)");
  }
  if (!config.smtpUrl) notices.push(`no GATEHOUSE_SMTP_URL: mail (sign-in codes, notices) goes to ${rt.mailer.destination}${config.demo ? `, shown at ${config.baseUrl}/account/outbox` : ""}`);
  if (config.kba) notices.push("GATEHOUSE_KBA is on: security questions are offered as a challenge. They are a knowledge check, not a second factor, and are never asserted as multi-factor.");
  const loaded = rt.policies.list().filter((p) => p.source !== "built in");
  console.log(`Policies: ${loaded.length ? loaded.map((p) => `${p.name} v${p.version}`).join(", ") : "none"} from ${config.policiesDir}; default login policy: ${(await rt.loginPolicies.forApp(null)).policyName}`);
  for (const n of notices) console.log(`NOTICE: ${n}`);
  const server = createServer(httpServerOptions(config), app);
  const drain = drainable(server);
  let metricsServer: Server | undefined;
  const sweeper = new Sweeper(rt); // started once listening
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return; // a second signal while draining changes nothing: the grace period still bounds it
    stopping = true;
    const drained = drain(config.shutdownGraceSeconds * 1000); // the listener is closed when this returns
    console.log(`${signal}: stopping — no new connections; requests in flight have ${config.shutdownGraceSeconds} s to finish`);
    void drained
      .then(async () => {
        if (metricsServer) await closeServer(metricsServer, 0);
        await sweeper.stop();
        await rt.close();
        console.log("stopped");
        process.exit(0);
      })
      .catch((err: unknown) => {
        console.error(`error: while stopping: ${(err as Error).message}`);
        process.exit(1);
      });
  };
  // Before anything listens: a signal that comes early must still stop cleanly, not kill the process.
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  if (config.metricsAddr) {
    const { host, port } = config.metricsAddr;
    metricsServer = await listenMetrics(rt.metrics, config.metricsAddr).catch((e: unknown) => {
      console.error(`error: GATEHOUSE_METRICS_ADDR: cannot listen on ${host}:${port}: ${(e as Error).message}`);
      process.exit(1);
    });
  }
  await listen(server, config.host, config.port).catch((e: unknown) => {
    console.error(`error: cannot listen on ${config.host}:${config.port}: ${(e as Error).message}`);
    process.exit(1);
  });
  server.on("error", (e) => rt.log.error({ err: e }, "server error"));
  sweeper.start();
  console.log(`Gatehouse is listening on http://${hostPort(server)} — open ${config.baseUrl}${config.demo ? "/demo" : "/"}`);
  console.log(`IdP metadata for apps: ${config.entityId}`);
  if (metricsServer) console.log(`Metrics (Prometheus) on http://${hostPort(metricsServer)}/metrics`);
}

const listen = (server: Server, host: string, port: number): Promise<void> =>
  new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });

/** The address actually bound (port 0 picks a free one), as host:port. */
function hostPort(server: Server): string {
  const a = server.address() as AddressInfo;
  return a.family === "IPv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/**
 * What stopping does to `server`: stop accepting, let requests in flight finish, close keep-alive
 * connections as they fall idle (a response still to be sent says `Connection: close`). After
 * `graceMs` every connection left is closed, so one stuck client cannot hold the process.
 */
function drainable(server: Server): (graceMs: number) => Promise<void> {
  const inFlight = new Set<ServerResponse>();
  let draining = false;
  // Before the app's own listener: a response it sends at once must already carry the header.
  server.prependListener("request", (_req, res) => {
    if (draining) res.setHeader("Connection", "close");
    inFlight.add(res);
    res.once("close", () => inFlight.delete(res));
  });
  return (graceMs) => {
    draining = true;
    for (const res of inFlight) if (!res.headersSent) res.setHeader("Connection", "close");
    return closeServer(server, graceMs);
  };
}

function closeServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const idle = setInterval(() => server.closeIdleConnections(), 100);
    const deadline = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close(() => {
      clearInterval(idle);
      clearTimeout(deadline);
      resolve();
    });
  });
}
