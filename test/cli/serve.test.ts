/**
 * `serve` stops cleanly on SIGTERM: it stops accepting at once, answers the requests already in
 * flight, closes the metrics listener and the store, and exits 0. A real `node src/main.ts serve`
 * on a free port with a temporary data dir. The request in flight is made honestly: it sends its
 * headers with `Expect: 100-continue`, waits for the server's `100 Continue` (the server holds the
 * request), and sends its body only after Gatehouse has said it is stopping.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { request, type ClientRequest, type IncomingMessage } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";

interface Running {
  child: ChildProcess;
  port: number;
  metricsPort: number | undefined;
  /** Resolves with the first stdout line matching, from the start of the process. */
  line(re: RegExp): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  out: () => string;
}

const started: { child: ChildProcess; dir: string }[] = [];
afterEach(() => {
  for (const { child, dir } of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The environment without any GATEHOUSE_* setting of the machine running the tests. */
const cleanEnv = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("GATEHOUSE_")));

function run(env: Record<string, string>): { child: ChildProcess; line: Running["line"]; exited: Running["exited"]; out: () => string; err: () => string } {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-serve-"));
  const child = spawn(process.execPath, ["src/main.ts", "serve"], {
    env: { ...cleanEnv(), GATEHOUSE_DATA_DIR: dir, GATEHOUSE_PORT: "0", GATEHOUSE_DEMO: "false", GATEHOUSE_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  started.push({ child, dir });
  let out = "";
  let err = "";
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      const hit = out.split("\n").slice(0, -1).find((l) => w.re.test(l)); // whole lines only: a port may arrive in two chunks
      if (hit !== undefined) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(hit);
      }
    }
  };
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString("utf8");
    check();
  });
  child.stderr?.on("data", (d: Buffer) => (err += d.toString("utf8")));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const line = (re: RegExp) =>
    new Promise<string>((resolve, reject) => {
      waiters.push({ re, resolve });
      check();
      void exited.then(() => reject(new Error(`exited before printing ${re}:\n${out}\n${err}`)));
    });
  return { child, line, exited, out: () => out, err: () => err };
}

async function start(env: Record<string, string> = {}): Promise<Running> {
  const r = run(env);
  const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(await r.line(/Gatehouse is listening on/))?.[1]);
  const metricsPort = env.GATEHOUSE_METRICS_ADDR ? Number(/127\.0\.0\.1:(\d+)\/metrics/.exec(await r.line(/^Metrics \(Prometheus\) on/))?.[1]) : undefined;
  return { ...r, port, metricsPort };
}

/** Whether something accepts connections on 127.0.0.1:port. */
const accepts = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });

/** A POST whose headers are sent and held by the server (it answered 100 Continue); its body is not sent yet. */
async function heldRequest(port: number, body: string): Promise<{ req: ClientRequest; response: Promise<IncomingMessage & { text: string }> }> {
  const req = request({ host: "127.0.0.1", port, method: "POST", path: "/no-such-page", headers: { "content-type": "application/x-www-form-urlencoded", "content-length": Buffer.byteLength(body), expect: "100-continue" } });
  const response = new Promise<IncomingMessage & { text: string }>((resolve, reject) => {
    req.once("response", (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString("utf8")));
      res.once("end", () => resolve(Object.assign(res, { text })));
    });
    req.once("error", reject);
  });
  const continued = new Promise<void>((resolve) => req.once("continue", resolve));
  req.flushHeaders();
  await continued;
  return { req, response };
}

describe("serve, on SIGTERM", () => {
  it("stops accepting, answers the request in flight, closes the metrics listener and exits 0", async () => {
    const gh = await start({ GATEHOUSE_METRICS_ADDR: "127.0.0.1:0" });
    const metricsPort = gh.metricsPort as number;
    expect((await fetch(`http://127.0.0.1:${gh.port}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).status).toBe(200);

    const body = "field=value";
    const held = await heldRequest(gh.port, body);
    gh.child.kill("SIGTERM");
    await gh.line(/^SIGTERM: stopping/);
    expect(await accepts(gh.port)).toBe(false); // no new connections while the request is still in flight
    held.req.end(body);
    const res = await held.response;
    expect(res.statusCode).toBe(404); // a whole answer: the body was read and the app replied
    expect(res.text).toContain("not_found");
    expect(res.headers.connection).toBe("close");

    expect(await gh.exited).toEqual({ code: 0, signal: null });
    expect(gh.out()).toMatch(/\nstopped\n/);
    expect(await accepts(gh.port)).toBe(false);
    expect(await accepts(metricsPort)).toBe(false);
  });

  it("closes a request that never finishes once the grace period is over, and still exits 0", async () => {
    const gh = await start({ GATEHOUSE_SHUTDOWN_GRACE_SECONDS: "1" });
    const held = await heldRequest(gh.port, "never sent");
    const cut = held.response.then(
      () => "answered",
      (e: unknown) => (e as NodeJS.ErrnoException).code,
    );
    gh.child.kill("SIGTERM");
    expect(await gh.exited).toEqual({ code: 0, signal: null });
    expect(await cut).toBe("ECONNRESET");
  });

  it("stops on SIGINT the same way", async () => {
    const gh = await start();
    gh.child.kill("SIGINT");
    expect(await gh.exited).toEqual({ code: 0, signal: null });
    expect(await accepts(gh.port)).toBe(false);
  });
});

describe("serve, at start", () => {
  it("refuses a metrics address that is not loopback, in one line naming the setting", async () => {
    const r = run({ GATEHOUSE_METRICS_ADDR: "0.0.0.0:9464" });
    expect((await r.exited).code).toBe(2);
    expect(r.err()).toMatch(/^GATEHOUSE_METRICS_ADDR: is not a loopback address.*GATEHOUSE_METRICS_ALLOW_PUBLIC=true.* \(got "0\.0\.0\.0:9464"\)$/m);
    expect(r.out()).not.toContain("listening");
  });
});
