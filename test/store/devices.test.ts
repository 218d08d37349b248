import { beforeAll, describe, expect, it } from "vitest";
import { openDb } from "../../src/store/db.ts";
import { DeviceRepository, type NewDevice } from "../../src/store/devices.ts";
import { UserRepository, type User } from "../../src/store/users.ts";

describe("the device store", () => {
  const db = openDb(":memory:");
  let user: User;
  beforeAll(async () => {
    user = await new UserRepository(db).add({ username: "d", email: "d@example.com" }, 0);
  });
  const repo = new DeviceRepository(db);
  const device = (id: string): NewDevice => ({ id, userId: user.id, tokenHash: `hash-${id}`, browser: "Chrome", os: "Linux", mobile: false, ip: "192.0.2.1", now: 0 });

  it("counts and inserts in one statement, so a limit cannot be overrun", async () => {
    expect(await repo.addUnderLimit(device("a"), 2)).toBeDefined();
    expect(await repo.addUnderLimit(device("b"), 2)).toBeDefined();
    expect(await repo.addUnderLimit(device("c"), 2)).toBeUndefined();
    expect((await repo.forUser(user.id)).map((d) => d.id).sort()).toEqual(["a", "b"]);
    expect(await repo.addUnderLimit(device("c"), null)).toBeDefined(); // no limit
  });

  it("frees a place when a device is removed, and keeps no token in what it returns", async () => {
    expect(await repo.revoke("a", user.id, 1)).toBe(true);
    expect(await repo.addUnderLimit(device("d"), 3)).toBeDefined();
    expect(JSON.stringify(await repo.forUser(user.id))).not.toContain("hash-");
  });

  it("rotates a token only from the value it holds", async () => {
    expect(await repo.rotate("b", "wrong", "new", "192.0.2.2", 5)).toBe(false);
    expect(await repo.rotate("b", "hash-b", "new", "192.0.2.2", 5)).toBe(true);
    expect(await repo.hashesOf("b")).toEqual({ current: "new", previous: "hash-b" });
    expect(await repo.rotate("b", "hash-b", "newer", "192.0.2.2", 6)).toBe(false);
  });
});
