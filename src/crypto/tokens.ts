import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** 256-bit random token, base64url. */
export const randomToken = (bytes = 32): string => randomBytes(bytes).toString("base64url");

/** SAML IDs must be NCNames: they may not start with a digit. */
export const samlId = (): string => `_${randomBytes(20).toString("hex")}`;

export const sha256 = (value: string): string => createHash("sha256").update(value).digest("base64url");

export const hmac = (key: Buffer, value: string): string => createHmac("sha256", key).update(value).digest("base64url");

export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
