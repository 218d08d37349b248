import express from "express";
import { SAML, ValidateInResponseTo, generateServiceProviderMetadata } from "@node-saml/node-saml";
import type { Clock } from "../clock.ts";
import type { Config } from "../config.ts";
import type { SigningKey } from "../crypto/keys.ts";
import { GatehouseError } from "../errors.ts";
import { render } from "../http/render.ts";
import { nameIdFormats, type App, type AppRepository } from "../store/apps.ts";
import type { Db } from "../store/db.ts";
import { StoreCacheProvider } from "../store/saml-cache.ts";

/**
 * The demo app: a real SAML SP (@node-saml/node-saml) mounted inside Gatehouse and registered
 * like any other app, so a newcomer can watch the whole round trip. Off in production (GATEHOUSE_DEMO=false).
 */
export function demoUrls(config: Config): { entityId: string; acs: string } {
  return { entityId: `${config.baseUrl}/demo/metadata`, acs: `${config.baseUrl}/demo/acs` };
}

export async function registerDemoApp(apps: AppRepository, config: Config, now: number): Promise<App> {
  const { entityId, acs } = demoUrls(config);
  const existing = await apps.builtin("demo");
  if (existing?.entityId === entityId) return existing;
  if (existing) await apps.remove(existing.id); // the base URL changed
  return apps.add(
    {
      name: "Demo app",
      entityId,
      acs: [{ url: acs, index: 0, isDefault: true }],
      sloUrl: null,
      sloBinding: null,
      nameIdFormat: "email",
      attributes: [
        { name: "email", field: "email" },
        { name: "username", field: "username" },
        { name: "firstName", field: "firstName" },
        { name: "lastName", field: "lastName" },
        { name: "groups", field: "groups" },
      ],
      signAssertion: true,
      signResponse: true,
      wantRequestsSigned: false,
      certPem: null,
      builtin: "demo",
    },
    now,
  );
}

/**
 * With the demo off, the built-in demo app is removed at start (its login policy and sign-ins in
 * flight go with it): an app whose endpoints are no longer served must not stay in the launcher
 * or be issued assertions. Returns the removed app, or null when there was none.
 */
export async function removeDemoApp(apps: AppRepository): Promise<App | null> {
  const existing = await apps.builtin("demo");
  if (!existing) return null;
  await apps.remove(existing.id);
  return existing;
}

export function demoRouter(deps: { config: Config; db: Db; key: SigningKey; clock: Clock }): express.Router {
  const { config, key, clock } = deps;
  const { entityId, acs } = demoUrls(config);
  const saml = new SAML({
    entryPoint: `${config.baseUrl}/saml/sso`,
    issuer: entityId,
    callbackUrl: acs,
    idpCert: key.certPem,
    idpIssuer: config.entityId,
    audience: entityId,
    wantAssertionsSigned: true,
    wantAuthnResponseSigned: true,
    // The demo app is also in the app launcher, so it takes IdP-initiated (unsolicited) responses;
    // a response that names a request must still name one this app sent.
    validateInResponseTo: ValidateInResponseTo.ifPresent,
    requestIdExpirationPeriodMs: config.lifetimes.transactionMs,
    acceptedClockSkewMs: 5_000,
    identifierFormat: nameIdFormats.email,
    disableRequestedAuthnContext: true,
    cacheProvider: new StoreCacheProvider(deps.db, "demo", config.lifetimes.transactionMs, () => clock.now()),
  });
  const r = express.Router();
  r.get("/demo", (_req, res) => render(res, "demo", { title: "Demo app" }));
  r.post("/demo/login", async (_req, res) => {
    res.redirect(303, await saml.getAuthorizeUrlAsync("", undefined, {}));
  });
  r.post("/demo/acs", async (req, res) => {
    const body = req.body as Record<string, unknown> | undefined;
    const SAMLResponse = body?.SAMLResponse;
    if (typeof SAMLResponse !== "string") throw new GatehouseError("saml_message_missing", "demo ACS without SAMLResponse");
    let profile;
    try {
      ({ profile } = await saml.validatePostResponseAsync({ SAMLResponse }));
    } catch (e) {
      throw new GatehouseError("bad_request", `demo app refused the response: ${(e as Error).message}`);
    }
    if (!profile) throw new GatehouseError("bad_request", "demo app: no profile");
    const attributes = Object.entries((profile.attributes ?? {}) as Record<string, unknown>).map(([name, value]) => ({ name, value: Array.isArray(value) ? value.join(", ") : String(value) }));
    render(res, "demo-result", { title: "Demo app", nameId: profile.nameID, issuer: profile.issuer, sessionIndex: profile.sessionIndex ?? "", attributes });
  });
  r.get("/demo/metadata", (_req, res) => {
    res.type("application/samlmetadata+xml").send(generateServiceProviderMetadata({ issuer: entityId, callbackUrl: acs, identifierFormat: nameIdFormats.email, wantAssertionsSigned: true }));
  });
  return r;
}
