import type { Request, Response } from "express";
import type { Document, Element } from "@xmldom/xmldom";
import { samlId } from "../../crypto/tokens.ts";
import { GatehouseError } from "../../errors.ts";
import { clientIp } from "../../http/client-ip.ts";
import { render } from "../../http/render.ts";
import type { App } from "../../store/apps.ts";
import type { LogoutChain, PendingLogout } from "../../store/logout-chains.ts";
import { signedRedirectUrl, verifyRedirectSignature } from "../bindings.ts";
import { allElements, parseStrict, verifyRootSignature } from "../xml.ts";
import { sloUrl, type IdpContext } from "./context.ts";
import { readInbound, type InboundMessage } from "./inbound.ts";
import { postTo } from "./issue.ts";
import { buildLogoutRequest, buildLogoutResponse, readLogoutRequest, readLogoutResponse, type LogoutRequestIn } from "./logout-messages.ts";
import { signElement } from "./sign.ts";
import { statusCodes, type Status } from "./status.ts";

const chainLifetimeMs = 10 * 60_000;
// LogoutRequest IDs share the replay table with AuthnRequest IDs. IDs are NCNames, which cannot
// contain ':', so no AuthnRequest ID can ever equal a key with this prefix.
const logoutReplayPrefix = "logout:";

/** The SLO endpoint: LogoutRequests from apps, and LogoutResponses to our own requests. */
export async function handleSlo(ctx: IdpContext, req: Request, res: Response): Promise<void> {
  const ip = clientIp(req);
  try {
    const inbound = readInbound(req, ctx.config.limits, ["SAMLRequest", "SAMLResponse"]);
    const doc = parseStrict(inbound.xml);
    if (inbound.param === "SAMLRequest") await logoutRequestFromApp(ctx, req, res, inbound, doc);
    else await logoutResponseFromApp(ctx, req, res, inbound, doc);
  } catch (e) {
    if (e instanceof GatehouseError && !(e as { audited?: boolean }).audited) {
      await ctx.audit.record({ type: "saml.logout.rejected", outcome: "failure", ip, reason: e.code, detail: { detail: e.detail } });
      Object.assign(e, { audited: true });
    }
    throw e;
  }
}

/**
 * A LogoutRequest must be signed by a registered app (Redirect: query signature; POST: XML
 * signature): an unsigned one could sign anyone out. Apps without a certificate cannot start SLO.
 */
function verifiedSignedDoc(inbound: InboundMessage, doc: Document, app: App, param: "SAMLRequest" | "SAMLResponse"): Document {
  if (!app.certPem) throw new GatehouseError("saml_signature_required", "app has no certificate to verify a logout message");
  if (inbound.binding === "HTTP-Redirect") {
    if (allElements("./ds:Signature", doc.documentElement as Element).length > 0) throw new GatehouseError("saml_signature_invalid", "XML signature in Redirect binding");
    verifyRedirectSignature(inbound.rawQuery, param, app.certPem);
    return doc;
  }
  return verifyRootSignature(inbound.xml, doc, app.certPem);
}

/**
 * A LogoutRequest from an app, as a table of checks: known issuer → signature → destination →
 * freshness → not replayed → the sessions it names are this app's → end them → tell the
 * sessions' other apps → answer the app.
 */
async function logoutRequestFromApp(ctx: IdpContext, req: Request, res: Response, inbound: InboundMessage, doc0: Document): Promise<void> {
  const ip = clientIp(req);
  const unverified = readLogoutRequest(doc0);
  const app = await ctx.apps.byEntityId(unverified.issuer);
  if (!app) throw new GatehouseError("saml_unknown_app", `logout issuer ${unverified.issuer.slice(0, 200)}`);
  const request = readLogoutRequest(verifiedSignedDoc(inbound, doc0, app, "SAMLRequest"));
  if (request.destination !== null && request.destination !== sloUrl(ctx.config)) throw new GatehouseError("saml_logout_invalid", "Destination");
  checkFreshness(ctx, request);
  await notReplayed(ctx, app, request);
  if (!app.sloUrl) throw new GatehouseError("saml_logout_invalid", "app has no SLO URL to answer to");

  const named = await sessionsNamed(ctx, req, app, request);
  if (named.unknown.length > 0) {
    // SAML Core §3.7.3.2: Success only when the sessions named are terminated. One this app was
    // never given (or for another principal) is not: nothing ends, and the app hears why.
    await ctx.audit.record({ type: "saml.logout.request_received", outcome: "failure", appId: app.id, ip, reason: "unknown_session", detail: { requestId: request.id, binding: inbound.binding, unknown: named.unknown } });
    answerInitiator(ctx, req, res, app, request.id, inbound.relayState, { code: statusCodes.requester, detail: statusCodes.unknownPrincipal });
    return;
  }
  const now = ctx.clock.now();
  const live = await ctx.sessions.current(req);
  const pending = new Map<string, PendingLogout>();
  let endedNow = 0;
  for (const sessionHash of named.sessions) {
    for (const a of await ctx.sessionRecords.apps(sessionHash)) {
      if (a.appId !== app.id) pending.set(`${sessionHash}:${a.appId}`, { appId: a.appId, nameId: a.nameId, nameIdFormat: a.nameIdFormat, sessionIndex: a.sessionIndex });
    }
    if (live?.session.idHash === sessionHash) {
      await ctx.sessions.end(res, sessionHash);
      endedNow++;
    } else if (await ctx.sessionRecords.end(sessionHash, now)) endedNow++;
  }
  await ctx.audit.record({
    type: "saml.logout.request_received",
    outcome: "success",
    appId: app.id,
    ip,
    reason: endedNow > 0 ? "session ended" : "session had already ended",
    detail: { requestId: request.id, binding: inbound.binding, sessions: named.sessions.length },
  });
  const chain: LogoutChain = {
    id: samlId(),
    pending: [...pending.values()],
    currentRequestId: null,
    currentAppId: null,
    initiatorAppId: app.id,
    initiatorRequestId: request.id,
    relayState: inbound.relayState,
    expiresAt: now + chainLifetimeMs,
  };
  await continueChain(ctx, req, res, chain);
}

/** Checks that the request is recent: the same window as an AuthnRequest, and not past its own NotOnOrAfter. */
function checkFreshness(ctx: IdpContext, request: LogoutRequestIn): void {
  const now = ctx.clock.now();
  const { requestClockSkewMs, transactionMs } = ctx.config.lifetimes;
  if (request.issueInstant > now + requestClockSkewMs || request.issueInstant < now - transactionMs - requestClockSkewMs) {
    throw new GatehouseError("saml_logout_stale", `IssueInstant ${new Date(request.issueInstant).toISOString()}`);
  }
  if (request.notOnOrAfter !== null && request.notOnOrAfter <= now - requestClockSkewMs) throw new GatehouseError("saml_logout_stale", "past NotOnOrAfter");
}

/** Checks that this LogoutRequest ID was not seen before, for as long as the request could be fresh. */
async function notReplayed(ctx: IdpContext, app: App, request: LogoutRequestIn): Promise<void> {
  const { requestClockSkewMs, transactionMs } = ctx.config.lifetimes;
  const expiresAt = ctx.clock.now() + transactionMs + 2 * requestClockSkewMs;
  if (!(await ctx.seenRequests.remember(app.id, `${logoutReplayPrefix}${request.id}`, expiresAt))) {
    throw new GatehouseError("saml_logout_replayed", `LogoutRequest ID ${request.id}`);
  }
}

/**
 * The sessions a LogoutRequest names. Each SessionIndex must be one Gatehouse gave this app, for
 * the same NameID (a session keeps one SessionIndex per app, so every assertion the app holds
 * still names its session). Without a SessionIndex, the principal's session is the one this
 * browser presents, if this app was signed in to it under that NameID.
 */
async function sessionsNamed(ctx: IdpContext, req: Request, app: App, request: LogoutRequestIn): Promise<{ sessions: string[]; unknown: string[] }> {
  const sessions = new Set<string>();
  const unknown: string[] = [];
  if (request.sessionIndexes.length === 0) {
    const live = await ctx.sessions.current(req);
    const mine = live && (await ctx.sessionRecords.apps(live.session.idHash)).some((a) => a.appId === app.id && a.nameId === request.nameId);
    if (live && mine) sessions.add(live.session.idHash);
    else unknown.push("(no SessionIndex, and no session of this browser matches)");
    return { sessions: [...sessions], unknown };
  }
  for (const index of request.sessionIndexes) {
    const found = await ctx.sessionRecords.bySessionIndex(index);
    if (found && found.appId === app.id && found.nameId === request.nameId) sessions.add(found.sessionHash);
    else unknown.push(index.slice(0, 100));
  }
  return { sessions: [...sessions], unknown };
}

async function logoutResponseFromApp(ctx: IdpContext, req: Request, res: Response, inbound: InboundMessage, doc: Document): Promise<void> {
  const response = readLogoutResponse(doc);
  const chain = await ctx.logoutChains.byCurrentRequest(response.inResponseTo, ctx.clock.now());
  if (!chain) throw new GatehouseError("saml_logout_invalid", "LogoutResponse to no pending request");
  const app = chain.currentAppId ? await ctx.apps.byId(chain.currentAppId) : undefined;
  if (!app || app.entityId !== response.issuer) throw new GatehouseError("saml_logout_invalid", "LogoutResponse from another issuer");
  // The InResponseTo of our unguessable, single-use request binds the answer; a signature is checked where present.
  const signed = inbound.signedByQuery || allElements("./ds:Signature", doc.documentElement as Element).length > 0;
  if (signed) verifiedSignedDoc(inbound, doc, app, "SAMLResponse");
  if (!(await ctx.logoutChains.claim(chain.id, response.inResponseTo))) throw new GatehouseError("saml_logout_invalid", "LogoutResponse already received (a copy)");
  await ctx.audit.record({ type: "saml.logout.response_received", outcome: response.success ? "success" : "failure", appId: app.id, ip: clientIp(req), detail: { inResponseTo: response.inResponseTo } });
  await continueChain(ctx, req, res, { ...chain, currentAppId: null, currentRequestId: null });
}

/** Signing out at Gatehouse: ends the session and tells every app of it that has an SLO URL. */
export async function handleLogout(ctx: IdpContext, req: Request, res: Response): Promise<void> {
  const current = await ctx.sessions.current(req);
  if (!current) return res.redirect(303, "/");
  ctx.csrf.check(req, "session", current.session.idHash, (req.body as Record<string, unknown> | undefined)?.csrf);
  const apps = await ctx.sessionRecords.apps(current.session.idHash);
  await ctx.sessions.end(res, current.session.idHash);
  await ctx.audit.record({ type: "session.ended", outcome: "success", userId: current.user.id, username: current.user.username, ip: clientIp(req), reason: "signed out at Gatehouse" });
  const chain: LogoutChain = {
    id: samlId(),
    pending: apps.map(({ appId, nameId, nameIdFormat, sessionIndex }) => ({ appId, nameId, nameIdFormat, sessionIndex })),
    currentRequestId: null,
    currentAppId: null,
    initiatorAppId: null,
    initiatorRequestId: null,
    relayState: null,
    expiresAt: ctx.clock.now() + chainLifetimeMs,
  };
  await continueChain(ctx, req, res, chain);
}

/** Sends the next app its LogoutRequest, or finishes: a LogoutResponse to the initiator, or our page. */
async function continueChain(ctx: IdpContext, req: Request, res: Response, chain: LogoutChain): Promise<void> {
  const now = ctx.clock.now();
  const pending = [...chain.pending];
  while (pending.length > 0) {
    const next = pending.shift() as PendingLogout;
    const app = await ctx.apps.byId(next.appId);
    if (!app?.sloUrl) continue;
    const id = samlId();
    await ctx.logoutChains.save({ ...chain, pending, currentRequestId: id, currentAppId: app.id });
    const xml = buildLogoutRequest({ id, issuer: ctx.config.entityId, destination: app.sloUrl, nameId: next.nameId, nameIdFormat: next.nameIdFormat, sessionIndex: next.sessionIndex, now, lifetimeMs: 5 * 60_000 });
    await ctx.audit.record({ type: "saml.logout.request_sent", outcome: "info", appId: app.id, ip: clientIp(req), detail: { requestId: id } });
    sendToApp(ctx, req, res, app, "SAMLRequest", xml, id, null);
    return;
  }
  await ctx.logoutChains.remove(chain.id);
  const initiator = chain.initiatorAppId ? await ctx.apps.byId(chain.initiatorAppId) : undefined;
  if (initiator?.sloUrl && chain.initiatorRequestId) {
    await ctx.audit.record({ type: "saml.logout.completed", outcome: "success", appId: initiator.id, ip: clientIp(req), reason: "LogoutResponse sent to initiating app" });
    answerInitiator(ctx, req, res, initiator, chain.initiatorRequestId, chain.relayState, { code: statusCodes.success });
    return;
  }
  await ctx.audit.record({ type: "saml.logout.completed", outcome: "success", ip: clientIp(req), reason: "signed out at Gatehouse" });
  render(res, "signed-out", { title: "Signed out" });
}

/** The LogoutResponse to the app whose LogoutRequest started this, at its registered SLO URL. */
function answerInitiator(ctx: IdpContext, req: Request, res: Response, app: App, inResponseTo: string, relayState: string | null, status: Status): void {
  const id = samlId();
  const xml = buildLogoutResponse({ id, issuer: ctx.config.entityId, destination: app.sloUrl as string, inResponseTo, status, now: ctx.clock.now() });
  sendToApp(ctx, req, res, app, "SAMLResponse", xml, id, relayState);
}

/**
 * Sends a logout message to an app's registered SLO URL in its binding. The Redirect binding is
 * a 303 when the request was a plain GET. A request that is a form submission (our sign-out
 * form, an app's POST-binding message) is never answered with a redirect to another origin:
 * Chromium applies the submitting page's CSP form-action to every redirect that follows, and
 * would block it. It gets a same-origin page instead, whose script (or visible link) navigates
 * to the same URL by GET, which form-action does not govern.
 */
function sendToApp(ctx: IdpContext, req: Request, res: Response, app: App, param: "SAMLRequest" | "SAMLResponse", xml: string, id: string, relayState: string | null): void {
  const target = app.sloUrl as string;
  if (app.sloBinding === "HTTP-POST") {
    const signed = signElement(xml, param === "SAMLRequest" ? "LogoutRequest" : "LogoutResponse", id, ctx.key);
    postTo(res, { action: target, param, xml: signed, relayState, appName: app.name, heading: "Signing you out" });
    return;
  }
  const location = signedRedirectUrl(target, param, xml, relayState, ctx.key.privateKey);
  if (req.method === "GET") return res.redirect(303, location);
  // The URL carries a SAML message: no page of ours passes it on in a Referer.
  res.set("Referrer-Policy", "no-referrer");
  render(res, "redirect", { title: "Signing you out", heading: "Signing you out", appName: app.name, location });
}
