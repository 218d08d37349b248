/**
 * Anonymous rejections are audited a few at a time and counted beyond that, so a flood costs a
 * bounded number of rows; nothing that names a user or a transaction is ever held back.
 */
import { describe, expect, it } from "vitest";
import { AuditLog, type AuditEvent } from "../../src/audit/audit.ts";
import { RejectionSampler } from "../../src/audit/sampler.ts";
import { fixedClock } from "../../src/clock.ts";
import { networkOf } from "../../src/http/rate-limit.ts";
import { openDb } from "../../src/store/db.ts";

const t0 = Date.UTC(2026, 10, 23, 12);

function log(limits = { windowMs: 60_000, perKey: 3, perNetwork: 5, total: 8, tracked: 1000 }) {
  const clock = fixedClock(t0);
  const audit = new AuditLog(openDb(":memory:"), clock, new RejectionSampler(limits, networkOf));
  return { clock, audit };
}

const garbage = (ip: string, detail = "bad base64"): AuditEvent => ({ type: "saml.authn_request.rejected", outcome: "failure", ip, reason: "saml_message_malformed", detail: { detail } });

describe("anonymous rejections", () => {
  it("are written three of a kind per network a minute, then counted into one summary", async () => {
    const { clock, audit } = log();
    const ids: number[] = [];
    for (let i = 0; i < 10; i++) ids.push(await audit.record(garbage("203.0.113.7")));
    expect(await audit.recent(100)).toHaveLength(3);
    expect(ids.slice(3).every((id) => id === ids[0])).toBe(true); // a held-back event points at its kind's row
    clock.advance(60_000);
    await audit.record(garbage("203.0.113.7"));
    const [latest, summary] = await audit.recent(2);
    expect(latest).toMatchObject({ type: "saml.authn_request.rejected" }); // a new minute: written again
    expect(summary).toMatchObject({ type: "request.rejections_counted", detail: { counted: 7, byKind: { "saml.authn_request.rejected saml_message_malformed": 7 }, byNetwork: { "203.0.113.7": 7 } } });
  });

  it("are bounded per network (an IPv6 /64 is one) and in all, however they vary", async () => {
    const { audit } = log();
    for (let i = 0; i < 20; i++) await audit.record(garbage(`2001:db8:1:1::${i + 1}`, `issuer ${i}`));
    expect(await audit.recent(100)).toHaveLength(5);
    for (let i = 0; i < 20; i++) await audit.record(garbage(`198.51.100.${i + 1}`));
    expect(await audit.recent(100)).toHaveLength(8);
    await audit.flush();
    expect((await audit.recent(1))[0]).toMatchObject({ type: "request.rejections_counted", detail: { counted: 32, byNetwork: { "2001:db8:1:1::/64": 15 } } });
  });

  it("never hold back an event that names a user or a transaction, or a success", async () => {
    const { audit } = log();
    for (let i = 0; i < 10; i++) {
      await audit.record({ ...garbage("203.0.113.7"), transactionId: "tx1" });
      await audit.record({ type: "request.rejected", outcome: "failure", ip: "203.0.113.7", reason: "csrf_failed", userId: "u1" });
      await audit.record({ type: "login.password.failed", outcome: "failure", ip: "203.0.113.7", reason: "wrong password" });
    }
    expect(await audit.recent(100)).toHaveLength(30);
  });

  it("write no summary when nothing was held back", async () => {
    const { clock, audit } = log();
    await audit.record(garbage("203.0.113.7"));
    clock.advance(120_000);
    await audit.flush();
    await audit.record(garbage("203.0.113.7"));
    expect((await audit.recent(10)).map((e) => e.type)).toEqual(["saml.authn_request.rejected", "saml.authn_request.rejected"]);
  });
});
