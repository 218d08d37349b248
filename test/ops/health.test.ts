/**
 * /healthz says the process answers; /readyz says this node can serve sign-ins: its database
 * answers through the store, its schema is the one this code knows, its keys are loaded. A load
 * balancer polls both every few seconds, so they write no audit events, set no cookies and say
 * nothing secret. The failing cases break a real SQLite database under a real HTTP listener.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KeyMaterial } from "../../src/crypto/keys.ts";
import { healthRouter } from "../../src/ops/health.ts";
import { migrationPlan, openDb, type Db } from "../../src/store/db.ts";
import { StoreHealth } from "../../src/store/health.ts";
import { startGatehouse, type TestGatehouse } from "../helpers/gatehouse.ts";

let gh: TestGatehouse;
beforeAll(async () => {
  gh = await startGatehouse();
});
afterAll(() => gh.close());

const auditRows = (): number => (gh.rt.db.prepare("SELECT count(*) AS n FROM audit_events").get() as { n: number }).n;

describe("a running Gatehouse", () => {
  it("answers /healthz with 200 and {status: ok}, and nothing else", async () => {
    const res = await fetch(`${gh.url}/healthz`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.json()).toEqual({ status: "ok" });
  });

  it("answers /readyz with 200 and each check ok", async () => {
    const res = await fetch(`${gh.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ready", checks: { database: "ok", migrations: "ok", keys: "ok" } });
  });

  it("is polled 100 times at once without an audit row or a cookie", async () => {
    const before = auditRows();
    const all = await Promise.all(Array.from({ length: 100 }, (_v, i) => fetch(`${gh.url}/${i % 2 ? "healthz" : "readyz"}`)));
    expect(all.map((r) => r.status)).toEqual(Array.from({ length: 100 }, () => 200));
    expect(all.flatMap((r) => r.headers.getSetCookie())).toEqual([]);
    expect(auditRows()).toBe(before);
  });

  it("answers a method other than GET (or HEAD) with 404, without auditing it", async () => {
    const before = auditRows();
    expect((await fetch(`${gh.url}/readyz`, { method: "POST" })).status).toBe(404);
    expect((await fetch(`${gh.url}/healthz`, { method: "HEAD" })).status).toBe(200);
    expect(auditRows()).toBe(before);
  });
});

/** The health router alone, over a database and keys the test can break, on 127.0.0.1. */
async function healthOver(db: Db, keys: KeyMaterial): Promise<{ url: string; close: () => Promise<void> }> {
  const app = express();
  app.use(healthRouter({ store: new StoreHealth(db), keys, log: pino({ level: "silent" }) }));
  const server: Server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function readyz(url: string): Promise<{ status: number; body: unknown; text: string }> {
  const res = await fetch(`${url}/readyz`);
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as unknown, text };
}

describe("a node that is not ready", () => {
  it("says 503 and names the database when it cannot answer, while /healthz still answers", async () => {
    const db = openDb(":memory:");
    const h = await healthOver(db, gh.rt.keys);
    try {
      expect((await readyz(h.url)).status).toBe(200);
      db.close();
      const r = await readyz(h.url);
      expect(r.status).toBe(503);
      expect(r.body).toEqual({ status: "not ready", checks: { database: "failed", migrations: "failed", keys: "ok" } });
      expect(r.text).not.toMatch(/connection|sqlite|open/i); // the reason goes to the log, not to the poller
      expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
    } finally {
      await h.close();
    }
  });

  it.each([
    ["behind (a migration not applied)", -1],
    ["ahead (written by a newer Gatehouse)", 1],
  ])("says 503 and names the migrations when the schema is %s", async (_case, delta) => {
    const db = openDb(":memory:");
    const h = await healthOver(db, gh.rt.keys);
    try {
      db.pragma(`user_version = ${migrationPlan(db).latest + delta}`);
      const r = await readyz(h.url);
      expect(r.status).toBe(503);
      expect(r.body).toEqual({ status: "not ready", checks: { database: "ok", migrations: "failed", keys: "ok" } });
      expect(r.text).not.toMatch(/\d/); // no schema versions: nothing that fingerprints the release
    } finally {
      await h.close();
      db.close();
    }
  });

  it("says 503 and names the keys when one is missing", async () => {
    const db = openDb(":memory:");
    const h = await healthOver(db, { ...gh.rt.keys, factorKey: Buffer.alloc(0) });
    try {
      const r = await readyz(h.url);
      expect(r.status).toBe(503);
      expect(r.body).toEqual({ status: "not ready", checks: { database: "ok", migrations: "ok", keys: "failed" } });
    } finally {
      await h.close();
      db.close();
    }
  });
});
