import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { spawnSync } from "node:child_process";

const script = resolve(process.env.GATEHOUSE_SENTRY_SP ?? join(import.meta.dirname, "..", "..", "..", "shared", "sentry-sp", "sentry_sp.py"));

/**
 * Whether the Sentry-faithful SP (../shared/sentry-sp, python3-saml from Debian) can run here.
 * Without it the tests are skipped loudly, unless GATEHOUSE_REQUIRE_SENTRY_SP=1 (set by .ci/run).
 */
export function sentrySpAvailable(): boolean {
  const python = existsSync("/usr/bin/python3") && spawnSync("/usr/bin/python3", ["-c", "import onelogin.saml2"]).status === 0;
  if (python && existsSync(script)) return true;
  const why = !existsSync(script) ? `no ${script}` : "no python3-onelogin-saml2 for /usr/bin/python3";
  if (process.env.GATEHOUSE_REQUIRE_SENTRY_SP === "1") throw new Error(`GATEHOUSE_REQUIRE_SENTRY_SP=1 but ${why}`);
  console.warn(`\n*** SENTRY SP TESTS SKIPPED: ${why} (apt-get install python3-onelogin-saml2 xmlsec1) ***\n`);
  return false;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export interface SentrySp {
  base: string;
  org: string;
  events: Record<string, unknown>[];
  stop(): void;
}

/** Starts sentry_sp.py on 127.0.0.1, pointed at Gatehouse's metadata URL as a Sentry admin would. */
export async function startSentrySp(idpMetadataUrl: string, map: string[], org = "acme"): Promise<SentrySp> {
  const port = await freePort();
  const child: ChildProcess = spawn("/usr/bin/python3", [script, "--org", org, "--port", String(port), "--idp-metadata-url", idpMetadataUrl, ...map.flatMap((m) => ["--map", m])], { stdio: ["ignore", "pipe", "pipe"] });
  const events: Record<string, unknown>[] = [];
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error(`sentry_sp did not start: ${stderr}`)), 20_000);
    let buffer = "";
    child.stdout?.on("data", (d: Buffer) => {
      buffer += d.toString();
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          const e = JSON.parse(line) as Record<string, unknown>;
          events.push(e);
          if (e.event === "started") {
            clearTimeout(timer);
            resolveStart();
          }
        } catch {
          /* not a JSON line */
        }
      }
    });
    child.on("exit", (code) => reject(new Error(`sentry_sp exited ${code}: ${stderr}`)));
  });
  return { base: `http://127.0.0.1:${port}`, org, events, stop: () => child.kill() };
}
