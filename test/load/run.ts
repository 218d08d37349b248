/**
 * npm run load [-- --clients N --seconds S --users U]: a real Gatehouse (`node src/main.ts serve`,
 * SQLite in a temporary data dir, loopback only) under N concurrent clients doing password and
 * SSO-session sign-ins for S seconds, node-saml as the app checking every response. Prints
 * sign-ins/s, p50/p99 latency and errors, then checks the store: every assertion a client received
 * has exactly one `saml.response.issued` audit event and no transaction issued two. Exit 1 when
 * anything failed. Bounded: S seconds of sign-ins, --max-sign-ins in all, 30 s for any one.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { makeSp, readIdpMetadata } from "../helpers/sp.ts";
import { auditClean, checkAudit, freePort, loadApp, nodeEnv, openSqliteAudit, runClients, seedStore, startNode, summarise, type GatehouseNode, type SignIn } from "./clients.ts";

const usage = "Usage: npm run load -- [--clients N (200)] [--seconds S (60)] [--users U (300)] [--sso-per-password K (1)] [--max-sign-ins M (1000000)] [--keep]";
const { values } = parseArgs({
  options: {
    clients: { type: "string", default: "200" },
    seconds: { type: "string", default: "60" },
    users: { type: "string", default: "300" },
    "sso-per-password": { type: "string", default: "1" },
    "max-sign-ins": { type: "string", default: "1000000" },
    keep: { type: "boolean", default: false },
    help: { type: "boolean", short: "h" },
  },
  strict: true,
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const parsed = z
  .object({
    clients: z.coerce.number().int().min(1).max(5000),
    seconds: z.coerce.number().min(1).max(3600),
    users: z.coerce.number().int().min(1).max(100_000),
    ssoPerPassword: z.coerce.number().int().min(0).max(100),
    maxSignIns: z.coerce.number().int().min(1).max(10_000_000),
  })
  .safeParse({ clients: values.clients, seconds: values.seconds, users: values.users, ssoPerPassword: values["sso-per-password"], maxSignIns: values["max-sign-ins"] });
if (!parsed.success) {
  console.error(`error: ${parsed.error.issues.map((i) => `--${String(i.path[0])}: ${i.message}`).join("; ")}\n${usage}`);
  process.exit(2);
}
const o = parsed.data;

const password = "a long and correct password for the load";
const dataDir = mkdtempSync(join(tmpdir(), "gatehouse-load-"));
const env = nodeEnv(dataDir, await freePort());
const app = loadApp("load-sp");

const fmt = (ms: number) => (Number.isNaN(ms) ? "-" : `${ms.toFixed(1)} ms`);
const row = (cells: (string | number)[]) => console.log(`  ${String(cells[0]).padEnd(30)}${cells.slice(1).map((c) => String(c).padStart(14)).join("")}`);

let failed = false;
let node: GatehouseNode | undefined;
try {
  const usernames = await seedStore(env, { users: o.users, password, app });
  node = await startNode(env);
  const idp = await readIdpMetadata(`${node.url}/saml/metadata`);
  const sp = await makeSp(idp, "load-sp");
  if (sp.entityId !== app.entityId || sp.acs !== app.acs) throw new Error("the app registered is not the app signing in");
  console.log(`Gatehouse load: ${o.clients} clients, ${o.seconds} s, ${o.users} users, ${o.ssoPerPassword} SSO-session sign-in(s) per password sign-in`);
  console.log(`one node (SQLite) at ${node.url}, data dir ${dataDir}, Node ${process.version}\n`);

  let done = 0;
  const progress = setInterval(() => process.stdout.isTTY && process.stdout.write(`  … ${done} sign-ins\r`), 1000);
  const start = performance.now();
  let results: SignIn[];
  try {
    results = await runClients({ sp, usernames: usernames, password, clients: o.clients, until: start + o.seconds * 1000, maxSignIns: o.maxSignIns, ssoPerPassword: o.ssoPerPassword, onSignIn: () => done++ });
  } finally {
    clearInterval(progress);
    if (process.stdout.isTTY) process.stdout.write("\x1b[2K");
  }
  const elapsed = (performance.now() - start) / 1000;
  const s = summarise(results, elapsed);

  console.log(`Sign-ins over ${elapsed.toFixed(1)} s (latency: from the app's redirect to the page posting the response)`);
  row(["", "completed", "failed", "p50", "p99"]);
  row(["password sign-ins", s.byKind.password.ok, s.byKind.password.failed, fmt(s.byKind.password.p50), fmt(s.byKind.password.p99)]);
  row(["SSO-session sign-ins", s.byKind.sso.ok, s.byKind.sso.failed, fmt(s.byKind.sso.p50), fmt(s.byKind.sso.p99)]);
  row(["all", s.ok, s.signIns - s.ok, fmt(s.p50), fmt(s.p99)]);
  console.log(`\n  sign-ins/s                    ${s.perSecond.toFixed(1).padStart(14)}`);
  console.log(`  errors                        ${String(s.signIns - s.ok).padStart(14)}${s.signIns === s.ok ? "   (0 expected)" : "   (0 expected: FAILED)"}`);
  for (const [kind, n] of [...s.errors].sort((a, b) => b[1] - a[1])) console.log(`    ${String(n).padStart(6)}  ${kind}`);
  if (s.signIns !== s.ok) failed = true;

  // The node stops cleanly first: the check reads a store nobody is writing.
  const code = await node.stop();
  if (code !== 0) {
    failed = true;
    console.log(`\n  the node exited ${code ?? "by a signal"} on SIGTERM (0 expected)`);
  }
  const store = openSqliteAudit(dataDir);
  try {
    const received = results.flatMap((r) => (r.assertionId ? [r.assertionId] : []));
    const c = checkAudit(await store.issued(), received);
    const integrity = await store.integrity();
    console.log(`\nAudit check (the database opened read-only)`);
    row(["assertions received", c.received]);
    row(["saml.response.issued events", c.issuedEvents]);
    row(["received, without an event", c.missing.length]);
    row(["with more than one event", c.duplicated.length]);
    row(["transactions issuing two", c.transactionsWithTwo.length]);
    row(["events naming no assertion/tx", c.incomplete]);
    row(["PRAGMA integrity_check", integrity]);
    const clean = auditClean(c) && integrity === "ok";
    console.log(`\n  ${clean ? "audit: every assertion received has exactly one event; no transaction issued two" : "audit: FAILED"}`);
    for (const id of [...c.missing, ...c.duplicated, ...c.transactionsWithTwo].slice(0, 10)) console.log(`    ${id}`);
    if (!clean) failed = true;
  } finally {
    await store.close();
  }
} catch (e) {
  failed = true;
  console.error(`error: ${(e as Error).message}\n${node?.output() ?? ""}`);
} finally {
  await node?.kill9(); // already stopped, unless something above threw
  if (values.keep) console.log(`\nkept ${dataDir}`);
  else rmSync(dataDir, { recursive: true, force: true });
}
console.log(failed ? "\nload: FAILED" : "\nload: passed");
process.exit(failed ? 1 : 0);
