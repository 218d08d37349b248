import type { Request } from "express";
import { GatehouseError } from "../../errors.ts";
import { decodePostMessage, decodeRedirectMessage, type Limits } from "../bindings.ts";

export interface InboundMessage {
  binding: "HTTP-Redirect" | "HTTP-POST";
  param: "SAMLRequest" | "SAMLResponse";
  xml: string;
  relayState: string | null;
  /** The raw query string: Redirect-binding signatures cover its exact bytes. */
  rawQuery: string;
  signedByQuery: boolean;
}

const maxRelayState = 1024;

function single(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw new GatehouseError("saml_message_malformed", `${name} given more than once`);
  return value;
}

/** Decodes a SAML message from either binding, bounded before any decoding. */
export function readInbound(req: Request, limits: Limits, accept: readonly ("SAMLRequest" | "SAMLResponse")[]): InboundMessage {
  const binding = req.method === "POST" ? "HTTP-POST" : "HTTP-Redirect";
  const source = (binding === "HTTP-POST" ? req.body : req.query) as Record<string, unknown> | undefined;
  const rawQuery = req.originalUrl.includes("?") ? req.originalUrl.slice(req.originalUrl.indexOf("?") + 1) : "";
  const found = accept.map((p) => [p, single(source?.[p], p)] as const).filter(([, v]) => v !== undefined);
  if (found.length !== 1) throw new GatehouseError(found.length === 0 ? "saml_message_missing" : "saml_message_malformed", `expected one of ${accept.join("/")}`);
  const [param, encoded] = found[0] as readonly [InboundMessage["param"], string];
  const relayState = single(source?.RelayState, "RelayState") ?? null;
  if (relayState !== null && relayState.length > maxRelayState) throw new GatehouseError("saml_message_too_large", "RelayState over 1024 characters");
  const xml = binding === "HTTP-POST" ? decodePostMessage(encoded, limits) : decodeRedirectMessage(encoded, limits);
  return { binding, param, xml, relayState, rawQuery, signedByQuery: binding === "HTTP-Redirect" && source?.Signature !== undefined };
}
