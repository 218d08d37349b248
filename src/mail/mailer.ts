import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import nodemailer, { type Transporter } from "nodemailer";
import { randomToken } from "../crypto/tokens.ts";

export interface Message {
  to: string;
  subject: string;
  text: string;
  html: string;
  /** The user this message is for, when it is for one (the demo outbox shows a user only their own mail). */
  userId?: string;
}

export interface Mailer {
  /** Where mail goes, for start-up notices: an SMTP host or the dev outbox directory. */
  readonly destination: string;
  /** The dev outbox directory, when mail goes there. */
  readonly outbox: string | null;
  send(message: Message): Promise<void>;
}

/**
 * Real SMTP when GATEHOUSE_SMTP_URL is set. Without it (the embedded default) every message is
 * composed the same way by nodemailer and written as an .eml file to the dev outbox.
 */
export function createMailer(opts: { smtpUrl: string | undefined; from: string; outboxDir: string }): Mailer {
  if (opts.smtpUrl) {
    const transport = nodemailer.createTransport(opts.smtpUrl, { from: opts.from });
    return smtpMailer(transport, `SMTP ${new URL(opts.smtpUrl).host}`, opts.from);
  }
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "unix" });
  return {
    destination: `the dev outbox ${opts.outboxDir}`,
    outbox: opts.outboxDir,
    async send(m) {
      const info = await transport.sendMail({ from: opts.from, ...m });
      mkdirSync(opts.outboxDir, { recursive: true, mode: 0o700 });
      const name = `${new Date().toISOString().replace(/[:.]/g, "-")}-${randomToken(6)}`;
      writeFileSync(join(opts.outboxDir, `${name}.eml`), info.message as Buffer, { mode: 0o600 });
      // A readable copy for the demo console's outbox page.
      writeFileSync(join(opts.outboxDir, `${name}.json`), JSON.stringify({ at: new Date().toISOString(), to: m.to, userId: m.userId ?? null, subject: m.subject, text: m.text }), { mode: 0o600 });
    },
  };
}

function smtpMailer(transport: Transporter, destination: string, from: string): Mailer {
  return {
    destination,
    outbox: null,
    async send(m) {
      await transport.sendMail({ from, ...m });
    },
  };
}

export interface OutboxMessage {
  at: string;
  to: string;
  /** The user the message was sent for; null for mail that was not tagged. */
  userId: string | null;
  subject: string;
  text: string;
}

/** Every message in the dev outbox, newest first. */
function outboxMessages(dir: string): OutboxMessage[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith(".json"));
  } catch {
    return [];
  }
  return names
    .sort()
    .reverse()
    .map((n) => JSON.parse(readFileSync(join(dir, n), "utf8")) as Omit<OutboxMessage, "userId"> & { userId?: string | null })
    .map((m) => ({ ...m, userId: m.userId ?? null }));
}

/** The dev outbox's messages to these addresses, newest first (for tests and tools). */
export function readOutbox(dir: string, addresses: readonly string[], limit = 20): OutboxMessage[] {
  const wanted = new Set(addresses.map((a) => a.toLowerCase()));
  return outboxMessages(dir)
    .filter((m) => wanted.has(m.to.toLowerCase()))
    .slice(0, limit);
}

/**
 * One user's mail in the dev outbox, newest first (the demo console): mail tagged as sent for
 * this user, and untagged mail to one of `confirmed` (only addresses the user has proved are
 * theirs). Mail tagged for someone else is never shown, whatever its address.
 */
export function outboxOf(dir: string, user: { id: string; confirmed: readonly string[] }, limit = 20): OutboxMessage[] {
  const wanted = new Set(user.confirmed.map((a) => a.toLowerCase()));
  return outboxMessages(dir)
    .filter((m) => (m.userId !== null ? m.userId === user.id : wanted.has(m.to.toLowerCase())))
    .slice(0, limit);
}
