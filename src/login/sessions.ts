import type { Request, Response } from "express";
import type { Clock } from "../clock.ts";
import type { CookieJar } from "../http/cookies.ts";
import { randomToken, sha256 } from "../crypto/tokens.ts";
import type { Session, SessionRepository } from "../store/sessions.ts";
import type { User, UserRepository } from "../store/users.ts";

export interface CurrentSession {
  session: Session;
  user: User;
}

export interface SessionLifetimes {
  sessionIdleMs: number;
  sessionAbsoluteMs: number;
}

/** SSO sessions: a 256-bit random cookie; the store keeps only its SHA-256. */
export class SessionManager {
  readonly #sessions: SessionRepository;
  readonly #users: UserRepository;
  readonly #cookies: CookieJar;
  readonly #clock: Clock;
  readonly #lifetimes: SessionLifetimes;

  constructor(sessions: SessionRepository, users: UserRepository, cookies: CookieJar, clock: Clock, lifetimes: SessionLifetimes) {
    this.#sessions = sessions;
    this.#users = users;
    this.#cookies = cookies;
    this.#clock = clock;
    this.#lifetimes = lifetimes;
  }

  async current(req: Request): Promise<CurrentSession | undefined> {
    const token = this.#cookies.get(req, "session");
    if (!token) return undefined;
    const now = this.#clock.now();
    const session = await this.#sessions.live(sha256(token), now, this.#lifetimes.sessionIdleMs);
    if (!session) return undefined;
    const user = await this.#users.byId(session.userId);
    if (!user || user.status !== "active") return undefined;
    await this.#sessions.touch(session.idHash, now);
    return { session, user };
  }

  /** Starts a new session (a fresh ID at every sign-in: no fixation). */
  async start(res: Response, userId: string, authMethod: string, authTime: number): Promise<Session> {
    const token = randomToken();
    const now = this.#clock.now();
    const session: Session = {
      idHash: sha256(token),
      userId,
      authMethod,
      authTime,
      createdAt: now,
      lastSeenAt: now,
      expiresAt: now + this.#lifetimes.sessionAbsoluteMs,
    };
    await this.#sessions.add(session);
    this.#cookies.set(res, "session", token);
    return session;
  }

  async end(res: Response, idHash: string): Promise<void> {
    await this.#sessions.end(idHash, this.#clock.now());
    this.#cookies.clear(res, "session");
  }
}
