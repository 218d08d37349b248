import express from "express";
import { idpMetadata } from "../metadata/idp-metadata.ts";
import { sloUrl, ssoUrl, type IdpContext } from "./context.ts";
import { handleLaunch } from "./launch.ts";
import { handleLogout, handleSlo } from "./slo.ts";
import { handleSso } from "./sso.ts";

/** Gatehouse as IdP toward apps: metadata, SSO (both bindings), SLO, IdP-initiated launch, sign-out. */
export function idpRouter(ctx: IdpContext): express.Router {
  const r = express.Router();
  const metadata = idpMetadata({ entityId: ctx.config.entityId, ssoUrl: ssoUrl(ctx.config), sloUrl: sloUrl(ctx.config), certBase64: ctx.key.certBase64 });
  r.get("/saml/metadata", (_req, res) => {
    // Public and the same for everyone: cacheable, so the page-wide Pragma: no-cache does not apply.
    res.removeHeader("Pragma");
    res.set("Cache-Control", "public, max-age=300").type("application/samlmetadata+xml").send(metadata);
  });
  r.get("/saml/sso", (req, res) => handleSso(ctx, req, res));
  r.post("/saml/sso", (req, res) => handleSso(ctx, req, res));
  r.get("/saml/slo", (req, res) => handleSlo(ctx, req, res));
  r.post("/saml/slo", (req, res) => handleSlo(ctx, req, res));
  r.post("/apps/:id/launch", (req, res) => handleLaunch(ctx, req, res));
  r.post("/logout", (req, res) => handleLogout(ctx, req, res));
  return r;
}
