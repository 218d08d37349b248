import { simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";

export interface ReceivedMail {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** A real SMTP server on 127.0.0.1 that keeps what it receives, so tests read codes out of real mail. */
export async function startSmtp(): Promise<{ url: string; mails: ReceivedMail[]; next(to: string, subject?: RegExp): Promise<ReceivedMail>; close(): Promise<void> }> {
  const mails: ReceivedMail[] = [];
  const waiters: (() => void)[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"], // loopback only: plain SMTP
    logger: false,
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((parsed) => {
          for (const rcpt of session.envelope.rcptTo) mails.push({ to: rcpt.address.toLowerCase(), subject: parsed.subject ?? "", text: parsed.text ?? "", html: typeof parsed.html === "string" ? parsed.html : "" });
          waiters.splice(0).forEach((w) => w());
          callback();
        })
        .catch((e: unknown) => callback(e as Error));
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.server.address() as { port: number }).port;
  const taken = new Set<number>();
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    /** The oldest mail to this address not yet taken by a test, waiting up to 5 s. */
    async next(to, subject) {
      const deadline = Date.now() + 5000;
      for (;;) {
        const i = mails.findIndex((m, idx) => !taken.has(idx) && m.to === to.toLowerCase() && (!subject || subject.test(m.subject)));
        if (i >= 0) {
          taken.add(i);
          return mails[i] as ReceivedMail;
        }
        if (Date.now() > deadline) throw new Error(`no mail to ${to} within 5 s; got: ${mails.map((m) => `${m.to}: ${m.subject}`).join("; ")}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 200);
        });
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export const codeIn = (mail: ReceivedMail): string => {
  const m = /\b(\d{6})\b/.exec(mail.text);
  if (!m) throw new Error(`no code in mail "${mail.subject}"`);
  return m[1] as string;
};
