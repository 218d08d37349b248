import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EmailCodes } from "../../src/challenges/email-codes.ts";
import { createMailer, readOutbox } from "../../src/mail/mailer.ts";
import { mailTemplates } from "../../src/mail/templates.ts";
import { openDb } from "../../src/store/db.ts";
import { EmailCodeRepository } from "../../src/store/email-codes.ts";
import { UserRepository } from "../../src/store/users.ts";

// The real mailer on its embedded default (the dev outbox): the test reads codes from the mail.
const dir = mkdtempSync(join(tmpdir(), "gatehouse-codes-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const db = openDb(":memory:");
const users = new UserRepository(db);
const user = await users.add({ username: "u", email: "u@example.com" }, 0);
const outbox = join(dir, "outbox");
const codes = new EmailCodes(new EmailCodeRepository(db), createMailer({ smtpUrl: undefined, from: "Gatehouse <no-reply@test>", outboxDir: outbox }), Buffer.alloc(32, 7), 10 * 60_000);
const lastCode = () => /\b(\d{6})\b/.exec(readOutbox(outbox, ["u@example.com"])[0]?.text ?? "")?.[1] ?? "";
const send = (purpose: string, now: number, ip = "192.0.2.1", userId = user.id) => codes.send(userId, purpose, "u@example.com", ip, now, (code) => mailTemplates.signInCode("u@example.com", code, 10));
let t = 1_000_000;

describe("one-time codes sent by email", () => {
  it("works once, within its lifetime, and is stored only as a keyed hash", async () => {
    expect(await send("a", t)).toEqual({ sent: true });
    const code = lastCode();
    expect(JSON.stringify(db.prepare("SELECT * FROM email_codes").all())).not.toContain(code);
    expect(await codes.check(user.id, "a", code, t + 1000)).toBe("ok");
    expect(await codes.check(user.id, "a", code, t + 2000)).toBe("none");
  });

  it("expires after ten minutes", async () => {
    t += 3_600_000;
    await send("b", t);
    expect(await codes.check(user.id, "b", lastCode(), t + 10 * 60_000)).toBe("expired");
  });

  it("allows five wrong tries; after that even the right code is refused", async () => {
    t += 3_600_000;
    await send("c", t);
    const code = lastCode();
    const wrong = code === "000000" ? "111111" : "000000";
    for (let i = 0; i < 5; i++) expect(await codes.check(user.id, "c", wrong, t)).toBe("wrong");
    expect(await codes.check(user.id, "c", code, t)).toBe("too-many-tries");
  });

  it("belongs to one purpose: a code for one sign-in does not open another", async () => {
    t += 3_600_000;
    await send("login:tx1", t);
    expect(await codes.check(user.id, "login:tx2", lastCode(), t)).toBe("none");
  });

  it("sends at most one code a minute and five an hour, and a new code retires the old one", async () => {
    t += 3_600_000;
    expect(await send("d", t)).toEqual({ sent: true });
    const old = lastCode();
    expect(await send("d", t + 30_000)).toMatchObject({ sent: false, reason: "a code was sent less than a minute ago" });
    expect(await send("d", t + 61_000)).toEqual({ sent: true });
    if (old !== lastCode()) expect(await codes.check(user.id, "d", old, t + 62_000)).toBe("wrong");
    for (let i = 2; i < 5; i++) expect(await send(`e${i}`, t + 62_000 + i * 61_000)).toEqual({ sent: true });
    expect(await send("f", t + 62_000 + 6 * 61_000)).toMatchObject({ sent: false, reason: "5 codes sent in the last hour" });
  });

  it("tells which address the code it accepted went to, not one a newer code went to", async () => {
    t += 3_600_000;
    const to = (address: string, now: number) => codes.send(user.id, "g", address, "192.0.2.1", now, (code) => mailTemplates.confirmAddress(address, code, 10));
    const codeFor = (address: string) => /\b(\d{6})\b/.exec(readOutbox(outbox, [address])[0]?.text ?? "")?.[1] ?? "";
    await to("first@example.com", t);
    await to("second@example.com", t + 61_000);
    expect(await codes.redeem(user.id, "g", codeFor("second@example.com"), t + 62_000)).toEqual({ result: "ok", address: "second@example.com" });
  });
});

describe("sending codes from one IP", () => {
  it("stops at 20 an hour, whichever accounts they are for", async () => {
    t += 3_600_000;
    const others = await Promise.all(Array.from({ length: 21 }, (_v, i) => users.add({ username: `o${i}`, email: `o${i}@example.com` }, 0)));
    for (const [i, o] of others.slice(0, 20).entries()) expect(await send("login:x", t + i, "203.0.113.9", o.id)).toEqual({ sent: true });
    expect(await send("login:x", t + 30, "203.0.113.9", others[20]?.id)).toMatchObject({ sent: false, reason: "20 codes sent for this IP in the last hour" });
    expect(await send("login:x", t + 30, "203.0.113.10", others[20]?.id)).toEqual({ sent: true });
  });
});
