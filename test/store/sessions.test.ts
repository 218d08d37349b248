import { beforeAll, describe, expect, it } from "vitest";
import { openDb } from "../../src/store/db.ts";
import { AppRepository } from "../../src/store/apps.ts";
import { SessionRepository } from "../../src/store/sessions.ts";
import { UserRepository, type User } from "../../src/store/users.ts";

describe("the session store", () => {
  const db = openDb(":memory:");
  const repo = new SessionRepository(db);
  let user: User;
  let appId = "";
  beforeAll(async () => {
    user = await new UserRepository(db).add({ username: "s", email: "s@example.com" }, 0);
    const added = await new AppRepository(db).add(
      { name: "A", entityId: "https://a.example/sp", acs: [{ url: "https://a.example/acs", index: 0, isDefault: true }], sloUrl: null, sloBinding: null, nameIdFormat: "email", attributes: [], signAssertion: true, signResponse: false, wantRequestsSigned: false, certPem: null },
      0,
    );
    appId = added.id;
  });
  const app = (sessionIndex: string, signedInAt: number) => ({ appId, sessionIndex, nameId: "s@example.com", nameIdFormat: "email", signedInAt });

  it("records an app in a live session once, keeping its first SessionIndex", async () => {
    await repo.add({ idHash: "live", userId: user.id, authMethod: "password", authTime: 0, createdAt: 0, lastSeenAt: 0, expiresAt: 1000 });
    expect(await repo.addApp("live", app("_first", 10))).toBe("_first");
    expect(await repo.addApp("live", app("_second", 20))).toBe("_first");
  });

  it("adds no app to a session that ended, or ran past its lifetime, while the sign-in completed", async () => {
    await repo.add({ idHash: "ended", userId: user.id, authMethod: "password", authTime: 0, createdAt: 0, lastSeenAt: 0, expiresAt: 1000 });
    expect(await repo.end("ended", 5)).toBe(true);
    expect(await repo.addApp("ended", app("_x", 10))).toBeNull();
    expect(await repo.addApp("live", app("_y", 1000))).toBeNull(); // at its expiry
    expect(await repo.apps("ended")).toEqual([]);
  });
});
