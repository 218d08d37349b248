import type { Message } from "./mailer.ts";

const escape = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function message(to: string, subject: string, paragraphs: string[], code?: string): Message {
  const text = [...paragraphs.slice(0, 1), ...(code ? [`    ${code}`] : []), ...paragraphs.slice(1), "— Gatehouse"].join("\n\n");
  const html = [
    "<!doctype html><html><body style=\"font-family: system-ui, sans-serif; line-height: 1.5\">",
    `<p>${escape(paragraphs[0] ?? "")}</p>`,
    code ? `<p style="font-size: 1.6em; letter-spacing: 0.2em; font-family: monospace"><strong>${escape(code)}</strong></p>` : "",
    ...paragraphs.slice(1).map((p) => `<p>${escape(p)}</p>`),
    "<p>— Gatehouse</p></body></html>",
  ].join("");
  return { to, subject, text, html };
}

// Codes go in the body only, never the subject: subjects show on lock screens, in notification
// previews and in mail-server logs.
export const mailTemplates = {
  signInCode: (to: string, code: string, minutes: number): Message =>
    message(to, "Your Gatehouse sign-in code", [
      "Someone is signing in to your account and asked for a code. Enter this code on the sign-in page:",
      `It expires in ${minutes} minutes and works once.`,
      "If this was not you, do not share the code with anyone, and tell your administrator: your password may be known to someone else.",
    ], code),
  confirmAddress: (to: string, code: string, minutes: number): Message =>
    message(to, "Confirm your alternate email for Gatehouse", [
      "You asked Gatehouse to use this address as your alternate email. Enter this code in your account page to confirm it:",
      `It expires in ${minutes} minutes. If you did not ask for this, ignore this message: nothing changes without the code.`,
    ], code),
  factorChanged: (to: string, what: string, when: string): Message =>
    message(to, "A sign-in setting of your Gatehouse account changed", [
      `${what} (${when} UTC).`,
      "If you did not do this, tell your administrator at once.",
    ]),
  secondStepFailed: (to: string, method: string, ip: string, when: string): Message =>
    message(to, "Someone entered your Gatehouse password but not the next step", [
      `At ${when} UTC your password was entered correctly from ${ip}, and then the extra verification (${method.toLowerCase()}) failed.`,
      "If this was you, there is nothing to do. If not, someone knows your password: change it and tell your administrator.",
    ]),
  newDevice: (to: string, device: string, ip: string, when: string): Message =>
    message(to, "New sign-in to your Gatehouse account", [
      `Your account was used to sign in from a new device: ${device}, from ${ip}, at ${when} UTC.`,
      "If this was you, there is nothing to do. If not, change your password and tell your administrator.",
    ]),
  deviceCloned: (to: string, device: string, when: string): Message =>
    message(to, "A device of your Gatehouse account was removed", [
      `Gatehouse saw an old copy of the sign-in cookie of your device "${device}" (${when} UTC): the cookie may have been copied to another computer. The device was removed from your account.`,
      "Your next sign-in from that device counts as a new device. If this keeps happening, tell your administrator.",
    ]),
};
