import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { RequestHandler } from "express";
import type { Logger } from "pino";
import { pinoHttp } from "pino-http";
import { runInRequest } from "../request-context.ts";
import { trustProxySetting } from "./client-ip.ts";

/** An X-Request-ID kept from a trusted proxy: a UUID, ULID, hex or base64url token; nothing to inject into a log or a header. */
const forwardedId = /^[A-Za-z0-9_-]{8,64}$/;

/** Query parameters whose values never reach a log line: a SAML message or its signature. */
const hiddenParams = /^(SAMLRequest|SAMLResponse|Signature)$/i;
const maxLoggedUrl = 512;
const unlogged = new Set(["/healthz", "/readyz"]);

/**
 * The URL as logged: the values of SAML messages and signatures replaced by "[redacted]", names
 * compared after decoding (Express decodes them too), and capped.
 */
export function loggedUrl(url: string): string {
  const q = url.indexOf("?");
  if (q < 0) return url.slice(0, maxLoggedUrl);
  const params = url
    .slice(q + 1)
    .split("&")
    .map((p) => {
      const eq = p.indexOf("=");
      const name = eq < 0 ? p : p.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name.replace(/\+/g, " "));
      } catch {
        // a malformed escape: compared as it came
      }
      return eq >= 0 && hiddenParams.test(decoded) ? `${name}=[redacted]` : p;
    });
  return `${url.slice(0, q)}?${params.join("&")}`.slice(0, maxLoggedUrl);
}

/**
 * Gives each request an ID, echoed in `X-Request-ID`: the one a trusted proxy sent when it looks
 * like an ID, otherwise a new UUID (a client cannot choose what its audit events are filed under).
 * Everything the request runs, including the audit log, sees the ID (request-context.ts), and
 * pino-http writes one line when it ends, without headers or bodies: cookies, passwords, codes
 * and SAML messages never reach the log.
 */
export function requestLog(log: Logger, trustedProxies: readonly string[]): RequestHandler {
  const trusted = trustProxySetting(trustedProxies);
  const fromProxy = (req: IncomingMessage): string | undefined => {
    const sent = req.headers["x-request-id"];
    return trusted && trusted(req.socket.remoteAddress ?? "") && typeof sent === "string" && forwardedId.test(sent) ? sent : undefined;
  };
  const httpLog = pinoHttp({
    logger: log,
    serializers: {
      req: (r: { id: unknown; method: string; url: string }) => ({ id: r.id, method: r.method, url: loggedUrl(r.url) }),
      res: (r: { statusCode: number }) => ({ statusCode: r.statusCode }),
    },
    // The ending line may run outside the request's context: it names the request itself.
    customSuccessObject: (req, _res, val: object) => ({ reqId: req.id, ...val }),
    customErrorObject: (req, _res, _err, val: object) => ({ reqId: req.id, ...val }),
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? "error" : "info"),
    // A load balancer polls these every few seconds; a line each would bury the requests of people.
    autoLogging: { ignore: (req) => unlogged.has((req.url ?? "").split("?")[0] ?? "") },
  });
  return (req, res, next) => {
    const id = fromProxy(req) ?? randomUUID();
    req.id = id;
    res.setHeader("X-Request-ID", id);
    runInRequest(id, () => httpLog(req, res, next));
  };
}
