import type { Logger } from "pino";
import { RateLimiterRes, RateLimiterSQLite, type RateLimiterAbstract } from "rate-limiter-flexible";
import { utcMinute } from "../clock.ts";
import type { Mailer, Message } from "./mailer.ts";
import { mailTemplates } from "./templates.ts";

interface Recipient {
  id: string;
  email: string;
}

/**
 * "Someone entered your password but not the next step": at most one per user per 15 minutes.
 * Someone holding the password can start any number of sign-ins; without a limit each would
 * mail the owner, flooding the inbox and burying the first notice.
 */
export const secondStepNoticeLimit = { keyPrefix: "notice_second_step", points: 1, duration: 15 * 60 } as const;

/**
 * The limit counted in the store (the rate_limits table the login throttles use), so it holds
 * across restarts and across nodes that share the store. `storeClient` is the better-sqlite3
 * database; it is taken untyped so that mail/ does not import the store.
 */
export function storedNoticeLimiter(storeClient: object): Promise<RateLimiterAbstract> {
  return new Promise((resolve, reject) => {
    const limiter: RateLimiterSQLite = new RateLimiterSQLite({ storeClient, storeType: "better-sqlite3", tableName: "rate_limits", ...secondStepNoticeLimit }, (err?: Error) =>
      err ? reject(err) : resolve(limiter),
    );
  });
}

/**
 * Security notices to a user's primary email. They are sent in the background: a mail server
 * that is down must not stop a sign-in, so a failure is logged rather than thrown.
 */
export function userNotices(mailer: Mailer, log: Logger, secondStepLimiter: RateLimiterAbstract) {
  // Tagged with the user it is for: the demo outbox shows a user only their own mail.
  const send = (user: Recipient, m: Message, kind: string): Promise<void> =>
    mailer.send({ ...m, userId: user.id }).catch((err: unknown) => log.error({ err, kind }, "could not send a notice"));
  return {
    newDevice: (user: Recipient, device: string, ip: string, at: number): void => void send(user, mailTemplates.newDevice(user.email, device, ip, utcMinute(at)), "new-device"),
    cloned: (user: Recipient, device: string, at: number): void => void send(user, mailTemplates.deviceCloned(user.email, device, utcMinute(at)), "device-cloned"),
    /** Resolves once the notice was sent, skipped or given up; callers need not wait. */
    secondStepFailed: async (user: Recipient, method: string, ip: string, at: number): Promise<void> => {
      try {
        await secondStepLimiter.consume(user.id);
      } catch (e) {
        if (e instanceof RateLimiterRes) return; // one was sent less than 15 minutes ago
        log.error({ err: e, kind: "second-step-failed" }, "could not count a notice; sending it anyway");
      }
      await send(user, mailTemplates.secondStepFailed(user.email, method, ip, utcMinute(at)), "second-step-failed");
    },
    factorChanged: (user: Recipient, what: string, at: number): void => void send(user, mailTemplates.factorChanged(user.email, what, utcMinute(at)), "factor-changed"),
  };
}
export type UserNotices = ReturnType<typeof userNotices>;
