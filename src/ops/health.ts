import { Router, type Response } from "express";
import type { Logger } from "pino";
import type { KeyMaterial } from "../crypto/keys.ts";
import type { StoreHealth } from "../store/health.ts";

export interface HealthDeps {
  store: StoreHealth;
  keys: KeyMaterial;
  log: Logger;
}

type Check = "database" | "migrations" | "keys";

/**
 * `/healthz`: the process answers. `/readyz`: this node can serve sign-ins (the database answers,
 * its schema is the one this code knows, the keys are loaded). Small JSON naming each check and
 * nothing more: no versions, paths or error text (those go to the log). Mounted before the
 * pre-auth rate limit and never audited: a load balancer polls them every few seconds.
 */
export function healthRouter(d: HealthDeps): Router {
  const r = Router();
  r.get("/healthz", (_req, res) => send(res, 200, { status: "ok" }));
  r.get("/readyz", async (_req, res) => {
    const checks: Record<Check, "ok" | "failed"> = { database: "ok", migrations: "ok", keys: "ok" };
    const fail = (check: Check, why: string) => {
      checks[check] = "failed";
      d.log.warn({ check, why }, "not ready");
    };
    try {
      await d.store.ping();
      const { current, known } = await d.store.schema();
      if (current !== known) fail("migrations", `database schema ${current}, this code knows ${known}`);
    } catch (err) {
      fail("database", (err as Error).message);
      checks.migrations = "failed"; // cannot be read without the database
    }
    if (!keysLoaded(d.keys)) fail("keys", "signing key, certificate or derived keys missing");
    const ready = Object.values(checks).every((c) => c === "ok");
    send(res, ready ? 200 : 503, { status: ready ? "ready" : "not ready", checks });
  });
  return r;
}

function keysLoaded(k: KeyMaterial): boolean {
  return (
    k.signing.privateKey.type === "private" &&
    k.signing.certBase64.length > 0 &&
    k.derived.csrf.length === 32 &&
    k.derived.emailCodes.length === 32 &&
    k.nameIdKey.length > 0 &&
    k.factorKey.length === 32
  );
}

function send(res: Response, status: number, body: object): void {
  res.status(status).set("Cache-Control", "no-store").json(body);
}
