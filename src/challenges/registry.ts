import type { User } from "../store/users.ts";
import type { Challenge, MethodId } from "./types.ts";

/**
 * The methods from strongest to weakest: an authenticator app proves a device; an email code
 * proves a mailbox; security questions prove only knowledge that may be public.
 */
export const strength: readonly MethodId[] = ["totp", "email-otp", "kba"];

/** The strongest of these methods, or null for none. */
export const strongestOf = (methods: readonly string[]): MethodId | null => strength.find((m) => methods.includes(m)) ?? null;

/**
 * Whether a sign-in that passed these methods may make a device trusted. Security questions
 * never may, alone (SECURITY.md B.2.3): their answers are often public or guessable.
 */
export const mayTrustDevice = (passed: readonly string[]): boolean => passed.some((m) => m === "totp" || m === "email-otp");

/** The methods Gatehouse offers, by ID. */
export class Challenges {
  readonly #byId: Map<MethodId, Challenge>;

  constructor(methods: readonly Challenge[]) {
    this.#byId = new Map(methods.map((m) => [m.id, m]));
  }

  get(id: string): Challenge | undefined {
    return this.#byId.get(id as MethodId);
  }

  /** The methods this user has set up, in Gatehouse's order. */
  async enrolled(user: User): Promise<MethodId[]> {
    const methods = [...this.#byId.values()];
    const has = await Promise.all(methods.map((m) => m.enrolled(user)));
    return methods.filter((_, i) => has[i]).map((m) => m.id);
  }

  /** The strongest method this user has set up: what a re-authentication asks for. */
  async strongest(user: User): Promise<MethodId | null> {
    return strongestOf(await this.enrolled(user));
  }
}
