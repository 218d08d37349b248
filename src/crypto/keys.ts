import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createPrivateKey, createPublicKey, hkdfSync, randomBytes, webcrypto, type KeyObject } from "node:crypto";
import { join } from "node:path";
import "reflect-metadata"; // @peculiar/x509 needs it (tsyringe)
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as Crypto);

export interface SigningKey {
  readonly privateKey: KeyObject; // made once: xml-crypto re-parses a PEM string on every signature
  readonly certPem: string;
  /** Base64 DER of the certificate, as it goes into KeyInfo and metadata. */
  readonly certBase64: string;
}

const alg = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };

/** Makes an RSA-2048 key and a self-signed SHA-256 certificate valid for ten years. */
export async function generateSigningKey(commonName: string, now: Date): Promise<{ keyPem: string; certPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as unknown as CryptoKeyPair;
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  const keyPem = x509.PemConverter.encode(pkcs8, "PRIVATE KEY");
  return { keyPem, certPem: await selfSigned(keys, commonName, now) };
}

/** A new self-signed certificate for an existing private key (PEM, PKCS#8 or PKCS#1). */
export async function certificateFor(keyPem: string, commonName: string, now: Date): Promise<string> {
  const key = createPrivateKey(keyPem);
  const pkcs8 = key.export({ format: "der", type: "pkcs8" });
  const spki = createPublicKey(key).export({ format: "der", type: "spki" });
  const keys = {
    privateKey: await webcrypto.subtle.importKey("pkcs8", pkcs8, alg, false, ["sign"]),
    publicKey: await webcrypto.subtle.importKey("spki", spki, alg, true, ["verify"]),
  } as unknown as CryptoKeyPair;
  return selfSigned(keys, commonName, now);
}

async function selfSigned(keys: CryptoKeyPair, commonName: string, now: Date): Promise<string> {
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(16).toString("hex").replace(/^[89a-f]/, "1"),
    name: `CN=${commonName.replace(/[,+="<>#;\\]/g, "_")}`,
    notBefore: now,
    notAfter: new Date(now.getTime() + 10 * 365 * 24 * 3600 * 1000),
    signingAlgorithm: alg,
    keys,
    extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
  });
  return cert.toString("pem");
}

export function loadSigningKey(keyPem: string, certPem: string): SigningKey {
  const privateKey = createPrivateKey(keyPem);
  const cert = new x509.X509Certificate(certPem);
  const certKey = createPublicKey(cert.toString("pem"));
  const ours = createPublicKey(privateKey);
  if (!certKey.export({ format: "der", type: "spki" }).equals(ours.export({ format: "der", type: "spki" }))) {
    throw new KeyFileError("the signing certificate does not match the private key");
  }
  return { privateKey, certPem, certBase64: Buffer.from(cert.rawData).toString("base64") };
}

/** A key file that is missing, unreadable or does not fit the others: one line, saying what to do. */
export class KeyFileError extends Error {}

export interface KeyMaterial {
  signing: SigningKey;
  /**
   * One HMAC key per purpose, derived with HKDF-SHA-256 from KEYS_DIR/server-secret (32 random
   * bytes that never leave the keys directory). Replacing that file changes only these: forms in flight
   * and emailed codes not yet used stop working, nothing stored does.
   */
  derived: { csrf: Buffer; emailCodes: Buffer };
  /**
   * KEYS_DIR/nameid-key keys persistent NameIDs (HMAC of app and user). Never rotate it: every
   * persistent NameID would change and apps would see new users. On upgrade it starts as a copy
   * of the server secret, which keyed NameIDs before, so existing NameIDs stay the same.
   */
  nameIdKey: Buffer;
  /** 32 random bytes: the AES-256-GCM key for factor secrets at rest (TOTP). Losing it loses every enrolled authenticator app. */
  factorKey: Buffer;
  /** Files made on first start (never without `generate`). */
  created: string[];
  /** Other things done to the keys directory that the operator must hear about (one line each). */
  notices: string[];
}

/** HKDF labels: one per purpose, so a key for one can never be replayed as another's. */
const labels = { csrf: "gatehouse csrf v1", emailCodes: "gatehouse email-code v1" } as const;

export const deriveKey = (secret: Buffer, label: string): Buffer => Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), label, 32));

/** The files of a key set, in the order they are made and listed. */
export const keyFileNames = ["signing-key.pem", "signing-cert.pem", "server-secret", "nameid-key", "factor-key"] as const;

/**
 * Whether a start may write keys. Embedded (one node): yes, a whole set on first start and the
 * harmless repairs. Nodes sharing a keys directory: never, since a key one node made alone would
 * differ from the others' (and a shared secret mount is often read-only); `because` names the
 * setting that says so, for the one line that refuses the start.
 */
export type KeysMode = { readonly generate: true } | { readonly generate: false; readonly because: string };

const random32 = () => randomBytes(32).toString("base64");

/**
 * Makes a complete set in dir (made 0700 if absent): the signing key and its self-signed
 * certificate, the server secret, the NameID key and the factor key, each 0600. Everything is
 * generated before the first write and every file is created exclusively, so an existing file is
 * never replaced and a failure leaves no partial set behind. Returns the files made.
 */
export async function createKeySet(dir: string, commonName: string, now: Date): Promise<string[]> {
  const { keyPem, certPem } = await generateSigningKey(commonName, now);
  const contents = [keyPem, certPem, random32(), random32(), random32()];
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const made: string[] = [];
  try {
    keyFileNames.forEach((name, i) => {
      const file = join(dir, name);
      writeSecretFile(file, contents[i] as string);
      made.push(file);
    });
  } catch (e) {
    for (const file of made) rmSync(file, { force: true });
    throw e;
  }
  return made;
}

/**
 * Loads a key set from keysDir (files 0600 in a 0700 directory). With `generate`, everything is
 * made on first start, and of the partial states those that lose nothing are repaired with a
 * notice (a certificate made again from the existing key, a new server secret, a new signing
 * pair); the others stop the start with one line saying what to restore. Without it nothing is
 * ever written: any missing file stops the start with one line naming the directory and each
 * missing file.
 */
export async function ensureKeys(keysDir: string, commonName: string, now: Date, mode: KeysMode): Promise<KeyMaterial> {
  const dir = keysDir;
  const keyFile = join(dir, "signing-key.pem");
  const certFile = join(dir, "signing-cert.pem");
  const secretFile = join(dir, "server-secret");
  const nameIdFile = join(dir, "nameid-key");
  const factorFile = join(dir, "factor-key");
  const missing = keyFileNames.filter((name) => !existsSync(join(dir, name)));
  const firstStart = missing.length === keyFileNames.length;
  const created: string[] = [];
  const notices: string[] = [];

  if (!mode.generate) {
    if (missing.length) throw new KeyFileError(missingKeysLine(dir, missing, mode.because));
  } else if (firstStart) {
    created.push(...(await createKeySet(dir, commonName, now)));
  } else {
    if (!existsSync(factorFile)) {
      throw new KeyFileError(`${factorFile} is missing while other keys exist: restore it from backup (without it no authenticator app set up so far can be read)`);
    }
    if (!existsSync(nameIdFile)) {
      // Before nameid-key existed the server secret keyed NameIDs: keep them as they were.
      if (!existsSync(secretFile)) throw new KeyFileError(`${nameIdFile} and ${secretFile} are missing while other keys exist: restore them from backup (persistent NameIDs depend on them)`);
      writeSecretFile(nameIdFile, readFileSync(secretFile, "utf8"));
      notices.push(`created ${nameIdFile} as a copy of ${secretFile}, which keyed persistent NameIDs until now: back it up, and never replace it (every persistent NameID would change)`);
    }
    if (!existsSync(keyFile) && existsSync(certFile)) {
      throw new KeyFileError(`${keyFile} is missing but ${certFile} exists: restore the key from backup, or remove the certificate too to make a new pair (every app must then be given the new certificate)`);
    }
    if (!existsSync(keyFile)) {
      const { keyPem, certPem } = await generateSigningKey(commonName, now);
      writeSecretFile(keyFile, keyPem);
      writeSecretFile(certFile, certPem);
      notices.push(`made a new signing key and certificate in ${dir}: every app must be given the new certificate (/saml/metadata)`);
    } else if (!existsSync(certFile)) {
      writeSecretFile(certFile, await certificateFor(readKeyFile(keyFile), commonName, now));
      notices.push(`made ${certFile} again from the existing signing key: apps that pinned the old certificate must be given this one (/saml/metadata)`);
    }
    if (!existsSync(secretFile)) {
      writeSecretFile(secretFile, random32());
      notices.push(`made a new ${secretFile}: sign-in forms open in browsers and emailed codes not yet used stop working`);
    }
  }

  let signing: SigningKey;
  try {
    signing = loadSigningKey(readKeyFile(keyFile), readKeyFile(certFile));
  } catch (e) {
    throw e instanceof KeyFileError ? new KeyFileError(`${certFile}: ${e.message}`) : new KeyFileError(`${keyFile} or ${certFile} cannot be read as PEM: ${(e as Error).message}`);
  }
  const serverSecret = readBytes(secretFile, (n) => n >= 32, "at least 32 bytes");
  return {
    signing,
    derived: { csrf: deriveKey(serverSecret, labels.csrf), emailCodes: deriveKey(serverSecret, labels.emailCodes) },
    nameIdKey: readBytes(nameIdFile, (n) => n >= 32, "at least 32 bytes"),
    factorKey: readBytes(factorFile, (n) => n === 32, "exactly 32 bytes"),
    created,
    notices,
  };
}

/** The one line that refuses a start which may not make keys: the directory, each missing file, what to provide. */
function missingKeysLine(dir: string, missing: readonly string[], because: string): string {
  const files = missing.map((name) =>
    // A set made before nameid-key existed: the server secret keyed NameIDs, so a copy keeps them.
    name === "nameid-key" && !missing.includes("server-secret") ? "nameid-key (a set made before it existed: copy server-secret to it)" : name,
  );
  const what =
    missing.length === keyFileNames.length
      ? `provide the key set every node shares there (\`node src/main.ts keys init ${dir}\` makes a set)`
      : `restore them from the backup of the set the other nodes use (\`node src/main.ts keys init DIR\` makes a new set, which replaces the certificate every app trusts and loses every enrolled authenticator app)`;
  return `keys missing in ${dir}: ${files.join(", ")}; this node never makes keys (${because}): ${what}`;
}

function readKeyFile(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new KeyFileError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function readBytes(file: string, ok: (length: number) => boolean, want: string): Buffer {
  const bytes = Buffer.from(readKeyFile(file).trim(), "base64");
  if (!ok(bytes.length)) throw new KeyFileError(`${file} must hold ${want} (base64)`);
  return bytes;
}

function writeSecretFile(file: string, content: string): void {
  try {
    writeFileSync(file, content, { mode: 0o600, flag: "wx" });
    chmodSync(file, 0o600);
  } catch (e) {
    throw new KeyFileError(`cannot create ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
