import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { argon2Limits, dummyHash, hashSecret, verifySecret } from "../../src/crypto/passwords.ts";
import { GatehouseError } from "../../src/errors.ts";
import { Browser, readForm } from "../helpers/client.ts";
import { startGatehouse, type TestGatehouse } from "../helpers/gatehouse.ts";

const codes = (results: PromiseSettledResult<unknown>[]) =>
  results.map((r) => (r.status === "fulfilled" ? "done" : r.reason instanceof GatehouseError ? r.reason.code : String(r.reason)));
const count = (xs: string[], x: string) => xs.filter((y) => y === x).length;

describe("argon2 work", () => {
  let hash: string;
  beforeAll(async () => {
    hash = await hashSecret("correct horse");
  });

  it("verifies a right and a wrong secret", async () => {
    expect(await verifySecret("correct horse", hash)).toBe(true);
    expect(await verifySecret("wrong horse", hash)).toBe(false);
  });

  it("is refused with server_busy past 4 running and 64 waiting, instead of queueing without end", async () => {
    const burst = 100;
    const results = codes(await Promise.allSettled(Array.from({ length: burst }, (_, i) => verifySecret(i % 2 ? "correct horse" : "x", hash))));
    const admitted = argon2Limits.maxConcurrent + argon2Limits.maxWaiting;
    expect({ done: count(results, "done"), busy: count(results, "server_busy") }).toEqual({ done: admitted, busy: burst - admitted });
  });

  it("admits the same number again once a burst has drained (every slot is given back)", async () => {
    for (let round = 0; round < 2; round++) {
      const results = codes(await Promise.allSettled(Array.from({ length: 80 }, () => verifySecret("x", hash))));
      expect(count(results, "done")).toBe(argon2Limits.maxConcurrent + argon2Limits.maxWaiting);
    }
    expect(await verifySecret("correct horse", hash)).toBe(true);
  });

  it("keeps the dummy hash usable after it was first asked for while busy", async () => {
    const full = Array.from({ length: argon2Limits.maxConcurrent + argon2Limits.maxWaiting }, () => verifySecret("x", hash));
    await expect(dummyHash()).rejects.toMatchObject({ code: "server_busy" });
    await Promise.all(full);
    expect(await verifySecret("anything", await dummyHash())).toBe(false);
  });
});

describe("a sign-in while the argon2 queue is full", () => {
  let gh: TestGatehouse;
  beforeAll(async () => {
    gh = await startGatehouse();
    await gh.addUser("ada", "correct horse battery");
  });
  afterAll(() => gh.close());

  it("is answered 503 with Retry-After and audited, and goes through once the queue drains", async () => {
    const b = new Browser();
    const login = await b.follow(`${gh.url}/login`);
    // The server runs in this process: these fill every running and waiting slot, with hashes six
    // times as costly as a password's (t=12), so the queue stays full for seconds, whatever the
    // machine's speed, while the sign-in below reaches it.
    const b64 = (n: number) => Buffer.alloc(n, 7).toString("base64").replace(/=+$/, "");
    const slow = `$argon2id$v=19$m=19456,t=12,p=1$${b64(16)}$${b64(32)}`;
    const full = Array.from({ length: argon2Limits.maxConcurrent + argon2Limits.maxWaiting }, () => verifySecret("x", slow));
    const busy = await b.submit(readForm(login), { username: "ada", password: "correct horse battery" });
    expect([busy.status, busy.headers.get("retry-after")]).toEqual([503, "2"]);
    expect(busy.body).toContain("server_busy");
    expect(gh.rt.db.prepare("SELECT count(*) FROM audit_events WHERE reason = 'server_busy'").pluck().get()).toBe(1);
    // A try that was never checked is given back: it counts against neither the account nor the address.
    expect(gh.rt.db.prepare("SELECT count(*) FROM account_failures WHERE consecutive > 0").pluck().get()).toBe(0);
    expect(gh.rt.db.prepare("SELECT coalesce(sum(points), 0) FROM rate_limits WHERE key LIKE 'login_ip%'").pluck().get()).toBe(0);
    await Promise.all(full);
    const again = await b.submit(readForm(await b.follow(`${gh.url}/login`)), { username: "ada", password: "correct horse battery" });
    expect(again.status).toBe(303);
  });
});
