import type { Request, Response } from "express";
import type { Document, Element } from "@xmldom/xmldom";
import { GatehouseError } from "../../errors.ts";
import { clientIp } from "../../http/client-ip.ts";
import type { App } from "../../store/apps.ts";
import { verifyRedirectSignature } from "../bindings.ts";
import { allElements, parseStrict, verifyRootSignature } from "../xml.ts";
import { readAuthnRequest, type AuthnRequest } from "./authn-request.ts";
import { ssoUrl, type IdpContext } from "./context.ts";
import { readInbound, type InboundMessage } from "./inbound.ts";
import { satisfiable } from "./authn-context.ts";
import { postStatusResponse, requestKey } from "./issue.ts";
import { statusCodes } from "./status.ts";

const postBinding = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/**
 * The SSO endpoint, as a table of checks in order:
 * decode binding → parse strictly → known issuer → request signature → registered ACS →
 * destination → freshness → not replayed → an AuthnContext some sign-in can meet → start the
 * login transaction.
 */
export async function handleSso(ctx: IdpContext, req: Request, res: Response): Promise<void> {
  const ip = clientIp(req);
  let app: App | undefined;
  try {
    const inbound = readInbound(req, ctx.config.limits, ["SAMLRequest"]);
    let doc = parseStrict(inbound.xml);
    const request0 = readAuthnRequest(doc);
    app = await knownIssuer(ctx, request0.issuer);
    doc = checkSignature(inbound, doc, app);
    const request = readAuthnRequest(doc); // from the signed bytes when there was a signature
    const acsUrl = registeredAcs(app, request);
    checkDestination(ctx, request);
    checkFreshness(ctx, request);
    await notReplayed(ctx, app, request);
    if (request.isPassive) throw new GatehouseError("saml_unsupported", "IsPassive is not supported");
    await ctx.audit.record({ type: "saml.authn_request.accepted", outcome: "success", appId: app.id, ip, detail: { requestId: request.id, binding: inbound.binding, acsUrl, requestedAuthnContext: request.requestedAuthnContext } });
    if (!(await authnContextPossible(ctx, res, ip, app, request, acsUrl, inbound.relayState))) return;
    await ctx.login.start(req, res, { appId: app.id, requestId: request.id, relayState: inbound.relayState, acsUrl, forceAuthn: request.forceAuthn });
  } catch (e) {
    if (e instanceof GatehouseError) {
      await ctx.audit.record({ type: "saml.authn_request.rejected", outcome: "failure", appId: app?.id ?? null, ip, reason: e.code, detail: { detail: e.detail } });
      Object.assign(e, { audited: true });
    }
    throw e;
  }
}

/** Checks that the request comes from a registered app. */
async function knownIssuer(ctx: IdpContext, issuer: string): Promise<App> {
  const app = await ctx.apps.byEntityId(issuer);
  if (!app) throw new GatehouseError("saml_unknown_app", `issuer ${issuer.slice(0, 200)}`);
  return app;
}

/** Checks the request signature where the app is registered with a certificate. */
function checkSignature(inbound: InboundMessage, doc: Document, app: App): Document {
  const xmlSigned = allElements("./ds:Signature", doc.documentElement as Element).length > 0;
  const signed = inbound.signedByQuery || xmlSigned;
  if (!app.certPem) {
    if (app.wantRequestsSigned) throw new GatehouseError("saml_signature_required", "app wants signed requests but has no certificate");
    return doc; // nothing to verify against; the ACS check below still holds
  }
  if (!signed) {
    if (app.wantRequestsSigned) throw new GatehouseError("saml_signature_required", "unsigned AuthnRequest");
    return doc;
  }
  if (inbound.binding === "HTTP-Redirect") {
    if (xmlSigned) throw new GatehouseError("saml_signature_invalid", "XML signature inside a Redirect-binding message");
    verifyRedirectSignature(inbound.rawQuery, "SAMLRequest", app.certPem);
    return doc;
  }
  return verifyRootSignature(inbound.xml, doc, app.certPem);
}

/** Checks that the response may go where the request asks: a registered ACS, matched exactly. */
function registeredAcs(app: App, request: AuthnRequest): string {
  if (request.protocolBinding !== null && request.protocolBinding !== postBinding) {
    throw new GatehouseError("saml_unsupported", `ProtocolBinding ${request.protocolBinding.slice(0, 100)}`);
  }
  if (request.acsUrl !== null && request.acsIndex !== null) throw new GatehouseError("saml_message_malformed", "both ACS URL and index");
  if (request.acsUrl !== null) {
    const match = app.acs.find((a) => a.url === request.acsUrl);
    if (!match) throw new GatehouseError("saml_acs_not_registered", `ACS URL ${request.acsUrl.slice(0, 300)}`);
    return match.url;
  }
  if (request.acsIndex !== null) {
    const match = app.acs.find((a) => a.index === request.acsIndex);
    if (!match) throw new GatehouseError("saml_acs_not_registered", `ACS index ${request.acsIndex}`);
    return match.url;
  }
  const fallback = app.acs.find((a) => a.isDefault) ?? app.acs[0];
  if (!fallback) throw new GatehouseError("saml_acs_not_registered", "app has no ACS");
  return fallback.url;
}

/** Checks that the request was meant for this endpoint. */
function checkDestination(ctx: IdpContext, request: AuthnRequest): void {
  if (request.destination !== null && request.destination !== ssoUrl(ctx.config)) {
    throw new GatehouseError("saml_message_malformed", `Destination ${request.destination.slice(0, 200)}`);
  }
}

/** Checks that the request is recent: issued neither in the future nor longer ago than a transaction lives. */
function checkFreshness(ctx: IdpContext, request: AuthnRequest): void {
  const now = ctx.clock.now();
  const { requestClockSkewMs, transactionMs } = ctx.config.lifetimes;
  if (Number.isNaN(request.issueInstant)) throw new GatehouseError("saml_message_malformed", "IssueInstant");
  if (request.issueInstant > now + requestClockSkewMs || request.issueInstant < now - transactionMs - requestClockSkewMs) {
    throw new GatehouseError("saml_request_stale", `IssueInstant ${new Date(request.issueInstant).toISOString()}`);
  }
}

/**
 * Checks that some sign-in could meet the RequestedAuthnContext, and keeps it for the end of
 * the sign-in (issue.ts decides with the sign-in's real strength). A request no sign-in could
 * meet gets Responder / NoAuthnContext at once, at its registered ACS, without a password prompt.
 */
async function authnContextPossible(ctx: IdpContext, res: Response, ip: string, app: App, request: AuthnRequest, acsUrl: string, relayState: string | null): Promise<boolean> {
  const requested = request.requestedAuthnContext;
  if (!requested) return true;
  if (!satisfiable(requested)) {
    await ctx.audit.record({ type: "saml.response.refused", outcome: "failure", appId: app.id, ip, reason: "no_authn_context", detail: { requestId: request.id, requested } });
    postStatusResponse(ctx, res, { app, acsUrl, inResponseTo: request.id, relayState, status: { code: statusCodes.responder, detail: statusCodes.noAuthnContext } });
    return false;
  }
  await ctx.requestedAuthnContexts.saveAsync(requestKey(app.id, request.id), JSON.stringify(requested));
  return true;
}

/** Checks that this request ID has not started a sign-in before. */
async function notReplayed(ctx: IdpContext, app: App, request: AuthnRequest): Promise<void> {
  const { requestClockSkewMs, transactionMs } = ctx.config.lifetimes;
  const now = ctx.clock.now();
  // Expired IDs are purged by the sweeper (ops/sweeper.ts), not on every request.
  if (!(await ctx.seenRequests.remember(app.id, request.id, now + transactionMs + 2 * requestClockSkewMs))) {
    throw new GatehouseError("saml_request_replayed", `request ID ${request.id}`);
  }
}

