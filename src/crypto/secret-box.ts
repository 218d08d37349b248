import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

const ivBytes = 12;
// The full 128-bit tag: GCM also accepts a tag cut to 4 bytes, which would make forging a value
// a matter of 2^32 tries instead of 2^128.
const tagBytes = 16;

/**
 * AES-256-GCM for secrets Gatehouse must read back (TOTP seeds). The associated data binds a
 * ciphertext to its owner and purpose, so a value copied to another user's row does not decrypt.
 * Format: v1.<iv>.<tag>.<ciphertext>, base64url.
 */
export class SecretBox {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error("SecretBox needs a 32-byte key");
    this.#key = key;
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(ivBytes);
    const cipher = createCipheriv("aes-256-gcm", this.#key, iv, { authTagLength: tagBytes });
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    return ["v1", iv, cipher.getAuthTag(), body].map((p) => (typeof p === "string" ? p : p.toString("base64url"))).join(".");
  }

  /** The plaintext, or null when the value was altered, moved or sealed with another key. */
  open(sealed: string, context: string): string | null {
    const [version, iv, tag, body, extra] = sealed.split(".");
    if (version !== "v1" || !iv || !tag || body === undefined || extra !== undefined) return null;
    const ivBuf = Buffer.from(iv, "base64url");
    const tagBuf = Buffer.from(tag, "base64url");
    if (ivBuf.length !== ivBytes || tagBuf.length !== tagBytes) return null;
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.#key, ivBuf, { authTagLength: tagBytes });
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(tagBuf);
      return Buffer.concat([decipher.update(Buffer.from(body, "base64url")), decipher.final()]).toString("utf8");
    } catch {
      return null;
    }
  }
}
