import type { AuditEvent, AuditType } from "./audit.ts";

/** Rejections anyone can cause without naming an account: garbage, floods, scanners. */
const sampledTypes: ReadonlySet<AuditType> = new Set(["request.rejected", "saml.authn_request.rejected", "saml.logout.rejected"]);

export const samplerLimits = {
  windowMs: 60_000,
  perKey: 3, // rows for one kind of rejection (type, reason, detail, app) from one network
  perNetwork: 50, // rows for one client network (an IPv4 address, an IPv6 /64)
  total: 100, // rows from everyone
  tracked: 1000, // networks and kinds counted by name in the summary; beyond, "other"
} as const;

export type SamplerLimits = { readonly [K in keyof typeof samplerLimits]: number };

export interface RejectionSummary {
  from: string;
  to: string;
  counted: number;
  byKind: Record<string, number>;
  byNetwork: Record<string, number>;
}

/**
 * Keeps anonymous rejections from writing one audit row each. In each window the first few of a
 * kind from a network are written as usual; the rest are counted and written as one summary
 * event when the window ends, so every rejection is accounted for and a flood costs a bounded
 * number of rows a minute, however many networks it comes from. Events that name a user or a
 * transaction are always written.
 */
export class RejectionSampler {
  readonly #limits: SamplerLimits;
  readonly #networkOf: (ip: string) => string;
  #window = Number.NaN;
  #total = 0;
  #perNetwork = new Map<string, number>();
  #perKey = new Map<string, number>(); // key → the row that stands for it
  #keyRows = new Map<string, number>();
  #counted = 0;
  #byKind = new Map<string, number>();
  #byNetwork = new Map<string, number>();

  /** `networkOf` groups addresses as the rate limits do (runtime.ts passes http/rate-limit.ts's); by default each address alone. */
  constructor(limits: SamplerLimits = samplerLimits, networkOf: (ip: string) => string = (ip) => ip) {
    this.#limits = limits;
    this.#networkOf = networkOf;
  }

  /**
   * The summary of the window before `now`'s, once (null when nothing was held back), and a
   * fresh window. Call before `admit` with the same time.
   */
  roll(now: number): RejectionSummary | null {
    const window = Math.floor(now / this.#limits.windowMs);
    if (window === this.#window) return null;
    const summary = this.#counted === 0 || Number.isNaN(this.#window) ? null : this.#summary();
    this.#window = window;
    this.#total = 0;
    this.#perNetwork.clear();
    this.#perKey.clear();
    this.#keyRows.clear();
    this.#counted = 0;
    this.#byKind.clear();
    this.#byNetwork.clear();
    return summary;
  }

  /** Whatever was counted so far in this window (on shutdown), or null. */
  drain(): RejectionSummary | null {
    if (this.#counted === 0) return null;
    const summary = this.#summary();
    this.#counted = 0;
    this.#byKind.clear();
    this.#byNetwork.clear();
    return summary;
  }

  /**
   * Whether to write this event: `{ write: true, key }` (then call `written`), or the ID of the
   * row already written for its kind (0 when none) after counting it.
   */
  admit(e: AuditEvent): { write: true; key: string | null } | { write: false; id: number } {
    if (!sampledTypes.has(e.type) || e.outcome !== "failure" || e.userId || e.username || e.transactionId) return { write: true, key: null };
    const network = this.#networkOf(e.ip ?? "unknown");
    const key = JSON.stringify([e.type, e.reason ?? null, e.appId ?? null, network, JSON.stringify(e.detail ?? null).slice(0, 300)]);
    const ofKey = this.#perKey.get(key) ?? 0;
    const ofNetwork = this.#perNetwork.get(network) ?? 0;
    if (ofKey < this.#limits.perKey && ofNetwork < this.#limits.perNetwork && this.#total < this.#limits.total) {
      this.#perKey.set(key, ofKey + 1);
      this.#perNetwork.set(network, ofNetwork + 1);
      this.#total++;
      return { write: true, key };
    }
    this.#counted++;
    this.#bump(this.#byKind, `${e.type} ${e.reason ?? ""}`.trim());
    this.#bump(this.#byNetwork, network);
    return { write: false, id: this.#keyRows.get(key) ?? 0 };
  }

  written(key: string, id: number): void {
    if (!this.#keyRows.has(key)) this.#keyRows.set(key, id);
  }

  #bump(m: Map<string, number>, name: string): void {
    const k = m.has(name) || m.size < this.#limits.tracked ? name : "other";
    m.set(k, (m.get(k) ?? 0) + 1);
  }

  #summary(): RejectionSummary {
    const { windowMs } = this.#limits;
    const top = (m: Map<string, number>) => Object.fromEntries([...m].sort((a, b) => b[1] - a[1]).slice(0, 20));
    return {
      from: new Date(this.#window * windowMs).toISOString(),
      to: new Date((this.#window + 1) * windowMs).toISOString(),
      counted: this.#counted,
      byKind: top(this.#byKind),
      byNetwork: top(this.#byNetwork),
    };
  }
}
