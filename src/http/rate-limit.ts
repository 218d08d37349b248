import type { RequestHandler } from "express";
import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import { GatehouseError } from "../errors.ts";
import { clientIp, networkKeys } from "./client-ip.ts";

/**
 * The network a client address stands for: an IPv4 address itself, an IPv6 address's /64 (one
 * subscriber usually holds a whole /64, SECURITY.md B.6), and "unknown" as one bucket of its own.
 */
export const networkOf = (ip: string): string => networkKeys(ip).address;

export interface PreAuthLimits {
  loginRequestsPerMinute: number;
  samlRequestsPerMinute: number;
}

/**
 * A cheap limit taken before anything else runs (body parsing, XML, the store): requests per
 * client network per minute, held in this process. It bounds what an anonymous flood can make
 * Gatehouse parse and write; the finer per-account and per-IP failure throttles (login/throttle.ts)
 * sit behind it. Over the limit: 429 with Retry-After and the catalogued page; the error page's
 * audit of the refusal is aggregated like any anonymous rejection (audit/sampler.ts).
 */
export function preAuthRateLimit(limits: PreAuthLimits): RequestHandler {
  const login = new RateLimiterMemory({ keyPrefix: "login", points: limits.loginRequestsPerMinute, duration: 60 });
  const saml = new RateLimiterMemory({ keyPrefix: "saml", points: limits.samlRequestsPerMinute, duration: 60 });
  return (req, res, next) => {
    const limiter = limiterFor(req.method, req.path, req.query, login, saml);
    if (!limiter) return next();
    const network = networkOf(clientIp(req));
    limiter.consume(network).then(
      () => next(),
      (e: unknown) => {
        if (!(e instanceof RateLimiterRes)) return next(e);
        res.set("Retry-After", String(Math.max(1, Math.ceil(e.msBeforeNext / 1000))));
        next(new GatehouseError("rate_limited", `${limiter === login ? "sign-in" : "SAML"} requests from ${network} over ${limiter.points} a minute`));
      },
    );
  };
}

/** Sign-in posts and sign-in starts (GET /login without a transaction writes one); every SAML endpoint. */
function limiterFor(method: string, path: string, query: unknown, login: RateLimiterMemory, saml: RateLimiterMemory): RateLimiterMemory | null {
  if (path === "/saml" || path.startsWith("/saml/")) return saml;
  if (path !== "/login" && !path.startsWith("/login/")) return null;
  if (method === "POST") return login;
  if (method === "GET" && path === "/login" && (query as Record<string, unknown>).tx === undefined) return login;
  return null;
}
