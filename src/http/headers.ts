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

/** Security headers for every response; pages are never cached (they carry tokens or SAML). */
export function securityHeaders(https: boolean): RequestHandler[] {
  return [
    helmet({
      contentSecurityPolicy: { useDefaults: false, directives: baseDirectives },
      strictTransportSecurity: https ? { maxAge: 31_536_000, includeSubDomains: true } : false,
      referrerPolicy: { policy: "no-referrer" },
      crossOriginOpenerPolicy: { policy: "same-origin" },
    }),
    (_req, res, next) => {
      res.set("Cache-Control", "no-cache, no-store");
      res.set("Pragma", "no-cache");
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
