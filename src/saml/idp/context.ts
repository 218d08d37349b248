import type { AuditLog } from "../../audit/audit.ts";
import type { Clock } from "../../clock.ts";
import type { Config } from "../../config.ts";
import type { SigningKey } from "../../crypto/keys.ts";
import type { Csrf } from "../../http/csrf.ts";
import type { LoginFlow } from "../../login/flow.ts";
import type { SessionManager } from "../../login/sessions.ts";
import type { TransactionService } from "../../login/transactions.ts";
import type { AppRepository } from "../../store/apps.ts";
import type { LogoutChainRepository } from "../../store/logout-chains.ts";
import type { StoreCacheProvider } from "../../store/saml-cache.ts";
import type { SessionRepository } from "../../store/sessions.ts";
import type { SeenRequestRepository } from "../../store/transactions.ts";

/** What the IdP side needs, handed in by server.ts. */
export interface IdpContext {
  config: Config;
  key: SigningKey;
  /** Keys persistent NameIDs (keys/nameid-key): never rotated with the server secret. */
  nameIdKey: Buffer;
  apps: AppRepository;
  seenRequests: SeenRequestRepository;
  /** What an AuthnRequest asked for in RequestedAuthnContext, by app and request ID, until its sign-in ends. */
  requestedAuthnContexts: StoreCacheProvider;
  sessionRecords: SessionRepository;
  sessions: SessionManager;
  logoutChains: LogoutChainRepository;
  login: LoginFlow;
  transactions: TransactionService;
  csrf: Csrf;
  audit: AuditLog;
  clock: Clock;
}

export const ssoUrl = (c: Config): string => `${c.baseUrl}/saml/sso`;
export const sloUrl = (c: Config): string => `${c.baseUrl}/saml/slo`;
