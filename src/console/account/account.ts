import express, { type Request, type Response } from "express";
import { z } from "zod";
import type { AuditLog } from "../../audit/audit.ts";
import type { EmailCodes } from "../../challenges/email-codes.ts";
import { maskAddress } from "../../challenges/email-codes.ts";
import { KbaSetupError, setKba, suggestedQuestions } from "../../challenges/kba.ts";
import { mayTrustDevice, type Challenges } from "../../challenges/registry.ts";
import type { TotpEnrolment } from "../../challenges/totp.ts";
import { utcMinute, type Clock } from "../../clock.ts";
import type { Config } from "../../config.ts";
import { GatehouseError } from "../../errors.ts";
import { clientIp } from "../../http/client-ip.ts";
import type { Csrf } from "../../http/csrf.ts";
import { render } from "../../http/render.ts";
import { deviceName, type DeviceService } from "../../login/devices.ts";
import type { CurrentSession, SessionManager } from "../../login/sessions.ts";
import { outboxOf, type Mailer } from "../../mail/mailer.ts";
import { mailTemplates } from "../../mail/templates.ts";
import type { UserNotices } from "../../mail/notices.ts";
import type { AppRepository } from "../../store/apps.ts";
import type { DeviceRepository } from "../../store/devices.ts";
import type { KbaRepository } from "../../store/factors.ts";
import type { User, UserRepository } from "../../store/users.ts";

export interface AccountDeps {
  config: Config;
  clock: Clock;
  sessions: SessionManager;
  users: UserRepository;
  apps: AppRepository;
  csrf: Csrf;
  audit: AuditLog;
  challenges: Challenges;
  totp: TotpEnrolment;
  kba: KbaRepository;
  emailCodes: EmailCodes;
  devices: DeviceService;
  deviceStore: DeviceRepository;
  mailer: Mailer;
  notices: UserNotices;
}

const confirmPurpose = "confirm-alt-email";
/** The methods passed in the sign-in that started this session, after the password. */
const passedIn = (c: CurrentSession): string[] => c.session.authMethod.split("+").filter((m) => m !== "password");

/** What went wrong, by the code a change redirects with (`/account?problem=…`). */
const problems = {
  "trust-needs-challenge": "Trusting a device needs a code from your authenticator app or your alternate email at sign-in, and this sign-in had none (security questions alone are not enough). Set up an authenticator app or an alternate email above, then try again (you will be asked to sign in with it).",
  "device-limit": "This device was not added: your account already has as many devices as your organisation's sign-in policy allows. Remove a device you no longer use, then try again.",
  "device-busy": "This device was not added: its sign-in cookie was replaced a moment ago in another tab. Reload this page and try again.",
} as const;
type Problem = keyof typeof problems;
const csrfOnly = z.object({ csrf: z.string().max(128) });
const form = <T extends z.ZodRawShape>(shape: T) => csrfOnly.extend(shape);
const forms = {
  totp: form({ pending: z.string().max(2000), code: z.string().max(20) }),
  kba: form(Object.fromEntries([0, 1, 2].flatMap((i) => [[`q${i}`, z.string().max(400)], [`a${i}`, z.string().max(400)]])) as Record<string, z.ZodString>),
  altEmail: form({ address: z.email().max(254) }),
  altEmailConfirm: form({ code: z.string().max(20) }),
};

/**
 * The end user's self-service console. Every change needs a recent sign-in, is audited and
 * announced by mail to the user's primary address.
 */
export function accountRouter(d: AccountDeps): express.Router {
  const r = express.Router();

  const signedIn = async (req: Request, res: Response, path: string): Promise<CurrentSession | null> => {
    const current = await d.sessions.current(req);
    if (!current) {
      res.redirect(303, `/login?return=${encodeURIComponent(path)}`);
      return null;
    }
    return current;
  };
  /**
   * Changing a factor needs a sign-in at most `reauthMs` old, made with the account's strongest
   * method (authenticator app > email code > security questions): a password alone must not
   * replace a method it could not pass. An account with no other method has only its password.
   * The sign-in page is asked for a re-authentication (`reauth=1`), which challenges with that method.
   */
  const recent = async (req: Request, res: Response, path: string): Promise<CurrentSession | null> => {
    const current = await signedIn(req, res, path);
    if (!current) return null;
    const strongest = await d.challenges.strongest(current.user);
    const strongEnough = strongest === null || passedIn(current).includes(strongest);
    if (d.clock.now() - current.session.authTime > d.config.lifetimes.reauthMs || !strongEnough) {
      res.redirect(303, `/login?reauth=1&return=${encodeURIComponent(path)}`);
      return null;
    }
    return current;
  };
  const parse = <T>(schema: z.ZodType<T>, req: Request, current: CurrentSession): T => {
    d.csrf.check(req, "session", current.session.idHash, (req.body as Record<string, unknown> | undefined)?.csrf);
    const parsed = schema.safeParse(req.body);
    if (!parsed.success) throw new GatehouseError("bad_request", `account form: ${parsed.error.issues.map((i) => i.path.join(".")).join(", ")}`);
    return parsed.data;
  };
  const changed = async (req: Request, user: User, factor: string, change: string, what: string): Promise<void> => {
    await d.audit.record({ type: "factor.changed", outcome: "success", userId: user.id, username: user.username, ip: clientIp(req), detail: { factor, change } });
    // Trust was granted on the strength of the old factor: it ends with it (SECURITY.md C.3).
    if (factor === "totp") {
      const n = await d.deviceStore.untrustAll(user.id);
      if (n > 0) await d.audit.record({ type: "device.untrusted", outcome: "info", userId: user.id, username: user.username, ip: clientIp(req), reason: "authenticator app changed", detail: { devices: n } });
    }
    d.notices.factorChanged(user, what, d.clock.now());
  };
  const csrf = (c: CurrentSession) => d.csrf.token("session", c.session.idHash);

  r.get("/account", async (req, res) => {
    const current = await signedIn(req, res, "/account");
    if (!current) return;
    const { user } = current;
    const thisDevice = await d.devices.recognise(req, user);
    const now = d.clock.now();
    const [appList, enrolled, devices, signIns] = await Promise.all([d.apps.list(), d.challenges.enrolled(user), d.deviceStore.forUser(user.id), d.audit.signInsOf(user.id)]);
    const apps = new Map(appList.map((a) => [a.id, a.name]));
    render(res, "account", {
      title: "Your account",
      user,
      csrf: csrf(current),
      done: typeof req.query.done === "string" ? req.query.done.slice(0, 40) : null,
      problem: typeof req.query.problem === "string" && req.query.problem in problems ? problems[req.query.problem as Problem] : null,
      enrolled,
      kbaEnabled: d.config.kba,
      altEmail: user.altEmail,
      // Devices of the same kind are told apart by the start of their ID (not a secret: the cookie's secret is its other half).
      devices: devices.map((dev) => ({ ...dev, name: deviceName(dev), shortId: dev.id.slice(0, 6), current: dev.id === thisDevice?.id, trusted: (dev.trustedUntil ?? 0) > now, firstSeen: utcMinute(dev.firstSeenAt), lastSeen: utcMinute(dev.lastSeenAt), trustedUntil: dev.trustedUntil ? utcMinute(dev.trustedUntil) : null })),
      thisDeviceRegistered: thisDevice !== null,
      thisDeviceTrusted: (thisDevice?.trustedUntil ?? 0) > now,
      signIns: signIns.map((e) => ({ ...e, at: utcMinute(e.at), app: e.appId ? (apps.get(e.appId) ?? "a removed app") : "Gatehouse", ok: e.outcome === "success", what: e.type === "challenge.failed" ? "second step failed" : e.outcome === "success" ? "signed in" : "refused" })),
      outbox: d.config.demo && d.mailer.outbox !== null,
      apps: [...apps].map(([id, name]) => ({ id, name })),
    });
  });

  // Authenticator app (TOTP): shown with a QR code and the typed secret; saved after a first right code.
  /** A fresh seed every time the page is shown: a seed is never shown twice. */
  const totpPage = async (res: Response, current: CurrentSession, error?: string): Promise<void> => {
    const enrolment = await d.totp.start(current.user, d.clock.now());
    const secretGroups = enrolment.secret.match(/.{1,4}/g)?.join(" ") ?? enrolment.secret;
    render(res, "account-totp", { title: "Set up an authenticator app", csrf: csrf(current), ...enrolment, secretGroups, replacing: (await d.challenges.enrolled(current.user)).includes("totp"), error }, error ? 400 : 200);
  };
  r.get("/account/totp", async (req, res) => {
    const current = await recent(req, res, "/account/totp");
    if (!current) return;
    await totpPage(res, current);
  });
  r.post("/account/totp", async (req, res) => {
    const current = await recent(req, res, "/account/totp");
    if (!current) return;
    const f = parse(forms.totp, req, current);
    const result = await d.totp.confirm(current.user, f.pending, f.code, d.clock.now());
    if (result !== "saved") {
      await d.audit.record({ type: "factor.changed", outcome: "failure", userId: current.user.id, username: current.user.username, ip: clientIp(req), reason: `TOTP confirmation ${result}`, detail: { factor: "totp", change: "set" } });
      if (result === "expired") return res.redirect(303, "/account/totp");
      return totpPage(res, current, "That code is not right. Scan this new code and try again with the code your app shows.");
    }
    await changed(req, current.user, "totp", "set", "An authenticator app was set up for your account");
    res.redirect(303, "/account?done=totp");
  });
  /** A one-button change on the account page: a recent sign-in, the session's CSRF token, then back with what was done (or what stopped it). */
  const button = (path: string, act: (req: Request, res: Response, current: CurrentSession) => Promise<string | { problem: Problem }>): void => {
    r.post(path, async (req, res) => {
      const current = await recent(req, res, "/account");
      if (!current) return;
      parse(csrfOnly, req, current);
      const done = await act(req, res, current);
      res.redirect(303, typeof done === "string" ? `/account?done=${done}` : `/account?problem=${done.problem}`);
    });
  };
  /**
   * Trust lets a device skip challenges, so it is minted only by one: the session must have
   * passed a challenge (on an account with other methods `recent` already asked for the strongest).
   */
  const challengePassed = async (req: Request, current: CurrentSession): Promise<boolean> => {
    if (mayTrustDevice(passedIn(current))) return true;
    await d.audit.record({ type: "factor.changed", outcome: "failure", userId: current.user.id, username: current.user.username, ip: clientIp(req), reason: "trusting a device without a passed authenticator app or email code", detail: { factor: "device", change: "trusted" } });
    return false;
  };

  button("/account/totp/remove", async (req, _res, { user }) => {
    if (await d.totp.remove(user)) await changed(req, user, "totp", "removed", "The authenticator app was removed from your account");
    return "totp-removed";
  });

  // Security questions.
  r.get("/account/kba", async (req, res) => {
    if (!d.config.kba) throw new GatehouseError("not_found", "KBA is switched off");
    const current = await recent(req, res, "/account/kba");
    if (!current) return;
    render(res, "account-kba", { title: "Security questions", csrf: csrf(current), suggestions: suggestedQuestions, values: { q0: suggestedQuestions[0], q1: suggestedQuestions[1], q2: suggestedQuestions[2] } });
  });
  r.post("/account/kba", async (req, res) => {
    if (!d.config.kba) throw new GatehouseError("not_found", "KBA is switched off");
    const current = await recent(req, res, "/account/kba");
    if (!current) return;
    const f = parse(forms.kba, req, current) as Record<string, string>;
    try {
      await setKba(d.kba, current.user, [0, 1, 2].map((i) => ({ question: f[`q${i}`] ?? "", answer: f[`a${i}`] ?? "" })));
    } catch (e) {
      if (!(e instanceof KbaSetupError)) throw e;
      return render(res, "account-kba", { title: "Security questions", csrf: csrf(current), suggestions: suggestedQuestions, values: { q0: f.q0, q1: f.q1, q2: f.q2 }, error: e.message }, 400);
    }
    await changed(req, current.user, "kba", "set", "Your security questions were changed");
    res.redirect(303, "/account?done=kba");
  });

  // Alternate email: used only once a code sent to it came back.
  r.get("/account/alt-email", async (req, res) => {
    const current = await recent(req, res, "/account/alt-email");
    if (!current) return;
    render(res, "account-alt-email", { title: "Alternate email", csrf: csrf(current), step: "address", current: current.user.altEmail });
  });
  r.post("/account/alt-email", async (req, res) => {
    const current = await recent(req, res, "/account/alt-email");
    if (!current) return;
    const f = parse(forms.altEmail, req, current);
    const address = f.address.trim();
    if (address.toLowerCase() === current.user.email.toLowerCase()) {
      return render(res, "account-alt-email", { title: "Alternate email", csrf: csrf(current), step: "address", current: current.user.altEmail, error: "Use an address other than your primary email." }, 400);
    }
    const sent = await d.emailCodes.send(current.user.id, confirmPurpose, address, clientIp(req), d.clock.now(), (code) => mailTemplates.confirmAddress(address, code, d.emailCodes.minutes));
    await d.audit.record({ type: sent.sent ? "challenge.code_sent" : "challenge.throttled", outcome: sent.sent ? "info" : "failure", userId: current.user.id, username: current.user.username, ip: clientIp(req), reason: sent.sent ? "confirm alternate email" : sent.reason });
    if (!sent.sent) return render(res, "account-alt-email", { title: "Alternate email", csrf: csrf(current), step: "address", current: current.user.altEmail, error: `No code sent: ${sent.reason}. Try again later.` }, 429);
    render(res, "account-alt-email", { title: "Alternate email", csrf: csrf(current), step: "code", masked: maskAddress(address), minutes: d.emailCodes.minutes });
  });
  r.post("/account/alt-email/confirm", async (req, res) => {
    const current = await recent(req, res, "/account/alt-email");
    if (!current) return;
    const f = parse(forms.altEmailConfirm, req, current);
    // The address comes with the code checked: one sent meanwhile must not lend its code to it.
    const { result, address } = await d.emailCodes.redeem(current.user.id, confirmPurpose, f.code, d.clock.now());
    if (result !== "ok" || !address) {
      await d.audit.record({ type: "factor.changed", outcome: "failure", userId: current.user.id, username: current.user.username, ip: clientIp(req), reason: `alternate email code ${result}`, detail: { factor: "alt-email", change: "set" } });
      return render(res, "account-alt-email", { title: "Alternate email", csrf: csrf(current), step: result === "wrong" ? "code" : "address", masked: address ? maskAddress(address) : "", minutes: d.emailCodes.minutes, current: current.user.altEmail, error: result === "wrong" ? "That code is not right." : "That code can no longer be used. Ask for a new one." }, 400);
    }
    await d.users.setAltEmail(current.user.id, address, d.clock.now());
    await changed(req, current.user, "alt-email", "set", `Your alternate email was set to ${maskAddress(address)}`);
    res.redirect(303, "/account?done=alt-email");
  });
  button("/account/alt-email/remove", async (req, _res, { user }) => {
    await d.users.setAltEmail(user.id, null, d.clock.now());
    await changed(req, user, "alt-email", "removed", "Your alternate email was removed");
    return "alt-email-removed";
  });

  // Devices.
  button("/account/devices/this/trust", async (req, res, current) => {
    const { user } = current;
    if (!(await challengePassed(req, current))) return { problem: "trust-needs-challenge" };
    // No limit of its own: the device service holds it to the strictest one any login policy applies.
    const admitted = await d.devices.admit(req, res, user, { limit: null, trust: true, transactionId: "" });
    if (!("device" in admitted)) {
      await d.audit.record({ type: "factor.changed", outcome: "failure", userId: user.id, username: user.username, ip: clientIp(req), reason: `this device not added: ${admitted.refused}`, detail: { factor: "device", change: "trusted" } });
      return { problem: admitted.refused === "limit" ? "device-limit" : "device-busy" };
    }
    await changed(req, user, "device", "trusted", `This device (${deviceName(admitted.device)}) was added as a trusted device`);
    return "device-trusted";
  });
  const deviceActions = { trust: "trusted", untrust: "no longer trusted", remove: "removed" } as const;
  button("/account/devices/:id/:action", async (req, _res, current) => {
    const { user } = current;
    const id = String(req.params.id);
    const action = String(req.params.action);
    const device = await d.deviceStore.byId(id);
    if (!device || device.userId !== user.id || device.revokedAt !== null) throw new GatehouseError("not_found", "device of another user or removed");
    if (!(action in deviceActions)) throw new GatehouseError("not_found", `device action ${action.slice(0, 20)}`);
    const done = action as keyof typeof deviceActions;
    if (done === "trust" && !(await challengePassed(req, current))) return { problem: "trust-needs-challenge" };
    const ip = clientIp(req);
    if (done === "trust") await d.devices.trust(user, device.id, { ip });
    else if (done === "untrust") await d.devices.untrust(user, device.id, ip);
    else await d.devices.remove(user, device.id, ip);
    await changed(req, user, "device", done, `The device "${deviceName(device)}" was ${deviceActions[done]}`);
    return `device-${done}`;
  });

  // Demo mode without SMTP: the mail Gatehouse would have sent to this user.
  r.get("/account/outbox", async (req, res) => {
    const current = await signedIn(req, res, "/account/outbox");
    if (!current) return;
    if (!d.config.demo || !d.mailer.outbox) throw new GatehouseError("not_found", "outbox outside demo mode");
    // Only addresses this user has confirmed, and mail tagged for them: an address merely typed
    // as the alternate email (perhaps someone else's) shows nothing sent to it for others.
    const confirmed = [current.user.email, current.user.altEmail].filter((a): a is string => !!a);
    render(res, "account-outbox", { title: "Demo outbox", messages: outboxOf(d.mailer.outbox, { id: current.user.id, confirmed }) });
  });
  return r;
}
