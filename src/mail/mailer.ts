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
      writeFileSync(join(opts.outboxDir, `${name}.json`), JSON.stringify({ at: new Date().toISOString(), to: m.to, subject: m.subject, text: m.text }), { mode: 0o600 });
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
  subject: string;
  text: string;
}

/** The dev outbox's messages to these addresses, newest first (demo mode only). */
export function readOutbox(dir: string, addresses: readonly string[], limit = 20): OutboxMessage[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith(".json"));
  } catch {
    return [];
  }
  const wanted = new Set(addresses.map((a) => a.toLowerCase()));
  return names
    .sort()
    .reverse()
    .map((n) => JSON.parse(readFileSync(join(dir, n), "utf8")) as OutboxMessage)
    .filter((m) => wanted.has(m.to.toLowerCase()))
    .slice(0, limit);
}
