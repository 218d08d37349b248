import type { Request, Response } from "express";
import { hmac, samlId } from "../../crypto/tokens.ts";
import { GatehouseError } from "../../errors.ts";
import { clientIp } from "../../http/client-ip.ts";
import { allowFormActionTo } from "../../http/headers.ts";
import { render } from "../../http/render.ts";
import { nameIdFormats, type App, type UserField } from "../../store/apps.ts";
import type { Session } from "../../store/sessions.ts";
import type { Transaction } from "../../store/transactions.ts";
import type { User } from "../../store/users.ts";
import type { IdpContext } from "./context.ts";
import { chooseAuthnContext, type RequestedAuthnContext } from "./authn-context.ts";
import { buildResponse, buildStatusResponse, type Attribute } from "./response.ts";
import { statusCodes, type Status } from "./status.ts";

function fieldValues(user: User, field: UserField): string[] {
  switch (field) {
    case "id":
      return [user.id];
    case "groups":
      return user.groups;
    default:
      return [user[field]];
  }
}

/** Attributes from the app's mapping; empty values are left out (Sentry refuses empty IDs and emails). */
export function mappedAttributes(app: App, user: User): Attribute[] {
  return app.attributes
    .map((m) => ({ name: m.name, values: fieldValues(user, m.field).filter((v) => v !== "") }))
    .filter((a) => a.values.length > 0);
}

export function nameIdFor(ctx: IdpContext, app: App, user: User): string {
  switch (app.nameIdFormat) {
    case "email":
      return user.email;
    case "persistent":
      // Pairwise and opaque: two apps cannot correlate the user by NameID.
      return hmac(ctx.nameIdKey, `nameid:${app.entityId}:${user.id}`);
    case "unspecified":
      return user.username;
  }
}

/**
 * Issues the signed Response for a passed transaction and posts it to the app's registered
 * ACS. The transaction completes first and atomically: it issues at most one assertion.
 */
export async function issueAssertion(ctx: IdpContext, req: Request, res: Response, passed: { tx: Transaction; user: User; session: Session; multiFactor: boolean }): Promise<void> {
  const { tx, user, session } = passed;
  const app = tx.appId ? await ctx.apps.byId(tx.appId) : undefined;
  const ip = clientIp(req);
  if (!app || !tx.acsUrl || !app.acs.some((a) => a.url === tx.acsUrl)) {
    await ctx.audit.record({ type: "saml.response.refused", outcome: "failure", appId: tx.appId, userId: user.id, ip, transactionId: tx.id, reason: "app or ACS no longer registered" });
    throw Object.assign(new GatehouseError("app_not_found", "app removed during sign-in"), { audited: true });
  }
  if (!(await ctx.transactions.complete(tx))) {
    await ctx.audit.record({ type: "saml.response.refused", outcome: "failure", appId: app.id, userId: user.id, ip, transactionId: tx.id, reason: "transaction already completed" });
    throw Object.assign(new GatehouseError("transaction_not_found", "already completed"), { audited: true });
  }
  const now = ctx.clock.now();
  // The app may have asked for a stronger sign-in than this one (RequestedAuthnContext): then it
  // gets a status response, never an assertion claiming a class the sign-in did not meet.
  const requested = tx.requestId ? await requestedAuthnContext(ctx, app.id, tx.requestId) : null;
  const authnContext = chooseAuthnContext(requested, passed.multiFactor);
  if (authnContext === null) {
    await ctx.audit.record({ type: "saml.response.refused", outcome: "failure", appId: app.id, userId: user.id, username: user.username, ip, transactionId: tx.id, reason: "no_authn_context", detail: { requested, multiFactor: passed.multiFactor } });
    postStatusResponse(ctx, res, { app, acsUrl: tx.acsUrl, inResponseTo: tx.requestId, relayState: tx.relayState, status: { code: statusCodes.responder, detail: statusCodes.noAuthnContext } });
    return;
  }
  const nameId = nameIdFor(ctx, app, user);
  const nameIdFormat = nameIdFormats[app.nameIdFormat];
  const sessionIndex = await ctx.sessionRecords.addApp(session.idHash, { appId: app.id, sessionIndex: samlId(), nameId, nameIdFormat, signedInAt: now });
  if (sessionIndex === null) {
    // Signed out (in another tab, or by an administrator) while this sign-in completed.
    await ctx.audit.record({ type: "saml.response.refused", outcome: "failure", appId: app.id, userId: user.id, username: user.username, ip, transactionId: tx.id, reason: "the SSO session ended during the sign-in" });
    throw Object.assign(new GatehouseError("not_signed_in", "session ended before the assertion"), { audited: true });
  }
  const { xml, assertionId } = buildResponse(
    {
      issuer: ctx.config.entityId,
      destination: tx.acsUrl,
      audience: app.entityId,
      inResponseTo: tx.requestId,
      nameId,
      nameIdFormat,
      sessionIndex,
      authnInstant: session.authTime,
      // The login says whether a real second factor was passed in this sign-in; KBA, email
      // codes and trusted-device skips are not multi-factor.
      authnContext,
      attributes: mappedAttributes(app, user),
      now,
      lifetimeMs: ctx.config.lifetimes.assertionMs,
      signAssertion: app.signAssertion,
      signResponse: app.signResponse,
    },
    ctx.key,
  );
  await ctx.audit.record({
    type: "saml.response.issued",
    outcome: "success",
    appId: app.id,
    userId: user.id,
    username: user.username,
    ip,
    transactionId: tx.id,
    detail: { assertionId, inResponseTo: tx.requestId, acsUrl: tx.acsUrl, flow: tx.requestId ? "sp-initiated" : "idp-initiated", authnContext },
  });
  postTo(res, { action: tx.acsUrl, param: "SAMLResponse", xml, relayState: tx.relayState, appName: app.name, heading: "Signing you in" });
}

/** The key under which sso.ts keeps a request's RequestedAuthnContext: request IDs are unique per app. */
export const requestKey = (appId: string, requestId: string): string => `${appId}:${requestId}`;

async function requestedAuthnContext(ctx: IdpContext, appId: string, requestId: string): Promise<RequestedAuthnContext | null> {
  const stored = await ctx.requestedAuthnContexts.removeAsync(requestKey(appId, requestId));
  return stored === null ? null : (JSON.parse(stored) as RequestedAuthnContext);
}

/** A Response with a status and no assertion, to the app's registered ACS (never anywhere else). */
export function postStatusResponse(ctx: IdpContext, res: Response, p: { app: App; acsUrl: string; inResponseTo: string | null; relayState: string | null; status: Status }): void {
  if (!p.app.acs.some((a) => a.url === p.acsUrl)) throw new GatehouseError("saml_acs_not_registered", "status response to an unregistered ACS");
  const { xml } = buildStatusResponse({ issuer: ctx.config.entityId, destination: p.acsUrl, inResponseTo: p.inResponseTo, status: p.status, now: ctx.clock.now() }, ctx.key);
  postTo(res, { action: p.acsUrl, param: "SAMLResponse", xml, relayState: p.relayState, appName: p.app.name, heading: "Returning you to the application" });
}

/** The HTTP-POST binding page: auto-submits with a same-origin script, or by a visible button. */
export function postTo(res: Response, p: { action: string; param: "SAMLResponse" | "SAMLRequest"; xml: string; relayState: string | null; appName: string; heading: string }): void {
  allowFormActionTo(res, p.action);
  render(res, "post", {
    title: p.heading,
    heading: p.heading,
    action: p.action,
    param: p.param,
    message: Buffer.from(p.xml, "utf8").toString("base64"),
    relayState: p.relayState,
    appName: p.appName,
  });
}
