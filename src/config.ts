import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import net from "node:net";
import { z } from "zod";

/** Environment variable → config key. An optional JSON file (GATEHOUSE_CONFIG) supplies the same keys. */
const envKeys = {
  GATEHOUSE_BASE_URL: "baseUrl",
  GATEHOUSE_PORT: "port",
  GATEHOUSE_HOST: "host",
  GATEHOUSE_DATA_DIR: "dataDir",
  GATEHOUSE_KEYS_DIR: "keysDir",
  GATEHOUSE_KEYS_GENERATE: "keysGenerate",
  GATEHOUSE_POLICIES_DIR: "policiesDir",
  GATEHOUSE_TRUSTED_PROXIES: "trustedProxies",
  GATEHOUSE_SMTP_URL: "smtpUrl",
  GATEHOUSE_MAIL_FROM: "mailFrom",
  GATEHOUSE_KBA: "kba",
  GATEHOUSE_DEMO: "demo",
  GATEHOUSE_LOG_LEVEL: "logLevel",
  GATEHOUSE_AUDIT_RETENTION_DAYS: "auditRetentionDays",
  GATEHOUSE_SWEEP_INTERVAL_SECONDS: "sweepIntervalSeconds",
  GATEHOUSE_LOGIN_REQUESTS_PER_MINUTE: "loginRequestsPerMinute",
  GATEHOUSE_SAML_REQUESTS_PER_MINUTE: "samlRequestsPerMinute",
  GATEHOUSE_METRICS_ADDR: "metricsAddr",
  GATEHOUSE_METRICS_ALLOW_PUBLIC: "metricsAllowPublic",
  GATEHOUSE_SHUTDOWN_GRACE_SECONDS: "shutdownGraceSeconds",
} as const;

type Key = (typeof envKeys)[keyof typeof envKeys];
const keyToEnv = Object.fromEntries(Object.entries(envKeys).map(([env, key]) => [key, env])) as Record<Key, string>;

const proxyEntry = z.string().refine(
  (s) => {
    const [addr, prefix, extra] = s.split("/");
    if (extra !== undefined || !addr) return false;
    const family = net.isIP(addr);
    if (family === 0 || addr.includes("%")) return false;
    if (prefix === undefined) return true;
    if (!/^(0|[1-9][0-9]*)$/.test(prefix)) return false;
    const bits = Number(prefix);
    // A proxy list that trusts everyone would let any client choose its own IP.
    return bits > 0 && bits <= (family === 4 ? 32 : 128);
  },
  { message: "must be IP addresses or CIDRs separated by commas, never everything (0.0.0.0/0, ::/0, *, true)" },
);

const schema = z
  .object({
    baseUrl: z
      .url({ protocol: /^https?$/, message: "must be an http(s) URL such as https://sso.example.com" })
      .default("http://localhost:8080")
      .transform((u) => u.replace(/\/+$/, ""))
      .refine((u) => !new URL(u).search && !new URL(u).hash, "must not have a query or fragment"),
    port: z.coerce.number().int().min(0).max(65535).default(8080),
    host: z.string().min(1).default("127.0.0.1"),
    dataDir: z.string().min(1).default("data"),
    keysDir: z.string().min(1).optional(),
    // false: this node never writes keys, it only reads the set all nodes share (crypto/keys.ts).
    keysGenerate: z
      .union([z.boolean(), z.enum(["true", "false", "1", "0", "on", "off"])])
      .default(true)
      .transform((v) => v === true || v === "true" || v === "1" || v === "on"),
    policiesDir: z.string().min(1).default("policies"),
    trustedProxies: z
      .union([z.array(z.string()), z.string()])
      .default([])
      .transform((v) => (Array.isArray(v) ? v : v.split(",").map((s) => s.trim()).filter(Boolean)))
      .pipe(z.array(proxyEntry)),
    smtpUrl: z
      .url({ protocol: /^smtps?$/, message: "must be an smtp:// or smtps:// URL" })
      .optional(),
    mailFrom: z.string().min(3).max(200).optional(),
    // Off unless an admin opts in: KBA is not an acceptable authenticator (NIST, ASVS 6.4.2).
    kba: z
      .union([z.boolean(), z.enum(["true", "false", "1", "0", "on", "off"])])
      .default(false)
      .transform((v) => v === true || v === "true" || v === "1" || v === "on"),
    demo: z
      .union([z.boolean(), z.enum(["true", "false", "1", "0", "on", "off"])])
      .default(true)
      .transform((v) => v === true || v === "true" || v === "1" || v === "on"),
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "silent"]).default("info"),
    // About 13 months: a year of sign-ins to compare with, and the lockout's "signed in from here before".
    auditRetentionDays: z.coerce.number().int().min(1).max(36500).default(400),
    sweepIntervalSeconds: z.coerce.number().int().min(1).max(86400).default(300),
    // Per client network (an IPv4 address, an IPv6 /64) and minute, before anything else runs.
    loginRequestsPerMinute: z.coerce.number().int().min(1).max(1_000_000).default(60),
    samlRequestsPerMinute: z.coerce.number().int().min(1).max(1_000_000).default(300),
    // host:port ([v6]:port) of the separate /metrics listener; unset, there is none.
    metricsAddr: z
      .string()
      .optional()
      .transform((v, ctx) => {
        if (v === undefined) return undefined;
        const addr = listenAddress(v);
        if (!addr) ctx.addIssue({ code: "custom", message: "must be host:port, such as 127.0.0.1:9464 or [::1]:9464" });
        return addr ?? undefined;
      }),
    metricsAllowPublic: z
      .union([z.boolean(), z.enum(["true", "false", "1", "0", "on", "off"])])
      .default(false)
      .transform((v) => v === true || v === "true" || v === "1" || v === "on"),
    // How long a stopping server waits for requests in flight before it closes their connections.
    shutdownGraceSeconds: z.coerce.number().int().min(0).max(600).default(10),
  })
  .strict()
  .superRefine((c, ctx) => {
    // Metrics tell who signs in how often and from which app: loopback unless an operator says otherwise.
    if (c.metricsAddr && !c.metricsAllowPublic && !isLoopback(c.metricsAddr.host)) {
      ctx.addIssue({ code: "custom", path: ["metricsAddr"], message: "is not a loopback address, so /metrics would be reachable from the network; use 127.0.0.1:PORT or set GATEHOUSE_METRICS_ALLOW_PUBLIC=true" });
    }
  });

/** "host:port" or "[v6]:port" → its parts; null when it is neither. */
function listenAddress(s: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(s.trim());
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!host || !Number.isInteger(port) || port > 65535 || (m?.[1] !== undefined && !net.isIPv6(host))) return null;
  return { host, port };
}

const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || /^::ffff:127\./i.test(host);

export interface Config {
  readonly baseUrl: string;
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  /** The key set (default DATA_DIR/keys); nodes that share one set mount the same directory. */
  readonly keysDir: string;
  /** Whether a start may make missing keys (embedded mode); false: a missing file stops the start. */
  readonly keysGenerate: boolean;
  readonly policiesDir: string; // policies as code: *.yaml, validated at start
  readonly trustedProxies: readonly string[];
  readonly smtpUrl: string | undefined;
  readonly mailFrom: string;
  /** Knowledge-based questions offered at all: off by default, an admin opts in. */
  readonly kba: boolean;
  readonly demo: boolean;
  readonly logLevel: string;
  readonly auditRetentionDays: number;
  /** How often expired rows are purged (ops/sweeper.ts). */
  readonly sweepIntervalSeconds: number;
  /** Sign-in posts and starts per client network per minute (http/rate-limit.ts). */
  readonly loginRequestsPerMinute: number;
  /** Requests to /saml/* per client network per minute. */
  readonly samlRequestsPerMinute: number;
  /** The /metrics listener's address (ops/metrics.ts); undefined: no metrics listener. Loopback unless metricsAllowPublic. */
  readonly metricsAddr: { readonly host: string; readonly port: number } | undefined;
  readonly metricsAllowPublic: boolean;
  /** On SIGTERM, requests in flight get this long to finish before their connections are closed. */
  readonly shutdownGraceSeconds: number;
  /** Our SAML entity ID is our metadata URL. */
  readonly entityId: string;
  readonly secureCookies: boolean;
  readonly limits: {
    readonly maxSamlMessageBytes: number; // encoded SAMLRequest/SAMLResponse, before decoding
    readonly maxInflatedBytes: number; // output cap of the Redirect binding's inflate
    readonly maxFormBytes: number; // any urlencoded body
  };
  readonly lifetimes: {
    readonly transactionMs: number;
    readonly assertionMs: number; // SubjectConfirmationData NotOnOrAfter: Sentry allows no drift and keeps no replay cache
    readonly sessionIdleMs: number;
    readonly sessionAbsoluteMs: number;
    readonly requestClockSkewMs: number; // tolerated skew on an AuthnRequest's IssueInstant
    readonly emailCodeMs: number;
    readonly deviceTrustMs: number;
    readonly deviceCookieMs: number;
    readonly reauthMs: number;
  };
}

export class ConfigError extends Error {}

/** Reads the environment (and GATEHOUSE_CONFIG, a JSON file) into a validated, frozen config. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw: Record<string, unknown> = {};
  if (env.GATEHOUSE_CONFIG) {
    try {
      Object.assign(raw, JSON.parse(readFileSync(env.GATEHOUSE_CONFIG, "utf8")) as object);
    } catch (e) {
      throw new ConfigError(`GATEHOUSE_CONFIG: cannot read ${env.GATEHOUSE_CONFIG}: ${(e as Error).message}`);
    }
  }
  for (const [name, key] of Object.entries(envKeys)) {
    const value = env[name];
    if (value !== undefined && value !== "") raw[key] = value;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? "");
      const name = keyToEnv[key as Key] ?? (key || "GATEHOUSE_CONFIG");
      const got = key in raw ? ` (got ${JSON.stringify(raw[key])})` : "";
      return `${name}: ${issue.message}${got}`;
    });
    throw new ConfigError(lines.join("\n"));
  }
  const c = parsed.data;
  return deepFreeze({
    ...c,
    smtpUrl: c.smtpUrl,
    mailFrom: c.mailFrom ?? `Gatehouse <no-reply@${new URL(c.baseUrl).hostname}>`,
    dataDir: resolve(c.dataDir),
    keysDir: resolve(c.keysDir ?? join(c.dataDir, "keys")),
    policiesDir: resolve(c.policiesDir),
    entityId: `${c.baseUrl}/saml/metadata`,
    secureCookies: c.baseUrl.startsWith("https:"),
    limits: { maxSamlMessageBytes: 256 * 1024, maxInflatedBytes: 256 * 1024, maxFormBytes: 512 * 1024 },
    lifetimes: {
      transactionMs: 10 * 60_000,
      assertionMs: 5 * 60_000,
      sessionIdleMs: 60 * 60_000,
      sessionAbsoluteMs: 24 * 60 * 60_000,
      requestClockSkewMs: 3 * 60_000,
      emailCodeMs: 10 * 60_000,
      deviceTrustMs: 30 * 24 * 60 * 60_000, // "remember this device" lasts 30 days
      deviceCookieMs: 400 * 24 * 60 * 60_000, // the longest a browser keeps a cookie
      reauthMs: 5 * 60_000, // changing a factor needs a sign-in at most this old (SECURITY.md B.7)
    },
  });
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object") {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
