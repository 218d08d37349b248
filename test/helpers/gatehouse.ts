import { createServer, type Server } from "node:http";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DestinationStream } from "pino";
import { offsetClock } from "../../src/clock.ts";
import { loadConfig } from "../../src/config.ts";
import { hashSecret } from "../../src/crypto/passwords.ts";
import { registerDemoApp } from "../../src/demo/demo-app.ts";
import { gatehouseLogger, openRuntime, type Runtime } from "../../src/runtime.ts";
import { buildServer, httpServerOptions } from "../../src/server.ts";
import type { App, NewApp } from "../../src/store/apps.ts";
import type { User } from "../../src/store/users.ts";

export interface TestGatehouse {
  url: string;
  rt: Runtime;
  clock: ReturnType<typeof offsetClock>;
  addUser(username: string, password: string, extra?: Partial<Pick<User, "firstName" | "lastName" | "groups" | "email">>): Promise<User>;
  addApp(app: Partial<NewApp> & Pick<NewApp, "entityId" | "acs">): Promise<App>;
  close(): Promise<void>;
}

/**
 * A real Gatehouse on 127.0.0.1 with a temporary data dir and a clock tests can move.
 * `policies` (file name → YAML) become its policies directory, removed with the rest on close.
 * `logs` receives its JSON log lines at the configured level (GATEHOUSE_LOG_LEVEL); without it the
 * log is silent unless TEST_LOG names a level.
 */
export async function startGatehouse(env: Record<string, string> = {}, opts: { policies?: Record<string, string>; fromDataDir?: string; logs?: DestinationStream } = {}): Promise<TestGatehouse> {
  const dataDir = mkdtempSync(join(tmpdir(), "gatehouse-test-"));
  // A data dir made earlier (by an older Gatehouse, say) is copied, never opened in place.
  if (opts.fromDataDir) cpSync(opts.fromDataDir, dataDir, { recursive: true });
  if (opts.policies) {
    const dir = join(dataDir, "policies");
    mkdirSync(dir);
    for (const [name, yaml] of Object.entries(opts.policies)) writeFileSync(join(dir, name), yaml);
    env = { GATEHOUSE_POLICIES_DIR: dir, ...env };
  }
  const server: Server = createServer(httpServerOptions(loadConfig({})));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const url = `http://127.0.0.1:${port}`;
  const config = loadConfig({ GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_BASE_URL: url, GATEHOUSE_PORT: String(port), GATEHOUSE_DEMO: "false", ...env });
  const moving = offsetClock();
  const rt = await openRuntime(config, moving, opts.logs ? gatehouseLogger(config.logLevel, opts.logs) : gatehouseLogger(process.env.TEST_LOG ?? "silent"));
  if (config.demo) await registerDemoApp(rt.apps, config, moving.now());
  const app = await buildServer(rt);
  server.on("request", app);
  return {
    url,
    rt,
    clock: moving,
    async addUser(username, password, extra = {}) {
      return rt.users.add({ username, email: extra.email ?? `${username}@example.com`, firstName: extra.firstName ?? "", lastName: extra.lastName ?? "", groups: extra.groups ?? [], passwordHash: await hashSecret(password) }, moving.now());
    },
    async addApp(a) {
      return rt.apps.add(
        {
          name: a.name ?? "Test app",
          entityId: a.entityId,
          acs: a.acs,
          sloUrl: a.sloUrl ?? null,
          sloBinding: a.sloBinding ?? null,
          nameIdFormat: a.nameIdFormat ?? "email",
          attributes: a.attributes ?? [
            { name: "email", field: "email" },
            { name: "firstName", field: "firstName" },
            { name: "uid", field: "id" },
          ],
          signAssertion: a.signAssertion ?? true,
          signResponse: a.signResponse ?? true,
          wantRequestsSigned: a.wantRequestsSigned ?? false,
          certPem: a.certPem ?? null,
        },
        moving.now(),
      );
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rt.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
