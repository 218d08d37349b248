import type { Request } from "express";
import { hmac, safeEqual } from "../crypto/tokens.ts";
import { GatehouseError } from "../errors.ts";

/**
 * Synchroniser tokens: an HMAC of what the form is bound to (a login transaction and its
 * browser cookie, or a session), plus a same-origin check on the request's own headers.
 */
export class Csrf {
  readonly #key: Buffer;
  readonly #origin: string;

  constructor(key: Buffer, baseUrl: string) {
    this.#key = key;
    this.#origin = new URL(baseUrl).origin;
  }

  token(purpose: string, boundTo: string): string {
    return hmac(this.#key, `csrf:${purpose}:${boundTo}`);
  }

  check(req: Request, purpose: string, boundTo: string, token: unknown): void {
    const site = req.headers["sec-fetch-site"];
    if (site !== undefined && site !== "same-origin" && site !== "none") throw new GatehouseError("csrf_failed", `Sec-Fetch-Site: ${site}`);
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== this.#origin) throw new GatehouseError("csrf_failed", `Origin: ${origin}`);
    if (typeof token !== "string" || !safeEqual(token, this.token(purpose, boundTo))) throw new GatehouseError("csrf_failed", "token mismatch");
  }
}
