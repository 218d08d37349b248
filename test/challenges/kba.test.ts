import { describe, expect, it } from "vitest";
import { KbaSetupError, normaliseAnswer, setKba } from "../../src/challenges/kba.ts";
import { openDb } from "../../src/store/db.ts";
import { KbaRepository } from "../../src/store/factors.ts";
import { UserRepository } from "../../src/store/users.ts";

const db = openDb(":memory:");
const user = await new UserRepository(db).add({ username: "k", email: "k@example.com" }, 0);
const repo = new KbaRepository(db);

describe("KBA answers", () => {
  it.each([
    ["  Main   Street ", "main street"],
    ["ＭＡＩＮ street", "main street"], // full-width letters (NFKC)
    ["Ｍs\tFrost\n", "ms frost"],
  ])("normalise %j to %j", (input, expected) => {
    expect(normaliseAnswer(input)).toBe(expected);
  });

  const q = (a: string[], qs = ["Question one?", "Question two?", "Question three?"]) => qs.map((question, i) => ({ question, answer: a[i] ?? "" }));

  it.each([
    ["two questions only", q(["aaa", "bbb"], ["Question one?", "Question two?"]), "Give 3 questions"],
    ["the same question twice", q(["aaa", "bbb", "ccc"], ["Question one?", "question ONE?", "Question three?"]), "three different questions"],
    ["an answer too short", q(["aaa", "b", "ccc"]), "Each answer needs 3"],
    ["the same answer twice", q(["aaa", " AAA ", "ccc"]), "different answer"],
  ])("refuses %s and keeps what was there", async (_name, items, message) => {
    await expect(setKba(repo, user, items)).rejects.toThrow(KbaSetupError);
    await expect(setKba(repo, user, items)).rejects.toThrow(message);
    expect(await repo.get(user.id)).toHaveLength(0);
  });

  it("stores three slow hashes, never the answers", async () => {
    await setKba(repo, user, q(["alpha", "bravo", "charlie"]));
    const stored = await repo.get(user.id);
    expect(stored.map((s) => s.question)).toEqual(["Question one?", "Question two?", "Question three?"]);
    expect(stored.every((s) => s.answerHash.startsWith("$argon2id$"))).toBe(true);
    expect(JSON.stringify(stored)).not.toMatch(/alpha|bravo|charlie/);
  });
});
