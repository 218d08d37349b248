import type { Logger } from "pino";
import { utcMinute } from "../clock.ts";
import type { Mailer, Message } from "./mailer.ts";
import { mailTemplates } from "./templates.ts";

/**
 * Security notices to a user's primary email. They are sent in the background: a mail server
 * that is down must not stop a sign-in, so a failure is logged rather than thrown.
 */
export function userNotices(mailer: Mailer, log: Logger) {
  const send = (m: Message, kind: string): void => {
    mailer.send(m).catch((err: unknown) => log.error({ err, kind }, "could not send a notice"));
  };
  return {
    newDevice: (user: { email: string }, device: string, ip: string, at: number) => send(mailTemplates.newDevice(user.email, device, ip, utcMinute(at)), "new-device"),
    cloned: (user: { email: string }, device: string, at: number) => send(mailTemplates.deviceCloned(user.email, device, utcMinute(at)), "device-cloned"),
    secondStepFailed: (user: { email: string }, method: string, ip: string, at: number) => send(mailTemplates.secondStepFailed(user.email, method, ip, utcMinute(at)), "second-step-failed"),
    factorChanged: (user: { email: string }, what: string, at: number) => send(mailTemplates.factorChanged(user.email, what, utcMinute(at)), "factor-changed"),
  };
}
export type UserNotices = ReturnType<typeof userNotices>;
