import { X509Certificate } from "node:crypto";
import { chmodSync, existsSync, readFileSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { systemClock } from "../clock.ts";
import type { Config } from "../config.ts";
import { createKeySet, ensureKeys, KeyFileError, keyFileNames } from "../crypto/keys.ts";
import { UsageError } from "./apps.ts";
import { parseCommand } from "./args.ts";

export const keysHelp = {
  init: `Usage: node src/main.ts keys init DIR [--common-name NAME]

Makes a complete key set in DIR (made 0700; every file 0600): an RSA-2048 signing key with a
self-signed SHA-256 certificate valid ten years (CN=NAME, default the host of GATEHOUSE_BASE_URL),
the server secret, the NameID key and the factor key. Never replaces an existing set.

For nodes that share one set: make it once, put it on the secret mount every node reads, and
start each node with GATEHOUSE_KEYS_DIR=DIR GATEHOUSE_KEYS_GENERATE=false (such a node never
makes keys and refuses to start, in one line, when a file is missing).`,
  show: `Usage: node src/main.ts keys show [DIR]

Checks the key set in DIR (default GATEHOUSE_KEYS_DIR, else GATEHOUSE_DATA_DIR/keys) as a node
that never makes keys would, and prints the certificate's subject, SHA-256 fingerprint and
validity. Prints no secret and changes nothing.`,
} as const;

/** What each file is for, as `keys init` reports it. */
const purposes: Record<(typeof keyFileNames)[number], string> = {
  "signing-key.pem": "signs assertions and logout messages; back up (losing it means a new certificate in every app)",
  "signing-cert.pem": "the certificate apps trust (/saml/metadata); public",
  "server-secret": "keys CSRF tokens and emailed codes; may be rotated (open forms and unused codes stop working)",
  "nameid-key": "keys persistent NameIDs; back up, never rotate (apps would see new users)",
  "factor-key": "seals authenticator app secrets; back up (losing it loses every enrolled authenticator app)",
};

/** `keys init|show`. */
export async function keysCommand(config: Config, sub: string | undefined, args: string[]): Promise<void> {
  if (sub === "init") {
    const { values, positionals } = parseCommand(args, { "common-name": { type: "string" } }, keysHelp.init);
    if (positionals.length !== 1) throw new UsageError(`keys init takes one directory\n\n${keysHelp.init}`);
    const dir = resolve(positionals[0] as string);
    const commonName = (values["common-name"] as string | undefined) ?? new URL(config.baseUrl).hostname;
    if (existsSync(dir) && !statSync(dir).isDirectory()) throw new KeyFileError(`${dir} exists and is not a directory`);
    const present = keyFileNames.filter((name) => existsSync(join(dir, name)));
    if (present.length) {
      throw new KeyFileError(
        `${dir} already holds keys (${present.join(", ")}): keys init never replaces a set; to make a new one, remove those files yourself or choose another directory (a new set means a new certificate in every app and the loss of every enrolled authenticator app)`,
      );
    }
    const made = await createKeySet(dir, commonName, new Date(systemClock.now()));
    chmodSync(dir, 0o700); // also when it existed: it holds secrets
    const cert = new X509Certificate(readFileSync(join(dir, "signing-cert.pem")));
    console.log(`Made a key set in ${dir} (directory 0700, files 0600):`);
    for (const file of made) {
      const name = basename(file) as (typeof keyFileNames)[number];
      console.log(`  ${name.padEnd(17)} ${purposes[name]}`);
    }
    console.log(`Certificate: ${cert.subject}, valid until ${cert.validToDate.toISOString()}, SHA-256 ${cert.fingerprint256}`);
    console.log(`Back up the whole directory now, as carefully as the keys themselves. Every node: GATEHOUSE_KEYS_DIR=${dir} GATEHOUSE_KEYS_GENERATE=false`);
    return;
  }
  if (sub === "show") {
    const { positionals } = parseCommand(args, {}, keysHelp.show);
    if (positionals.length > 1) throw new UsageError(`keys show takes at most one directory\n\n${keysHelp.show}`);
    const dir = positionals[0] === undefined ? config.keysDir : resolve(positionals[0]);
    const keys = await ensureKeys(dir, "", new Date(systemClock.now()), { generate: false, because: "keys show only reads" });
    const cert = new X509Certificate(keys.signing.certPem);
    console.log(`Key set in ${dir}: complete; the key and the certificate match, every secret has its length`);
    console.log(`Certificate: ${cert.subject}`);
    console.log(`  SHA-256 fingerprint ${cert.fingerprint256}`);
    console.log(`  valid from ${cert.validFromDate.toISOString()} until ${cert.validToDate.toISOString()}`);
    for (const path of [dir, ...keyFileNames.map((name) => join(dir, name))]) {
      const mode = statSync(path).mode & 0o777;
      if (mode & 0o077) console.log(`NOTICE: ${path} is mode ${mode.toString(8).padStart(4, "0")}: others than Gatehouse's user can read it (want ${path === dir ? "0700" : "0600"})`);
    }
    return;
  }
  throw new UsageError(`unknown keys command ${sub ?? ""}\n\n${keysHelp.init}\n\n${keysHelp.show}`);
}
