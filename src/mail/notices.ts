import type { Logger } from "pino";
import { utcMinute } from "../clock.ts";
import type { Mailer, Message } from "./mailer.ts";
import { mailTemplates } from "./templates.ts";

interface Recipient {
  id: string;
  email: string;
}

/**
 * Security notices to a user's primary email. They are sent in the background: a mail server
 * that is down must not stop a sign-in, so a failure is logged rather than thrown.
 */
export function userNotices(mailer: Mailer, log: Logger) {
  // Tagged with the user it is for: the demo outbox shows a user only their own mail.
  const send = (user: Recipient, m: Message, kind: string): void => {
    mailer.send({ ...m, userId: user.id }).catch((err: unknown) => log.error({ err, kind }, "could not send a notice"));
  };
  return {
    newDevice: (user: Recipient, device: string, ip: string, at: number) => send(user, mailTemplates.newDevice(user.email, device, ip, utcMinute(at)), "new-device"),
    cloned: (user: Recipient, device: string, at: number) => send(user, mailTemplates.deviceCloned(user.email, device, utcMinute(at)), "device-cloned"),
    secondStepFailed: (user: Recipient, method: string, ip: string, at: number) => send(user, mailTemplates.secondStepFailed(user.email, method, ip, utcMinute(at)), "second-step-failed"),
    factorChanged: (user: Recipient, what: string, at: number) => send(user, mailTemplates.factorChanged(user.email, what, utcMinute(at)), "factor-changed"),
  };
}
export type UserNotices = ReturnType<typeof userNotices>;
