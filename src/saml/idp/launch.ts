import type { Request, Response } from "express";
import { GatehouseError } from "../../errors.ts";
import { clientIp } from "../../http/client-ip.ts";
import type { IdpContext } from "./context.ts";

/**
 * IdP-initiated SSO: a signed-in user's click (a POST with a CSRF token, never a bare GET,
 * ASVS 7.6.2) starts a transaction with no AuthnRequest toward the app's default ACS.
 */
export async function handleLaunch(ctx: IdpContext, req: Request, res: Response): Promise<void> {
  const current = await ctx.sessions.current(req);
  if (!current) throw new GatehouseError("not_signed_in", "launch without a session");
  ctx.csrf.check(req, "session", current.session.idHash, (req.body as Record<string, unknown> | undefined)?.csrf);
  const appId = req.params.id;
  const app = typeof appId === "string" ? await ctx.apps.byId(appId) : undefined;
  if (!app) throw new GatehouseError("app_not_found", `launch of ${String(appId).slice(0, 50)}`);
  const acs = app.acs.find((a) => a.isDefault) ?? app.acs[0];
  if (!acs) throw new GatehouseError("saml_acs_not_registered", "app has no ACS");
  // Only an attempt: the app's policy runs next, and the assertion issued (saml.response.issued)
  // or the refusal is the outcome.
  await ctx.audit.record({ type: "app.launched", outcome: "info", appId: app.id, userId: current.user.id, username: current.user.username, ip: clientIp(req), reason: "launch requested" });
  await ctx.login.start(req, res, { appId: app.id, requestId: null, relayState: null, acsUrl: acs.url, forceAuthn: false });
}
