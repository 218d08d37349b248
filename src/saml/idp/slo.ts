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
import { buildLogoutRequest, buildLogoutResponse, readLogoutRequest, readLogoutResponse } from "./logout-messages.ts";
import { signElement } from "./sign.ts";

const chainLifetimeMs = 10 * 60_000;

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
      ctx.audit.record({ type: "saml.logout.rejected", outcome: "failure", ip, reason: e.code, detail: { detail: e.detail } });
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

async function logoutRequestFromApp(ctx: IdpContext, req: Request, res: Response, inbound: InboundMessage, doc0: Document): Promise<void> {
  const ip = clientIp(req);
  const unverified = readLogoutRequest(doc0);
  const app = ctx.apps.byEntityId(unverified.issuer);
  if (!app) throw new GatehouseError("saml_unknown_app", `logout issuer ${unverified.issuer.slice(0, 200)}`);
  const request = readLogoutRequest(verifiedSignedDoc(inbound, doc0, app, "SAMLRequest"));
  const now = ctx.clock.now();
  if (request.destination !== null && request.destination !== sloUrl(ctx.config)) throw new GatehouseError("saml_logout_invalid", "Destination");
  if (request.notOnOrAfter !== null && !(request.notOnOrAfter > now - ctx.config.lifetimes.requestClockSkewMs)) throw new GatehouseError("saml_request_stale", "LogoutRequest expired");
  if (!app.sloUrl) throw new GatehouseError("saml_logout_invalid", "app has no SLO URL to answer to");

  // The session the app knows by SessionIndex, if the NameID matches what we issued.
  let pending: PendingLogout[] = [];
  let ended = false;
  for (const index of request.sessionIndexes) {
    const found = ctx.sessionRecords.bySessionIndex(index);
    if (!found || found.appId !== app.id) continue;
    const apps = ctx.sessionRecords.apps(found.sessionHash);
    const mine = apps.find((a) => a.sessionIndex === index);
    if (!mine || mine.nameId !== request.nameId) continue;
    const live = ctx.sessions.current(req);
    if (live?.session.idHash === found.sessionHash) ctx.sessions.end(res, found.sessionHash);
    else ctx.sessionRecords.end(found.sessionHash, now);
    pending = apps.filter((a) => a.appId !== app.id).map(({ appId, nameId, nameIdFormat, sessionIndex }) => ({ appId, nameId, nameIdFormat, sessionIndex }));
    ended = true;
  }
  ctx.audit.record({
    type: "saml.logout.request_received",
    outcome: ended ? "success" : "info",
    appId: app.id,
    ip,
    reason: ended ? "session ended" : "no matching session (already signed out)",
    detail: { requestId: request.id, binding: inbound.binding },
  });
  const chain: LogoutChain = {
    id: samlId(),
    pending,
    currentRequestId: null,
    currentAppId: null,
    initiatorAppId: app.id,
    initiatorRequestId: request.id,
    relayState: inbound.relayState,
    expiresAt: now + chainLifetimeMs,
  };
  await continueChain(ctx, req, res, chain);
}

async function logoutResponseFromApp(ctx: IdpContext, req: Request, res: Response, inbound: InboundMessage, doc: Document): Promise<void> {
  const response = readLogoutResponse(doc);
  const chain = ctx.logoutChains.byCurrentRequest(response.inResponseTo, ctx.clock.now());
  if (!chain) throw new GatehouseError("saml_logout_invalid", "LogoutResponse to no pending request");
  const app = chain.currentAppId ? ctx.apps.byId(chain.currentAppId) : undefined;
  if (!app || app.entityId !== response.issuer) throw new GatehouseError("saml_logout_invalid", "LogoutResponse from another issuer");
  // The InResponseTo of our unguessable, single-use request binds the answer; a signature is checked where present.
  const signed = inbound.signedByQuery || allElements("./ds:Signature", doc.documentElement as Element).length > 0;
  if (signed) verifiedSignedDoc(inbound, doc, app, "SAMLResponse");
  ctx.audit.record({ type: "saml.logout.response_received", outcome: response.success ? "success" : "failure", appId: app.id, ip: clientIp(req), detail: { inResponseTo: response.inResponseTo } });
  await continueChain(ctx, req, res, { ...chain, currentAppId: null, currentRequestId: null });
}

/** Signing out at Gatehouse: ends the session and tells every app of it that has an SLO URL. */
export async function handleLogout(ctx: IdpContext, req: Request, res: Response): Promise<void> {
  const current = ctx.sessions.current(req);
  if (!current) return res.redirect(303, "/");
  ctx.csrf.check(req, "session", current.session.idHash, (req.body as Record<string, unknown> | undefined)?.csrf);
  const apps = ctx.sessionRecords.apps(current.session.idHash);
  ctx.sessions.end(res, current.session.idHash);
  ctx.audit.record({ type: "session.ended", outcome: "success", userId: current.user.id, username: current.user.username, ip: clientIp(req), reason: "signed out at Gatehouse" });
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
    const app = ctx.apps.byId(next.appId);
    if (!app?.sloUrl) continue;
    const id = samlId();
    ctx.logoutChains.save({ ...chain, pending, currentRequestId: id, currentAppId: app.id });
    const xml = buildLogoutRequest({ id, issuer: ctx.config.entityId, destination: app.sloUrl, nameId: next.nameId, nameIdFormat: next.nameIdFormat, sessionIndex: next.sessionIndex, now, lifetimeMs: 5 * 60_000 });
    ctx.audit.record({ type: "saml.logout.request_sent", outcome: "info", appId: app.id, ip: clientIp(req), detail: { requestId: id } });
    sendToApp(ctx, res, app, "SAMLRequest", xml, id, null);
    return;
  }
  ctx.logoutChains.remove(chain.id);
  const initiator = chain.initiatorAppId ? ctx.apps.byId(chain.initiatorAppId) : undefined;
  if (initiator?.sloUrl && chain.initiatorRequestId) {
    const id = samlId();
    const xml = buildLogoutResponse({ id, issuer: ctx.config.entityId, destination: initiator.sloUrl, inResponseTo: chain.initiatorRequestId, success: true, now });
    ctx.audit.record({ type: "saml.logout.completed", outcome: "success", appId: initiator.id, ip: clientIp(req), reason: "LogoutResponse sent to initiating app" });
    sendToApp(ctx, res, initiator, "SAMLResponse", xml, id, chain.relayState);
    return;
  }
  ctx.audit.record({ type: "saml.logout.completed", outcome: "success", ip: clientIp(req), reason: "signed out at Gatehouse" });
  render(res, "signed-out", { title: "Signed out" });
}

function sendToApp(ctx: IdpContext, res: Response, app: App, param: "SAMLRequest" | "SAMLResponse", xml: string, id: string, relayState: string | null): void {
  const target = app.sloUrl as string;
  if (app.sloBinding === "HTTP-POST") {
    const signed = signElement(xml, param === "SAMLRequest" ? "LogoutRequest" : "LogoutResponse", id, ctx.key);
    postTo(res, { action: target, param, xml: signed, relayState, appName: app.name, heading: "Signing you out" });
    return;
  }
  res.redirect(303, signedRedirectUrl(target, param, xml, relayState, ctx.key.privateKey));
}
