import helmet from "helmet";
import type { RequestHandler, Response } from "express";

const baseDirectives = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", "data:"],
  objectSrc: ["'none'"],
  baseUri: ["'none'"],
  frameAncestors: ["'none'"],
  formAction: ["'self'"],
};

/** Security headers for every response; pages are never cached (they carry tokens or SAML), static files are. */
export function securityHeaders(https: boolean): RequestHandler[] {
  return [
    helmet({
      contentSecurityPolicy: { useDefaults: false, directives: baseDirectives },
      strictTransportSecurity: https ? { maxAge: 31_536_000, includeSubDomains: true } : false,
      // same-origin, not no-referrer: under no-referrer Chromium sends `Origin: null` on our own
      // form posts, which the CSRF origin check must refuse. SAML endpoints get no-referrer below.
      referrerPolicy: { policy: "same-origin" },
      crossOriginOpenerPolicy: { policy: "same-origin" },
    }),
    (req, res, next) => {
      // The Redirect binding carries SAML messages in the URL: never leak it in a Referer.
      if (req.path.startsWith("/saml/")) res.set("Referrer-Policy", "no-referrer");
      // Static files (no tokens) keep express.static's own caching; every page is no-store.
      if (!req.path.startsWith("/static/")) {
        res.set("Cache-Control", "no-cache, no-store");
        res.set("Pragma", "no-cache");
      }
      next();
    },
  ];
}

/** The auto-POST page may submit to one more origin: the registered ACS of the app it answers. */
export function allowFormActionTo(res: Response, url: string): void {
  const origin = new URL(url).origin;
  const directives = Object.entries({ ...baseDirectives, formAction: ["'self'", origin] })
    .map(([k, v]) => `${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} ${v.join(" ")}`)
    .join("; ");
  res.set("Content-Security-Policy", directives);
}
