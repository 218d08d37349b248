import { describe, expect, it } from "vitest";
import { SecretBox } from "../../src/crypto/secret-box.ts";

const box = new SecretBox(Buffer.alloc(32, 1));

/** The sealed value with its tag (the third part) cut to its first n bytes. */
const cutTag = (sealed: string, n: number): string =>
  sealed
    .split(".")
    .map((p, i) => (i === 2 ? Buffer.from(p, "base64url").subarray(0, n).toString("base64url") : p))
    .join(".");

describe("sealed secrets", () => {
  it("open with the same key and context", () => {
    expect(box.open(box.seal("JBSWY3DPEHPK3PXP", "totp:u1"), "totp:u1")).toBe("JBSWY3DPEHPK3PXP");
  });

  it.each<[string, (s: string) => string, string]>([
    ["another user's context (a copied row)", (s: string) => s, "totp:u2"],
    ["a flipped ciphertext byte", (s: string) => s.slice(0, -2) + (s.at(-2) === "A" ? "B" : "A") + s.slice(-1), "totp:u1"],
    ["a truncated value", (s: string) => s.split(".").slice(0, 3).join("."), "totp:u1"],
    ["an unknown version", (s: string) => s.replace(/^v1/, "v9"), "totp:u1"],
    ...[4, 8, 12, 15].map((n) => [`a tag cut to ${n} bytes (GCM checks only what it is given)`, (s: string) => cutTag(s, n), "totp:u1"] as [string, (s: string) => string, string]),
    ["a shortened IV", (s: string) => s.split(".").map((p, i) => (i === 1 ? Buffer.from(p, "base64url").subarray(0, 8).toString("base64url") : p)).join("."), "totp:u1"],
  ])("refuse %s", (_name, mangle, context) => {
    expect(box.open(mangle(box.seal("JBSWY3DPEHPK3PXP", "totp:u1")), context)).toBeNull();
  });

  it("refuse a value sealed under another key", () => {
    expect(new SecretBox(Buffer.alloc(32, 2)).open(box.seal("x", "c"), "c")).toBeNull();
  });
});
