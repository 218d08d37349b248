import { describe, expect, it } from "vitest";
import { AuditLog } from "../../src/audit/audit.ts";
import { fixedClock } from "../../src/clock.ts";
import { openDb } from "../../src/store/db.ts";

describe("the audit log", () => {
  const db = openDb(":memory:");
  const audit = new AuditLog(db, fixedClock(Date.UTC(2026, 10, 23, 12)));

  it("records events in UTC, with secrets redacted and control characters neutralised", async () => {
    await audit.record({ type: "login.password.failed", outcome: "failure", username: "eve\r\nforged line", reason: "wrong password", detail: { password: "hunter2", nested: { otpCode: "123456", ok: "kept" } } });
    const [e] = await audit.recent(1);
    expect(e).toMatchObject({ at: "2026-11-23T12:00:00.000Z", username: "eve  forged line", detail: { password: "[redacted]", nested: { otpCode: "[redacted]", ok: "kept" } } });
  });

  it("cannot be edited or deleted", () => {
    expect(() => db.exec("UPDATE audit_events SET reason = 'nothing happened'")).toThrow(/append-only/);
    expect(() => db.exec("DELETE FROM audit_events")).toThrow(/append-only/);
  });
});
