import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { registerDemoApp, removeDemoApp } from "../../src/demo/demo-app.ts";
import { AppRepository } from "../../src/store/apps.ts";
import { openDb } from "../../src/store/db.ts";
import { LoginPolicyRepository } from "../../src/store/login-policies.ts";

const dataDir = mkdtempSync(join(tmpdir(), "gatehouse-demo-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
const env = (demo: boolean) => ({ ...process.env, GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_PORT: "0", GATEHOUSE_POLICIES_DIR: join(dataDir, "policies"), GATEHOUSE_DEMO: String(demo) });

/** `npm start` as an operator runs it: until it listens, then stopped with SIGTERM. Its output. */
function serveOnce(demo: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["src/main.ts", "serve"], { env: env(demo), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes("Gatehouse is listening")) child.kill("SIGTERM");
    });
    child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.on("error", reject);
    child.on("exit", () => resolve(out));
  });
}
/** The demo app as the store holds it between starts. */
async function storedDemo(): Promise<string | undefined> {
  const db = openDb(join(dataDir, "gatehouse.db"));
  try {
    return (await new AppRepository(db).builtin("demo"))?.name;
  } finally {
    db.close();
  }
}

describe("the built-in demo app", () => {
  it("is removed at the first start with GATEHOUSE_DEMO=false, with a NOTICE, and stays away", async () => {
    expect(await serveOnce(true)).toContain("NOTICE: demo mode is on");
    expect(await storedDemo()).toBe("Demo app");
    expect(await serveOnce(false)).toContain("NOTICE: GATEHOUSE_DEMO=false: removed the built-in demo app");
    expect(await storedDemo()).toBeUndefined();
    expect(await serveOnce(false)).not.toContain("removed the built-in demo app");
  });

  it("takes its login policy with it when removed", async () => {
    const db = openDb(":memory:");
    const apps = new AppRepository(db);
    const policies = new LoginPolicyRepository(db);
    const demo = await registerDemoApp(apps, loadConfig({}), Date.now());
    await policies.assign(demo.id, "first-factor-only", "enforce", Date.now());
    expect((await removeDemoApp(apps))?.id).toBe(demo.id);
    expect([await apps.builtin("demo"), (await policies.list()).filter((lp) => lp.scope === demo.id)]).toEqual([undefined, []]);
    expect(await removeDemoApp(apps)).toBeNull();
    db.close();
  });
});
