import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMailer } from "../../src/mail/mailer.ts";
import { storedNoticeLimiter, userNotices } from "../../src/mail/notices.ts";
import { openDb } from "../../src/store/db.ts";
import { startSmtp } from "../helpers/smtp.ts";

const ada = { id: "u_ada", email: "ada@example.com" };
const bob = { id: "u_bob", email: "bob@example.com" };
const log = pino({ level: "silent" });

describe("the 'second step failed' notice", () => {
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let dir: string;
  const to = (who: { email: string }) => smtp.mails.filter((m) => m.to === who.email && /not the next step/.test(m.subject)).length;
  /** A node as it starts: its own store connection and its own notices. */
  async function node() {
    const db = openDb(join(dir, "gatehouse.db"));
    const mailer = createMailer({ smtpUrl: smtp.url, from: "Gatehouse <no-reply@example.test>", outboxDir: join(dir, "outbox") });
    return { db, notices: userNotices(mailer, log, await storedNoticeLimiter(db)) };
  }

  beforeAll(async () => {
    smtp = await startSmtp();
    dir = mkdtempSync(join(tmpdir(), "gatehouse-notices-"));
  });
  afterAll(async () => {
    await smtp.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("is sent once per user for 30 failures at once, and another user's own notice still goes out", async () => {
    const { db, notices } = await node();
    await Promise.all([...Array.from({ length: 30 }, (_, i) => notices.secondStepFailed(ada, "Authenticator app", `203.0.113.${i}`, Date.now())), notices.secondStepFailed(bob, "Email code", "198.51.100.7", Date.now())]);
    expect({ ada: to(ada), bob: to(bob) }).toEqual({ ada: 1, bob: 1 });
    db.close();
  });

  it("is not sent again after a restart, nor by a second node on the same store, within 15 minutes", async () => {
    const first = await node();
    const second = await node();
    await Promise.all([first.notices.secondStepFailed(ada, "Email code", "203.0.113.50", Date.now()), second.notices.secondStepFailed(ada, "Email code", "203.0.113.51", Date.now())]);
    expect(to(ada)).toBe(1);
    first.db.close();
    second.db.close();
  });
});
