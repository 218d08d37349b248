import { argon2, randomBytes, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";
import { GatehouseError } from "../errors.ts";

const argon2Async = promisify(argon2);

// OWASP's argon2id minimum (m=19 MiB, t=2, p=1): ~18 ms here, on the thread pool.
const params = { memory: 19_456, passes: 2, parallelism: 1, tagLength: 32 } as const;

/**
 * Hashes run 4 at a time (19 MiB each; the pool has 4 threads by default) and at most 64 wait,
 * about a third of a second of work: past that a sign-in is answered `server_busy` (503) at once
 * instead of queueing without end while a flood holds every slot.
 */
export const argon2Limits = { maxConcurrent: 4, maxWaiting: 64 } as const;

let running = 0;
const waiting: (() => void)[] = [];

async function bounded<T>(work: () => Promise<T>): Promise<T> {
  if (running < argon2Limits.maxConcurrent) running++;
  else if (waiting.length >= argon2Limits.maxWaiting) throw new GatehouseError("server_busy", `argon2: ${running} running, ${waiting.length} waiting`);
  else await new Promise<void>((r) => waiting.push(r)); // the slot is handed over by the hash that ends
  try {
    return await work();
  } finally {
    // Hand the slot straight to the next in line, so a newcomer cannot take it in between.
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}

// NIST 800-63B: apply Unicode normalisation so the same password typed on two keyboards matches.
const normalise = (password: string): Buffer => Buffer.from(password.normalize("NFKC"), "utf8");

const b64 = (b: Buffer): string => b.toString("base64").replace(/=+$/, "");

/** Hashes a secret with argon2id into a PHC string. */
export async function hashSecret(secret: string): Promise<string> {
  const nonce = randomBytes(16);
  const tag = await bounded(() => argon2Async("argon2id", { message: normalise(secret), nonce, ...params }));
  return `$argon2id$v=19$m=${params.memory},t=${params.passes},p=${params.parallelism}$${b64(nonce)}$${b64(tag)}`;
}

const phc = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

/** Verifies a secret against a PHC string; false for any malformed hash. */
export async function verifySecret(secret: string, hash: string): Promise<boolean> {
  const m = phc.exec(hash);
  if (!m) return false;
  const [, memory, passes, parallelism, nonce, expected] = m as unknown as [string, string, string, string, string, string];
  const want = Buffer.from(expected, "base64");
  const got = await bounded(() =>
    argon2Async("argon2id", {
      message: normalise(secret),
      nonce: Buffer.from(nonce, "base64"),
      memory: Number(memory),
      passes: Number(passes),
      parallelism: Number(parallelism),
      tagLength: want.length,
    }),
  );
  return got.length === want.length && timingSafeEqual(got, want);
}

/** A real hash of a random secret: verifying against it costs the same as against a user's. */
let dummy: Promise<string> | undefined;
export const dummyHash = (): Promise<string> =>
  (dummy ??= hashSecret(randomBytes(16).toString("hex")).catch((e: unknown) => {
    dummy = undefined; // a busy moment must not leave a rejected promise cached for good
    throw e;
  }));
