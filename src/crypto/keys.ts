import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createPrivateKey, createPublicKey, randomBytes, webcrypto, type KeyObject } from "node:crypto";
import { join } from "node:path";
import "reflect-metadata"; // @peculiar/x509 needs it (tsyringe)
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as Crypto);

export interface SigningKey {
  readonly privateKey: KeyObject; // made once: xml-crypto re-parses a PEM string on every signature
  readonly privateKeyPem: string;
  readonly certPem: string;
  /** Base64 DER of the certificate, as it goes into KeyInfo and metadata. */
  readonly certBase64: string;
}

const alg = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };

/** Makes an RSA-2048 key and a self-signed SHA-256 certificate valid for ten years. */
export async function generateSigningKey(commonName: string, now: Date): Promise<{ keyPem: string; certPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as unknown as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(16).toString("hex").replace(/^[89a-f]/, "1"),
    name: `CN=${commonName.replace(/[,+="<>#;\\]/g, "_")}`,
    notBefore: now,
    notAfter: new Date(now.getTime() + 10 * 365 * 24 * 3600 * 1000),
    signingAlgorithm: alg,
    keys,
    extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
  });
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  const keyPem = x509.PemConverter.encode(pkcs8, "PRIVATE KEY");
  return { keyPem, certPem: cert.toString("pem") };
}

export function loadSigningKey(keyPem: string, certPem: string): SigningKey {
  const privateKey = createPrivateKey(keyPem);
  const cert = new x509.X509Certificate(certPem);
  const certKey = createPublicKey(cert.toString("pem"));
  const ours = createPublicKey(privateKey);
  if (!certKey.export({ format: "der", type: "spki" }).equals(ours.export({ format: "der", type: "spki" }))) {
    throw new Error("the signing certificate does not match the private key");
  }
  return { privateKey, privateKeyPem: keyPem, certPem, certBase64: Buffer.from(cert.rawData).toString("base64") };
}

export interface KeyMaterial {
  signing: SigningKey;
  /** 32 random bytes for HMACs (CSRF tokens); never leaves the machine. */
  serverSecret: Buffer;
  /** 32 random bytes: the AES-256-GCM key for factor secrets at rest (TOTP). Its own file, so the server secret can rotate alone. */
  factorKey: Buffer;
  created: string[];
}

/** Loads data/keys, creating the signing key, certificate, server secret and factor key on first start (files 0600). */
export async function ensureKeys(dataDir: string, commonName: string, now: Date): Promise<KeyMaterial> {
  const dir = join(dataDir, "keys");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keyFile = join(dir, "signing-key.pem");
  const certFile = join(dir, "signing-cert.pem");
  const secretFile = join(dir, "server-secret");
  const factorFile = join(dir, "factor-key");
  const created: string[] = [];
  if (!existsSync(keyFile) || !existsSync(certFile)) {
    const { keyPem, certPem } = await generateSigningKey(commonName, now);
    writeSecretFile(keyFile, keyPem);
    writeSecretFile(certFile, certPem);
    created.push(keyFile, certFile);
  }
  for (const file of [secretFile, factorFile]) {
    if (!existsSync(file)) {
      writeSecretFile(file, randomBytes(32).toString("base64"));
      created.push(file);
    }
  }
  const signing = loadSigningKey(readFileSync(keyFile, "utf8"), readFileSync(certFile, "utf8"));
  const serverSecret = Buffer.from(readFileSync(secretFile, "utf8").trim(), "base64");
  if (serverSecret.length < 32) throw new Error(`${secretFile} must hold at least 32 bytes (base64)`);
  const factorKey = Buffer.from(readFileSync(factorFile, "utf8").trim(), "base64");
  if (factorKey.length !== 32) throw new Error(`${factorFile} must hold exactly 32 bytes (base64)`);
  return { signing, serverSecret, factorKey, created };
}

function writeSecretFile(file: string, content: string): void {
  writeFileSync(file, content, { mode: 0o600, flag: "wx" });
  chmodSync(file, 0o600);
}
