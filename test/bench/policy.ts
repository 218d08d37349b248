/**
 * Policy decisions per second for IP lists of 10, 1,000 and 100,000 mixed IPv4/IPv6 CIDR entries,
 * next to a naive linear scan with ipaddr.js over the same entries, measured in the same run.
 */
import ipaddr from "ipaddr.js";
import { compilePolicy, evaluate, type PolicyContext } from "../../src/policy/evaluate.ts";
import { policySchema } from "../../src/policy/schema.ts";

/** A small seeded generator so every run measures the same lists. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function cidrs(n: number, rand: () => number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) {
      const prefix = 16 + Math.floor(rand() * 17); // /16 … /32
      const addr = Math.floor(rand() * 2 ** 32) & (prefix === 0 ? 0 : ~(2 ** (32 - prefix) - 1));
      out.push(`${[24, 16, 8, 0].map((s) => (addr >>> s) & 255).join(".")}/${prefix}`);
    } else {
      const prefix = 32 + 16 * Math.floor(rand() * 5); // /32 … /96, on group boundaries
      const groups = Array.from({ length: 8 }, (_g, j) => (j * 16 < prefix ? Math.floor(rand() * 65536) : 0).toString(16));
      out.push(`${groups.join(":")}/${prefix}`);
    }
  }
  return out;
}

/** Addresses to look up: half inside an entry, half random (mostly misses, the scan's worst case). */
function probes(entries: string[], rand: () => number): string[] {
  return Array.from({ length: 1024 }, (_v, i) => {
    if (i % 2 === 0) return (entries[Math.floor(rand() * entries.length)] as string).split("/")[0] as string;
    return i % 4 === 1 ? [0, 0, 0, 0].map(() => Math.floor(rand() * 256)).join(".") : `2001:db8:${Math.floor(rand() * 65536).toString(16)}::${Math.floor(rand() * 65536).toString(16)}`;
  });
}

function rate(op: (i: number) => unknown, seconds: number): number {
  for (let i = 0; i < 2000; i++) op(i); // warm-up
  let n = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) for (let j = 0; j < 500; j++) op(n++);
  return n / ((performance.now() - start) / 1000);
}

export function benchPolicy(seconds: number): void {
  console.log(`\npolicy decisions (one rule "ip in [list] → allow", default deny; 1,024 probe addresses, half hits):`);
  console.log(`${"entries".padStart(9)} ${"compile".padStart(9)} ${"decisions/s".padStart(13)} ${"µs/decision".padStart(12)} ${"naive scan/s".padStart(13)} ${"vs naive".padStart(9)} ${"vs 10 entries".padStart(14)}`);
  let base = 0;
  for (const n of [10, 1_000, 100_000]) {
    const rand = prng(n);
    const entries = cidrs(n, rand);
    const t0 = performance.now();
    const compiled = compilePolicy(policySchema.parse({ name: "bench", version: 1, rules: [{ when: { ip: { in: entries } }, then: "allow" }], default: { deny: { message: "no" } } }));
    const compileMs = performance.now() - t0;
    const ips = probes(entries, rand);
    const ctx = (ip: string): PolicyContext => ({ ip, device: { mobile: false, os: "Linux", browser: "Chrome", known: true, trusted: false, registeredCount: 1 }, user: { groups: [] }, now: 0 });
    const contexts = ips.map(ctx);
    const decisions = rate((i) => evaluate(compiled, contexts[i & 1023] as PolicyContext), seconds);
    // The baseline an engine without compilation would run: every entry, every time.
    const ranges = entries.map((e) => ipaddr.parseCIDR(e));
    const naive = rate((i) => {
      const a = ipaddr.process(ips[i & 1023] as string);
      for (const r of ranges) if (a.kind() === r[0].kind() && a.match(r)) return true;
      return false;
    }, n >= 100_000 ? Math.min(seconds, 1) : seconds);
    if (n === 10) base = decisions;
    console.log(
      `${n.toLocaleString("en").padStart(9)} ${`${compileMs.toFixed(0)} ms`.padStart(9)} ${decisions.toFixed(0).padStart(13)} ${(1e6 / decisions).toFixed(2).padStart(12)} ${naive.toFixed(0).padStart(13)} ${`${(decisions / naive).toFixed(1)}x`.padStart(9)} ${`${(decisions / base).toFixed(2)}x`.padStart(14)}`,
    );
  }
}
