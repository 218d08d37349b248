import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { createPublicKey, randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ensureKeys, generateSigningKey, KeyFileError } from "../../src/crypto/keys.ts";
import { hmac } from "../../src/crypto/tokens.ts";
import { Browser } from "../helpers/client.ts";
import { startGatehouse } from "../helpers/gatehouse.ts";
import { journeys } from "../helpers/journeys.ts";
import { makeSp, readIdpMetadata } from "../helpers/sp.ts";

const now = new Date("2026-03-01T12:00:00Z");
const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
const spki = (pem: string) => createPublicKey(pem).export({ format: "der", type: "spki" }).toString("base64");

let dataDir: string;
const keys = (name: string) => join(dataDir, "keys", name);
const fresh = () => (dataDir = mkdtempSync(join(tmpdir(), "gatehouse-keys-")));
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

/** A keys directory as Gatehouse made it before nameid-key existed: the server secret keyed NameIDs. */
async function olderLayout(serverSecret: Buffer): Promise<void> {
  await ensureKeys(dataDir, "idp.example.test", now);
  unlinkSync(keys("nameid-key"));
  unlinkSync(keys("server-secret"));
  writeFileSync(keys("server-secret"), serverSecret.toString("base64"), { mode: 0o600 });
}

describe("the keys directory", () => {
  it("is made on first start: five files, 0600, in a 0700 directory, and loaded unchanged on the next start", async () => {
    fresh();
    const first = await ensureKeys(dataDir, "idp.example.test", now);
    const names = ["signing-key.pem", "signing-cert.pem", "server-secret", "nameid-key", "factor-key"];
    expect(first.created).toEqual(names.map(keys));
    expect([mode(join(dataDir, "keys")), ...names.map((n) => mode(keys(n)))]).toEqual(["700", "600", "600", "600", "600", "600"]);
    const second = await ensureKeys(dataDir, "idp.example.test", now);
    expect([second.created, second.notices]).toEqual([[], []]);
    expect([second.signing.certPem, second.derived, second.nameIdKey, second.factorKey]).toEqual([first.signing.certPem, first.derived, first.nameIdKey, first.factorKey]);
  });

  it("gives CSRF, email codes and NameIDs keys of their own, none of them the server secret itself", async () => {
    fresh();
    const k = await ensureKeys(dataDir, "idp.example.test", now);
    const secret = Buffer.from(readFileSync(keys("server-secret"), "utf8"), "base64");
    const all = [secret, k.derived.csrf, k.derived.emailCodes, k.nameIdKey].map((b) => b.toString("hex"));
    expect(new Set(all).size).toBe(4);
    expect(k.derived.csrf).toHaveLength(32);
  });

  it("keeps persistent NameIDs when upgraded: nameid-key starts as a copy of the server secret, with a notice", async () => {
    fresh();
    const secret = randomBytes(32);
    await olderLayout(secret);
    const k = await ensureKeys(dataDir, "idp.example.test", now);
    expect(k.nameIdKey.equals(secret)).toBe(true);
    expect(mode(keys("nameid-key"))).toBe("600");
    expect(k.notices).toEqual([expect.stringContaining("nameid-key as a copy of")]);
  });

  it("lets the server secret be replaced (delete it and restart) without touching NameIDs", async () => {
    fresh();
    const before = await ensureKeys(dataDir, "idp.example.test", now);
    unlinkSync(keys("server-secret"));
    const after = await ensureKeys(dataDir, "idp.example.test", now);
    expect(after.notices).toEqual([expect.stringContaining("made a new")]);
    expect(after.derived.csrf.equals(before.derived.csrf) || after.derived.emailCodes.equals(before.derived.emailCodes)).toBe(false);
    expect(after.nameIdKey.equals(before.nameIdKey)).toBe(true);
  });

  it("makes the certificate again from the existing key when only the certificate is missing, with a notice", async () => {
    fresh();
    const before = await ensureKeys(dataDir, "idp.example.test", now);
    unlinkSync(keys("signing-cert.pem"));
    const after = await ensureKeys(dataDir, "idp.example.test", new Date("2026-04-01T00:00:00Z"));
    expect(spki(after.signing.certPem)).toBe(spki(before.signing.certPem));
    expect(after.signing.certPem).not.toBe(before.signing.certPem);
    expect(after.notices).toEqual([expect.stringContaining("again from the existing signing key")]);
    expect(mode(keys("signing-cert.pem"))).toBe("600");
  });

  it("makes a new pair when both the key and the certificate are gone, and says every app needs the new certificate", async () => {
    fresh();
    const before = await ensureKeys(dataDir, "idp.example.test", now);
    unlinkSync(keys("signing-key.pem"));
    unlinkSync(keys("signing-cert.pem"));
    const after = await ensureKeys(dataDir, "idp.example.test", now);
    expect(spki(after.signing.certPem)).not.toBe(spki(before.signing.certPem));
    expect(after.notices).toEqual([expect.stringContaining("every app must be given the new certificate")]);
  });

  it.each<[string, () => void | Promise<void>, RegExp]>([
    ["the key is missing but its certificate is there", () => unlinkSync(keys("signing-key.pem")), /signing-key\.pem is missing but .*signing-cert\.pem exists/],
    ["the factor key is missing", () => unlinkSync(keys("factor-key")), /factor-key is missing while other keys exist/],
    ["nameid-key and the server secret are both missing", () => [keys("nameid-key"), keys("server-secret")].forEach((f) => unlinkSync(f)), /nameid-key and .*server-secret are missing/],
    ["the certificate belongs to another key", async () => writeFileSync(keys("signing-cert.pem"), (await generateSigningKey("other", now)).certPem), /does not match the private key/],
    ["the factor key is too short", () => writeFileSync(keys("factor-key"), randomBytes(16).toString("base64")), /factor-key must hold exactly 32 bytes/],
  ])("refuse to start, in one line, when %s", async (_name, damage, message) => {
    fresh();
    await ensureKeys(dataDir, "idp.example.test", now);
    await damage();
    const err = await ensureKeys(dataDir, "idp.example.test", now).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyFileError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain("\n");
  });
});

describe("a persistent NameID after the upgrade", () => {
  it("is the one the server secret gave before (HMAC of app and user), so apps see the same users", async () => {
    fresh();
    const secret = randomBytes(32);
    await olderLayout(secret);
    const gh = await startGatehouse({ GATEHOUSE_DATA_DIR: dataDir });
    try {
      const user = await gh.addUser("ada", "correct horse battery");
      const sp = await makeSp(await readIdpMetadata(`${gh.url}/saml/metadata`), "pairwise", { identifierFormat: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" });
      await gh.addApp({ entityId: sp.entityId, acs: [{ url: sp.acs, index: 0, isDefault: true }], nameIdFormat: "persistent" });
      const j = journeys(() => gh, "correct horse battery");
      const { nameId } = await j.accepted(sp, await j.signIn(new Browser(), sp, "ada"));
      expect(nameId).toBe(hmac(secret, `nameid:${sp.entityId}:${user.id}`));
    } finally {
      await gh.close();
    }
  });
});
