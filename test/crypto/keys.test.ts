import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { createPublicKey, randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createKeySet, ensureKeys, generateSigningKey, KeyFileError, keyFileNames, type KeysMode } from "../../src/crypto/keys.ts";
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
/** Loads DATA_DIR/keys as an embedded start does (generate), or as a node sharing a set does. */
const load = (at = now, mode: KeysMode = { generate: true }) => ensureKeys(join(dataDir, "keys"), "idp.example.test", at, mode);
const shared: KeysMode = { generate: false, because: "GATEHOUSE_KEYS_GENERATE=false" };
/** Every file of the keys directory with its bytes and mtime: what "writes nothing" compares. */
const snapshot = () => readdirSync(join(dataDir, "keys")).sort().map((n) => [n, readFileSync(keys(n), "base64"), statSync(keys(n)).mtimeMs]);
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

/** A keys directory as Gatehouse made it before nameid-key existed: the server secret keyed NameIDs. */
async function olderLayout(serverSecret: Buffer): Promise<void> {
  await load();
  unlinkSync(keys("nameid-key"));
  unlinkSync(keys("server-secret"));
  writeFileSync(keys("server-secret"), serverSecret.toString("base64"), { mode: 0o600 });
}

describe("the keys directory", () => {
  it("is made on first start: five files, 0600, in a 0700 directory, and loaded unchanged on the next start", async () => {
    fresh();
    const first = await load();
    const names = ["signing-key.pem", "signing-cert.pem", "server-secret", "nameid-key", "factor-key"];
    expect(first.created).toEqual(names.map(keys));
    expect([mode(join(dataDir, "keys")), ...names.map((n) => mode(keys(n)))]).toEqual(["700", "600", "600", "600", "600", "600"]);
    const second = await load();
    expect([second.created, second.notices]).toEqual([[], []]);
    expect([second.signing.certPem, second.derived, second.nameIdKey, second.factorKey]).toEqual([first.signing.certPem, first.derived, first.nameIdKey, first.factorKey]);
  });

  it("gives CSRF, email codes and NameIDs keys of their own, none of them the server secret itself", async () => {
    fresh();
    const k = await load();
    const secret = Buffer.from(readFileSync(keys("server-secret"), "utf8"), "base64");
    const all = [secret, k.derived.csrf, k.derived.emailCodes, k.nameIdKey].map((b) => b.toString("hex"));
    expect(new Set(all).size).toBe(4);
    expect(k.derived.csrf).toHaveLength(32);
  });

  it("keeps persistent NameIDs when upgraded: nameid-key starts as a copy of the server secret, with a notice", async () => {
    fresh();
    const secret = randomBytes(32);
    await olderLayout(secret);
    const k = await load();
    expect(k.nameIdKey.equals(secret)).toBe(true);
    expect(mode(keys("nameid-key"))).toBe("600");
    expect(k.notices).toEqual([expect.stringContaining("nameid-key as a copy of")]);
  });

  it("lets the server secret be replaced (delete it and restart) without touching NameIDs", async () => {
    fresh();
    const before = await load();
    unlinkSync(keys("server-secret"));
    const after = await load();
    expect(after.notices).toEqual([expect.stringContaining("made a new")]);
    expect(after.derived.csrf.equals(before.derived.csrf) || after.derived.emailCodes.equals(before.derived.emailCodes)).toBe(false);
    expect(after.nameIdKey.equals(before.nameIdKey)).toBe(true);
  });

  it("makes the certificate again from the existing key when only the certificate is missing, with a notice", async () => {
    fresh();
    const before = await load();
    unlinkSync(keys("signing-cert.pem"));
    const after = await load(new Date("2026-04-01T00:00:00Z"));
    expect(spki(after.signing.certPem)).toBe(spki(before.signing.certPem));
    expect(after.signing.certPem).not.toBe(before.signing.certPem);
    expect(after.notices).toEqual([expect.stringContaining("again from the existing signing key")]);
    expect(mode(keys("signing-cert.pem"))).toBe("600");
  });

  it("makes a new pair when both the key and the certificate are gone, and says every app needs the new certificate", async () => {
    fresh();
    const before = await load();
    unlinkSync(keys("signing-key.pem"));
    unlinkSync(keys("signing-cert.pem"));
    const after = await load();
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
    await load();
    await damage();
    const err = await load().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyFileError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain("\n");
  });
});

describe("a node that never makes keys (generate: false, nodes sharing one set)", () => {
  /** The refusal a shared-set start gets: a KeyFileError of one line. */
  const refusal = async (): Promise<string> => {
    const err = await load(now, shared).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyFileError);
    const message = (err as Error).message;
    expect(message).not.toContain("\n");
    return message;
  };

  it("loads a complete set as an embedded start would, and writes nothing: no file made or touched, no notice", async () => {
    fresh();
    const made = await load();
    const before = snapshot();
    const k = await load(now, shared);
    expect([k.created, k.notices]).toEqual([[], []]);
    expect([k.signing.certPem, k.derived, k.nameIdKey, k.factorKey]).toEqual([made.signing.certPem, made.derived, made.nameIdKey, made.factorKey]);
    expect(snapshot()).toEqual(before);
  });

  it.each([
    ["absent", () => undefined],
    ["empty", () => mkdirSync(join(dataDir, "keys"))],
  ])("refuses when the directory is %s: one line naming it, all five files, why, and keys init; no directory is made", async (_name, prepare) => {
    fresh();
    prepare();
    const existed = existsSync(join(dataDir, "keys"));
    const message = await refusal();
    expect(message).toBe(
      `keys missing in ${join(dataDir, "keys")}: signing-key.pem, signing-cert.pem, server-secret, nameid-key, factor-key; this node never makes keys (GATEHOUSE_KEYS_GENERATE=false): provide the key set every node shares there (\`node src/main.ts keys init ${join(dataDir, "keys")}\` makes a set)`,
    );
    expect(existsSync(join(dataDir, "keys"))).toBe(existed);
    if (existed) expect(readdirSync(join(dataDir, "keys"))).toEqual([]);
  });

  it.each(keyFileNames.map((name) => [name]))("refuses when only %s is missing, in one line naming the directory and that file, and repairs nothing", async (name) => {
    fresh();
    await load();
    unlinkSync(keys(name));
    const before = snapshot();
    const message = await refusal();
    expect(message).toMatch(new RegExp(`^keys missing in ${join(dataDir, "keys")}: ${name}[ ;]`));
    expect(message).toContain("restore them from the backup of the set the other nodes use");
    expect(message).toContain("`node src/main.ts keys init DIR` makes a new set");
    // What an embedded start would repair (a certificate, a server secret, a signing pair) stays missing here.
    expect(snapshot()).toEqual(before);
  });

  it("names each missing file when several are", async () => {
    fresh();
    await load();
    unlinkSync(keys("signing-key.pem"));
    unlinkSync(keys("factor-key"));
    expect(await refusal()).toContain(`keys missing in ${join(dataDir, "keys")}: signing-key.pem, factor-key;`);
  });

  it("does not copy the server secret to nameid-key as an embedded upgrade does, but says to", async () => {
    fresh();
    await olderLayout(randomBytes(32));
    expect(await refusal()).toContain("nameid-key (a set made before it existed: copy server-secret to it)");
    expect(existsSync(keys("nameid-key"))).toBe(false);
  });

  it.each<[string, () => void | Promise<void>, RegExp]>([
    ["the certificate belongs to another key", async () => writeFileSync(keys("signing-cert.pem"), (await generateSigningKey("other", now)).certPem), /does not match the private key/],
    ["the server secret is too short", () => writeFileSync(keys("server-secret"), randomBytes(16).toString("base64")), /server-secret must hold at least 32 bytes/],
  ])("checks a complete set as strictly: refuses when %s", async (_name, damage, message) => {
    fresh();
    await load();
    await damage();
    expect(await refusal()).toMatch(message);
  });
});

describe("createKeySet (keys init and the first embedded start)", () => {
  it("never replaces a file: with one already there it fails, leaves it as it was and leaves nothing else behind", async () => {
    fresh();
    const dir = join(dataDir, "keys");
    mkdirSync(dir);
    writeFileSync(join(dir, "nameid-key"), "kept");
    const err = await createKeySet(dir, "idp.example.test", now).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyFileError);
    expect((err as Error).message).toMatch(/cannot create .*nameid-key: EEXIST/);
    expect(readdirSync(dir)).toEqual(["nameid-key"]);
    expect(readFileSync(join(dir, "nameid-key"), "utf8")).toBe("kept");
  });

  it("makes the five files of a set, 0600 in a 0700 directory, that a node sharing it loads", async () => {
    fresh();
    const made = await createKeySet(join(dataDir, "keys", "nested"), "idp.example.test", now);
    expect(made).toEqual(keyFileNames.map((n) => join(dataDir, "keys", "nested", n)));
    expect([mode(join(dataDir, "keys", "nested")), ...made.map(mode)]).toEqual(["700", "600", "600", "600", "600", "600"]);
    const k = await ensureKeys(join(dataDir, "keys", "nested"), "ignored", now, shared);
    expect(new Set([k.nameIdKey, k.factorKey, Buffer.from(readFileSync(made[2] as string, "utf8"), "base64")].map((b) => b.toString("hex"))).size).toBe(3);
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
