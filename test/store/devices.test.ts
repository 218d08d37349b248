import { describe, expect, it } from "vitest";
import { openDb } from "../../src/store/db.ts";
import { DeviceRepository, type NewDevice } from "../../src/store/devices.ts";
import { UserRepository } from "../../src/store/users.ts";

describe("the device store", () => {
  const db = openDb(":memory:");
  const user = new UserRepository(db).add({ username: "d", email: "d@example.com" }, 0);
  const repo = new DeviceRepository(db);
  const device = (id: string): NewDevice => ({ id, userId: user.id, tokenHash: `hash-${id}`, browser: "Chrome", os: "Linux", mobile: false, ip: "192.0.2.1", now: 0 });

  it("counts and inserts in one statement, so a limit cannot be overrun", () => {
    expect(repo.addUnderLimit(device("a"), 2)).toBeDefined();
    expect(repo.addUnderLimit(device("b"), 2)).toBeDefined();
    expect(repo.addUnderLimit(device("c"), 2)).toBeUndefined();
    expect(repo.forUser(user.id).map((d) => d.id).sort()).toEqual(["a", "b"]);
    expect(repo.addUnderLimit(device("c"), null)).toBeDefined(); // no limit
  });

  it("frees a place when a device is removed, and keeps no token in what it returns", () => {
    expect(repo.revoke("a", user.id, 1)).toBe(true);
    expect(repo.addUnderLimit(device("d"), 3)).toBeDefined();
    expect(JSON.stringify(repo.forUser(user.id))).not.toContain("hash-");
  });

  it("rotates a token only from the value it holds", () => {
    expect(repo.rotate("b", "wrong", "new", "192.0.2.2", 5)).toBe(false);
    expect(repo.rotate("b", "hash-b", "new", "192.0.2.2", 5)).toBe(true);
    expect(repo.hashesOf("b")).toEqual({ current: "new", previous: "hash-b" });
    expect(repo.rotate("b", "hash-b", "newer", "192.0.2.2", 6)).toBe(false);
  });
});
