import type { Response } from "express";
import { describe, expect, it } from "vitest";
import { cookieJar } from "../../src/http/cookies.ts";

/** Collects the Set-Cookie headers a jar appends. */
function response() {
  const set: string[] = [];
  return { set, res: { append: (_name: string, value: string) => set.push(value) } as unknown as Response };
}

describe("cookies", () => {
  it("carry Max-Age in seconds, and none at all for a browser-session cookie", () => {
    const { set, res } = response();
    const jar = cookieJar(true);
    jar.set(res, "device", "d.s", 400 * 24 * 3600);
    jar.set(res, "session", "s");
    expect(set).toEqual(["__Host-gh_device=d.s; Max-Age=34560000; Path=/; HttpOnly; Secure; SameSite=Lax", "__Host-gh_session=s; Path=/; HttpOnly; Secure; SameSite=Lax"]);
  });

  it.each([0, -1, 1.5, 34_560_000_000_000_000])("refuse a Max-Age of %s instead of quietly making a session cookie or a wrong lifetime", (maxAge) => {
    expect(() => cookieJar(false).set(response().res, "device", "d.s", maxAge)).toThrow(TypeError);
  });
});
