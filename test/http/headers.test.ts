/**
 * Caching: every page carries tokens or SAML and is never stored; the stylesheet and scripts,
 * and the public IdP metadata, are the same for everyone and may be cached.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGatehouse, type TestGatehouse } from "../helpers/gatehouse.ts";

let gh: TestGatehouse;
beforeAll(async () => {
  gh = await startGatehouse();
});
afterAll(() => gh.close());

describe("caching headers", () => {
  it("never store a page", async () => {
    const res = await fetch(`${gh.url}/login`, { redirect: "manual" });
    expect(res.headers.get("cache-control")).toBe("no-cache, no-store");
    expect(res.headers.get("pragma")).toBe("no-cache");
  });

  it("let browsers keep static files for an hour", async () => {
    const res = await fetch(`${gh.url}/static/style.css`);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("public, max-age=3600");
    expect(res.headers.get("pragma")).toBeNull();
  });

  it("let apps cache the IdP metadata for five minutes, with nothing saying otherwise", async () => {
    const res = await fetch(`${gh.url}/saml/metadata`);
    expect(res.headers.get("cache-control")).toBe("public, max-age=300");
    expect(res.headers.get("pragma")).toBeNull();
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
  });
});
