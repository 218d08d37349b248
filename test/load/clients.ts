/**
 * What `npm run load` and the crash test share: Gatehouse nodes run as real `node src/main.ts
 * serve` processes, a store seeded with users and one app, clients that sign in over HTTP
 * (password and SSO session) with node-saml as the app, and the audit check that every assertion a
 * client received was recorded once.
 *
 * Written for more than one node: a node is a process with a URL, clients only know the app's
 * entry point, and the audit check reads the store through `AuditStore` (SQLite here; a
 * PostgreSQL reader implements the same interface).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import Database from "better-sqlite3";
import { systemClock } from "../../src/clock.ts";
import { loadConfig } from "../../src/config.ts";
import { hashSecret } from "../../src/crypto/passwords.ts";
import { gatehouseLogger, openRuntime } from "../../src/runtime.ts";
import { Browser, readForm, type Page } from "../helpers/client.ts";
import type { TestSp } from "../helpers/sp.ts";

const repoRoot = join(import.meta.dirname, "..", "..");

/** A port free on 127.0.0.1 now (the OS picks it; it is released for the node to take). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** The environment without any GATEHOUSE_* setting of the machine running the load. */
const cleanEnv = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("GATEHOUSE_")));

/**
 * The settings of a node under load: loopback only, clients behind a trusted proxy on 127.0.0.1
 * (each sends its own X-Forwarded-For, so the per-address throttles count each client apart), the
 * per-network limits taken before sign-in lifted, no demo app, no policies but the built-in one.
 */
export function nodeEnv(dataDir: string, port: number, extra: Record<string, string> = {}): Record<string, string> {
  const policies = join(dataDir, "policies");
  mkdirSync(policies, { recursive: true });
  return {
    GATEHOUSE_DATA_DIR: dataDir,
    GATEHOUSE_HOST: "127.0.0.1",
    GATEHOUSE_PORT: String(port),
    GATEHOUSE_BASE_URL: `http://127.0.0.1:${port}`,
    GATEHOUSE_POLICIES_DIR: policies,
    GATEHOUSE_DEMO: "false",
    GATEHOUSE_LOG_LEVEL: "warn",
    GATEHOUSE_TRUSTED_PROXIES: "127.0.0.1",
    GATEHOUSE_LOGIN_REQUESTS_PER_MINUTE: "1000000",
    GATEHOUSE_SAML_REQUESTS_PER_MINUTE: "1000000",
    ...extra,
  };
}

export interface LoadApp {
  entityId: string;
  acs: string;
}

/** The app's URLs as test/helpers/sp.ts `makeSp(idp, name)` makes them, so it can be registered before any node runs. */
export const loadApp = (name: string): LoadApp => ({ entityId: `https://${name}.example.test/saml/metadata`, acs: `https://${name}.example.test/saml/acs` });

/**
 * Users `load-0` … `load-(n-1)`, all with `password` (one argon2 hash, hashed once), and the app,
 * written through Gatehouse's own repositories with the nodes' settings, before any node starts.
 */
export async function seedStore(env: Record<string, string>, o: { users: number; password: string; app: LoadApp }): Promise<string[]> {
  const rt = await openRuntime(loadConfig(env), systemClock, gatehouseLogger("silent"));
  try {
    const passwordHash = await hashSecret(o.password);
    const names = Array.from({ length: o.users }, (_, i) => `load-${i}`);
    for (const username of names) await rt.users.add({ username, email: `${username}@example.com`, firstName: "Load", lastName: username, groups: [], passwordHash }, systemClock.now());
    await rt.apps.add(
      {
        name: "Load app",
        entityId: o.app.entityId,
        acs: [{ url: o.app.acs, index: 0, isDefault: true }],
        sloUrl: null,
        sloBinding: null,
        nameIdFormat: "email",
        attributes: [{ name: "email", field: "email" }],
        signAssertion: true,
        signResponse: true,
        wantRequestsSigned: false,
        certPem: null,
      },
      systemClock.now(),
    );
    return names;
  } finally {
    await rt.close();
  }
}

export interface GatehouseNode {
  url: string;
  port: number;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** What it printed (stdout and stderr), the last 64 KiB. */
  output(): string;
  /** kill -9: no signal handler runs, nothing is flushed or closed. */
  kill9(): Promise<void>;
  /** SIGTERM and the exit code it stopped with. */
  stop(): Promise<number | null>;
}

/** Starts `node src/main.ts serve` with `env`; resolves once it says it is listening, rejects if it exits first or takes over `startMs`. */
export async function startNode(env: Record<string, string>, startMs = 20_000): Promise<GatehouseNode> {
  const child = spawn(process.execPath, ["src/main.ts", "serve"], { cwd: repoRoot, env: { ...cleanEnv(), ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const keep = (d: Buffer) => (out = (out + d.toString("utf8")).slice(-65_536));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const listening = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not say it was listening within ${startMs} ms:\n${out}`)), startMs);
    child.stdout?.on("data", (d: Buffer) => {
      keep(d);
      const port = /Gatehouse is listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1];
      if (port !== undefined) {
        clearTimeout(timer);
        resolve(Number(port));
      }
    });
    child.stderr?.on("data", keep);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code ?? signal ?? "?"}) before listening:\n${out}`));
    });
  });
  let port: number;
  try {
    port = await listening;
  } catch (e) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    throw e;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    exited,
    output: () => out,
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return (await exited).code;
    },
  };
}

export type SignInKind = "password" | "sso";

export interface SignIn {
  kind: SignInKind;
  client: number;
  /** From the app's redirect to the page that posts the response to the app (the app's own check not included). */
  ms: number;
  /** The ID of the assertion received and accepted by the app; absent: the sign-in failed. */
  assertionId?: string;
  /** Why it failed: a short, stable kind (the step, the status or the network error). */
  error?: string;
}

export interface ClientOptions {
  sp: TestSp;
  usernames: readonly string[];
  password: string;
  clients: number;
  /** No sign-in starts after this (performance.now() time). */
  until: number;
  /** No sign-in starts once this many have started, across all clients. */
  maxSignIns: number;
  /** SSO-session sign-ins after each password sign-in, before the client starts over with an empty cookie jar. */
  ssoPerPassword: number;
  /** A sign-in taking longer is counted as failed ("timeout") and the client moves on. */
  timeoutMs?: number;
  /** Stops the clients: no sign-in starts after it. */
  stop?: AbortSignal;
  /** Sees each sign-in as it ends (progress, a crash trigger). */
  onSignIn?: (s: SignIn) => void;
}

/** A client's address as the trusted proxy forwards it: its own /24, so no client shares a throttle bucket with another. */
export const clientAddress = (i: number): string => `10.${(i >> 8) & 255}.${i & 255}.7`;

class StepError extends Error {}

const assertionIdOf = (xml: string): string | undefined => /<(?:saml2?:)?Assertion\b[^>]*\sID="([^"]+)"/.exec(xml)?.[1];

/** A page by its catalogued error code, or else its heading (a refusal's reference differs each time). */
const whatPage = (page: Page): string => /Reference: <code>([a-z_]+)</.exec(page.body)?.[1] ?? `"${/<h1>([^<]{0,80})<\/h1>/.exec(page.body)?.[1] ?? ""}"`;

/** One sign-in, from the app's AuthnRequest to the response the app accepted; throws a StepError naming what went wrong. */
async function signIn(b: Browser, o: ClientOptions, kind: SignInKind, username: string): Promise<{ ms: number; assertionId: string }> {
  const start = performance.now();
  let page: Page = await b.follow(await o.sp.saml.getAuthorizeUrlAsync("load", undefined, {}));
  const hasLogin = page.body.includes('action="/login"');
  if (kind === "sso" && hasLogin) throw new StepError("sso: asked for the password again");
  if (kind === "password") {
    if (!hasLogin) throw new StepError(`password: no login page (HTTP ${page.status})`);
    page = await b.submit(readForm(page), { username, password: o.password });
    if (page.status === 303) page = await b.follow(new URL(page.headers.get("location") ?? "", page.url).toString());
  }
  const ms = performance.now() - start;
  if (page.status !== 200 || !page.body.includes('name="SAMLResponse"')) throw new StepError(`${kind}: HTTP ${page.status} ${whatPage(page)} instead of the response page`);
  const form = readForm(page);
  if (form.action !== o.sp.acs) throw new StepError(`${kind}: response posted to another ACS`);
  const response = form.fields.SAMLResponse ?? "";
  const { profile } = await o.sp.saml.validatePostResponseAsync({ SAMLResponse: response }).catch((e: unknown) => {
    throw new StepError(`${kind}: the app refused the response (${(e as Error).message.slice(0, 80)})`);
  });
  if (profile?.nameID !== `${username}@example.com`) throw new StepError(`${kind}: assertion for ${profile?.nameID ?? "nobody"}, not ${username}`);
  const assertionId = assertionIdOf(Buffer.from(response, "base64").toString("utf8"));
  if (!assertionId) throw new StepError(`${kind}: no assertion ID`);
  return { ms, assertionId };
}

/** A network error by its code (ECONNREFUSED, ECONNRESET, …), or the step that failed. */
function errorKind(e: unknown): string {
  if (e instanceof StepError) return e.message;
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return `network: ${cause?.code ?? cause?.message ?? (e as Error).message}`;
}

/**
 * `clients` clients sign in until `until`, `maxSignIns` or `stop`. Each has its own cookie jar and
 * address, and cycles: a password sign-in with an empty jar (a user of its own turn, so the
 * per-account counts spread over `usernames`), then `ssoPerPassword` sign-ins reusing that session.
 */
export async function runClients(o: ClientOptions): Promise<SignIn[]> {
  const results: SignIn[] = [];
  let started = 0;
  const timeoutMs = o.timeoutMs ?? 30_000;
  const go = () => !o.stop?.aborted && performance.now() < o.until && started < o.maxSignIns;
  const client = async (i: number) => {
    for (let cycle = 0; go(); cycle++) {
      const username = o.usernames[(i + cycle * o.clients) % o.usernames.length] as string;
      const b = new Browser({ "x-forwarded-for": clientAddress(i) });
      for (let step = 0; step <= o.ssoPerPassword && go(); step++) {
        const kind: SignInKind = step === 0 ? "password" : "sso";
        started++;
        const begun = performance.now();
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new StepError(`${kind}: timeout after ${timeoutMs} ms`)), timeoutMs)));
        let s: SignIn;
        try {
          const ok = await Promise.race([signIn(b, o, kind, username), timeout]);
          s = { kind, client: i, ms: ok.ms, assertionId: ok.assertionId };
        } catch (e) {
          s = { kind, client: i, ms: performance.now() - begun, error: errorKind(e) };
        } finally {
          clearTimeout(timer);
        }
        results.push(s);
        o.onSignIn?.(s);
        if (s.error) break; // start over with an empty jar: the session may not exist
      }
    }
  };
  await Promise.all(Array.from({ length: o.clients }, (_, i) => client(i)));
  return results;
}

export interface Summary {
  signIns: number;
  ok: number;
  perSecond: number;
  p50: number;
  p99: number;
  byKind: Record<SignInKind, { ok: number; failed: number; p50: number; p99: number }>;
  errors: Map<string, number>;
}

const percentile = (sorted: number[], p: number): number => (sorted.length ? (sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number) : NaN);

/** Sign-ins per second over `seconds`, latency percentiles of the successful ones, errors by kind. */
export function summarise(results: readonly SignIn[], seconds: number): Summary {
  const okMs = (rs: readonly SignIn[]) => rs.filter((r) => r.assertionId).map((r) => r.ms).sort((a, b) => a - b);
  const all = okMs(results);
  const kind = (k: SignInKind) => {
    const rs = results.filter((r) => r.kind === k);
    const ms = okMs(rs);
    return { ok: ms.length, failed: rs.length - ms.length, p50: percentile(ms, 50), p99: percentile(ms, 99) };
  };
  const errors = new Map<string, number>();
  for (const r of results) if (r.error) errors.set(r.error, (errors.get(r.error) ?? 0) + 1);
  return { signIns: results.length, ok: all.length, perSecond: all.length / seconds, p50: percentile(all, 50), p99: percentile(all, 99), byKind: { password: kind("password"), sso: kind("sso") }, errors };
}

/** One `saml.response.issued` audit event: the assertion it names and the transaction that issued it. */
export interface IssuedEvent {
  assertionId: string | null;
  transactionId: string | null;
}

/** Read-only access to what the check needs from a node's store. */
export interface AuditStore {
  issued(): Promise<IssuedEvent[]>;
  /** The engine's own consistency check: "ok" or what it found. */
  integrity(): Promise<string>;
  close(): Promise<void>;
}

/** The SQLite store of a data dir, opened read-only: the check never writes what it checks. */
export function openSqliteAudit(dataDir: string): AuditStore {
  const db = new Database(join(dataDir, "gatehouse.db"), { readonly: true, fileMustExist: true });
  return {
    async issued() {
      const rows = db.prepare<[], { detail: string | null; tx: string | null }>("SELECT detail_json AS detail, transaction_id AS tx FROM audit_events WHERE type = 'saml.response.issued'").all();
      return rows.map((r) => ({ assertionId: r.detail ? ((JSON.parse(r.detail) as { assertionId?: string }).assertionId ?? null) : null, transactionId: r.tx }));
    },
    async integrity() {
      const rows = db.pragma("integrity_check") as { integrity_check: string }[];
      return rows.map((r) => r.integrity_check).join("; ");
    },
    async close() {
      db.close();
    },
  };
}

export interface AuditCheck {
  received: number;
  issuedEvents: number;
  /** Assertions a client received with no `saml.response.issued` event. */
  missing: string[];
  /** Assertions with more than one event. */
  duplicated: string[];
  /** Transactions that issued more than one assertion. */
  transactionsWithTwo: string[];
  /** Events that name no assertion or no transaction. */
  incomplete: number;
}

/** Every assertion received has exactly one event; no transaction issued two. */
export function checkAudit(events: readonly IssuedEvent[], received: readonly string[]): AuditCheck {
  const byAssertion = new Map<string, number>();
  const byTransaction = new Map<string, number>();
  let incomplete = 0;
  for (const e of events) {
    if (!e.assertionId || !e.transactionId) incomplete++;
    if (e.assertionId) byAssertion.set(e.assertionId, (byAssertion.get(e.assertionId) ?? 0) + 1);
    if (e.transactionId) byTransaction.set(e.transactionId, (byTransaction.get(e.transactionId) ?? 0) + 1);
  }
  return {
    received: received.length,
    issuedEvents: events.length,
    missing: received.filter((id) => !byAssertion.has(id)),
    duplicated: [...byAssertion].filter(([, n]) => n > 1).map(([id]) => id),
    transactionsWithTwo: [...byTransaction].filter(([, n]) => n > 1).map(([id]) => id),
    incomplete,
  };
}

/** Whether the check found nothing wrong. */
export const auditClean = (c: AuditCheck): boolean => c.missing.length === 0 && c.duplicated.length === 0 && c.transactionsWithTwo.length === 0 && c.incomplete === 0;
