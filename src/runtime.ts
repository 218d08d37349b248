import { join } from "node:path";
import { pino, type DestinationStream, type Logger } from "pino";
import { AuditLog } from "./audit/audit.ts";
import { RejectionSampler, samplerLimits } from "./audit/sampler.ts";
import { networkOf } from "./http/rate-limit.ts";
import type { Clock } from "./clock.ts";
import type { Config } from "./config.ts";
import { ensureKeys, type KeyMaterial } from "./crypto/keys.ts";
import { PolicyCatalog } from "./policy/catalog.ts";
import { loadPolicyFiles, policyFilesIn } from "./policy/load.ts";
import { AppRepository } from "./store/apps.ts";
import { LoginPolicyRepository } from "./store/login-policies.ts";
import { DeviceRepository } from "./store/devices.ts";
import { EmailCodeRepository } from "./store/email-codes.ts";
import { KbaRepository, TotpRepository } from "./store/factors.ts";
import { createMailer, type Mailer } from "./mail/mailer.ts";
import { openDb, type Db } from "./store/db.ts";
import { LogoutChainRepository } from "./store/logout-chains.ts";
import { SessionRepository } from "./store/sessions.ts";
import { SeenRequestRepository, TransactionRepository } from "./store/transactions.ts";
import { UserRepository } from "./store/users.ts";
import { Metrics } from "./ops/metrics.ts";
import { StoreHealth } from "./store/health.ts";
import { currentRequestId } from "./request-context.ts";

/** Everything a running Gatehouse holds: config, keys, the store's repositories, the audit log. */
export interface Runtime {
  config: Config;
  clock: Clock;
  log: Logger;
  db: Db;
  keys: KeyMaterial;
  users: UserRepository;
  apps: AppRepository;
  transactions: TransactionRepository;
  seenRequests: SeenRequestRepository;
  sessions: SessionRepository;
  logoutChains: LogoutChainRepository;
  loginPolicies: LoginPolicyRepository;
  totp: TotpRepository;
  kba: KbaRepository;
  emailCodes: EmailCodeRepository;
  devices: DeviceRepository;
  mailer: Mailer;
  /** Built-in policies and policies/*.yaml; a bad file stops the open with file, path and reason. */
  policies: PolicyCatalog;
  audit: AuditLog;
  /** This runtime's Prometheus registry (its own, never prom-client's global one); fed by the audit log. */
  metrics: Metrics;
  /** What /readyz and the metrics ask of the store: reachable, schema current. */
  storeHealth: StoreHealth;
  /** Writes the rejections counted since the last summary, then closes the store. */
  close(): Promise<void>;
}

/**
 * Gatehouse's JSON log: each line written while a request is served carries its `reqId`. No caller
 * logs a body or headers; the redaction below is the second line against one that would.
 */
export function gatehouseLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    mixin: () => {
      const reqId = currentRequestId();
      return reqId === undefined ? {} : { reqId };
    },
    redact: {
      paths: ["password", "*.password", "code", "answers", "*.answers", "SAMLRequest", "*.SAMLRequest", "SAMLResponse", "*.SAMLResponse", "body", "*.body", "headers.cookie", "headers.authorization", 'headers["set-cookie"]', "*.headers.cookie", "*.headers.authorization", '*.headers["set-cookie"]'],
      censor: "[redacted]",
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

export async function openRuntime(config: Config, clock: Clock, log: Logger = gatehouseLogger(config.logLevel)): Promise<Runtime> {
  const policies = new PolicyCatalog(loadPolicyFiles(policyFilesIn(config.policiesDir)));
  const keys = await ensureKeys(config.keysDir, new URL(config.baseUrl).hostname, new Date(clock.now()), config.keysGenerate ? { generate: true } : { generate: false, because: "GATEHOUSE_KEYS_GENERATE=false" });
  const db = openDb(join(config.dataDir, "gatehouse.db"));
  // Anonymous rejections are counted per client network, as the limit before sign-in counts requests.
  const storeHealth = new StoreHealth(db);
  const metrics = new Metrics(storeHealth);
  const audit = new AuditLog(db, clock, new RejectionSampler(samplerLimits, networkOf), (e) => metrics.observe(e));
  return {
    config,
    clock,
    log,
    db,
    keys,
    users: new UserRepository(db),
    apps: new AppRepository(db),
    transactions: new TransactionRepository(db),
    seenRequests: new SeenRequestRepository(db),
    sessions: new SessionRepository(db),
    logoutChains: new LogoutChainRepository(db),
    loginPolicies: new LoginPolicyRepository(db),
    totp: new TotpRepository(db),
    kba: new KbaRepository(db),
    emailCodes: new EmailCodeRepository(db),
    devices: new DeviceRepository(db),
    mailer: createMailer({ smtpUrl: config.smtpUrl, from: config.mailFrom, outboxDir: join(config.dataDir, "outbox") }),
    policies,
    audit,
    metrics,
    storeHealth,
    close: async () => {
      await audit.flush(); // anonymous rejections counted since the last summary
      db.close();
    },
  };
}
