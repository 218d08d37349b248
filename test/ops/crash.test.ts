/**
 * A node killed with kill -9 in the middle of sign-ins (no signal handler, nothing flushed or
 * closed) loses nothing it answered and corrupts nothing: a real `node src/main.ts serve` on
 * SQLite, 20 clients signing in with the password and with their SSO session (node-saml as the
 * app accepting each response), SIGKILL while they run, then a restart on the same data dir. The
 * database, opened read-only, passes its integrity check; every assertion a client received
 * before the kill has its `saml.response.issued` event, exactly one; no transaction issued two;
 * and the restarted node signs a new user in.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeSp, readIdpMetadata } from "../helpers/sp.ts";
import { checkAudit, freePort, loadApp, nodeEnv, openSqliteAudit, runClients, seedStore, startNode, type GatehouseNode, type SignIn } from "../load/clients.ts";

const dirs: string[] = [];
const nodes: GatehouseNode[] = [];
afterAll(async () => {
  for (const n of nodes) await n.kill9();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("a node killed with kill -9 during sign-ins", () => {
  it("restarts on the same data dir with an intact database, one audit event for every assertion it gave out, and signs in again", { timeout: 45_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "gatehouse-crash-"));
    dirs.push(dataDir);
    const env = nodeEnv(dataDir, await freePort());
    const password = "a long and correct password for the crash";
    const app = loadApp("crash-sp");
    const usernames = await seedStore(env, { users: 60, password, app });
    const first = await startNode(env);
    nodes.push(first);
    const sp = await makeSp(await readIdpMetadata(`${first.url}/saml/metadata`), "crash-sp");
    expect(sp.acs).toBe(app.acs);

    // Kill once the clients have had a fair number of answers, with every one of them mid-flight.
    const stop = new AbortController();
    let answered = 0;
    let killed: Promise<void> | undefined;
    const kill = () => {
      killed ??= first.kill9(); // SIGKILL is sent before this returns
      stop.abort(); // no sign-in starts after it; those in flight fail on the network
    };
    const fallback = setTimeout(kill, 8_000); // a slow machine: kill anyway, the checks hold either way
    const before: SignIn[] = await runClients({
      sp,
      usernames: usernames.slice(0, 50),
      password,
      clients: 20,
      until: performance.now() + 15_000,
      maxSignIns: 5_000,
      ssoPerPassword: 2,
      timeoutMs: 10_000,
      stop: stop.signal,
      onSignIn: (s) => {
        if (s.assertionId && ++answered === 60) kill();
      },
    });
    clearTimeout(fallback);
    await killed;
    expect((await first.exited).signal).toBe("SIGKILL");
    const received = before.flatMap((s) => (s.assertionId ? [s.assertionId] : []));
    expect(received.length).toBeGreaterThan(0);
    // Before the kill nothing failed; after it, only the network (the node is gone).
    expect(before.filter((s) => s.error && !s.error.startsWith("network:")).map((s) => s.error)).toEqual([]);

    const second = await startNode(env);
    nodes.push(second);
    expect(second.port).toBe(first.port);

    const store = openSqliteAudit(dataDir);
    try {
      expect(await store.integrity()).toBe("ok");
      const check = checkAudit(await store.issued(), received);
      expect(check.missing).toEqual([]);
      expect(check.duplicated).toEqual([]);
      expect(check.transactionsWithTwo).toEqual([]);
      expect(check.incomplete).toBe(0);
      expect(check.issuedEvents).toBeGreaterThanOrEqual(received.length);
    } finally {
      await store.close();
    }

    // A user the load never touched signs in on the restarted node, and its assertion is recorded.
    const after = await runClients({ sp, usernames: [usernames[59] as string], password, clients: 1, until: Infinity, maxSignIns: 2, ssoPerPassword: 1, timeoutMs: 10_000 });
    expect(after.map((s) => [s.kind, s.error])).toEqual([
      ["password", undefined],
      ["sso", undefined],
    ]);
    const recorded = openSqliteAudit(dataDir);
    try {
      const check = checkAudit(await recorded.issued(), after.map((s) => s.assertionId as string));
      expect(check.missing).toEqual([]);
      expect(check.duplicated).toEqual([]);
    } finally {
      await recorded.close();
    }
    expect(await second.stop()).toBe(0);
  });
});
