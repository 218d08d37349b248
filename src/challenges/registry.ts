import type { User } from "../store/users.ts";
import type { Challenge, MethodId } from "./types.ts";

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
  enrolled(user: User): MethodId[] {
    return [...this.#byId.values()].filter((m) => m.enrolled(user)).map((m) => m.id);
  }
}
