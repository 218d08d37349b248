import { randomUUID } from "node:crypto";
import type { Db } from "./db.ts";

export interface User {
  id: string;
  username: string;
  email: string;
  firstName: string;
  lastName: string;
  groups: string[];
  isAdmin: boolean;
  status: "active" | "disabled";
  passwordHash: string | null;
  altEmail: string | null; // confirmed alternate email, for email codes and notices
  createdAt: number;
}

interface Row {
  id: string;
  username: string;
  email: string;
  first_name: string;
  last_name: string;
  groups_json: string;
  is_admin: number;
  status: "active" | "disabled";
  password_hash: string | null;
  alt_email: string | null;
  created_at: number;
}

const toUser = (r: Row): User => ({
  id: r.id,
  username: r.username,
  email: r.email,
  firstName: r.first_name,
  lastName: r.last_name,
  groups: JSON.parse(r.groups_json) as string[],
  isAdmin: r.is_admin === 1,
  status: r.status,
  passwordHash: r.password_hash,
  altEmail: r.alt_email,
  createdAt: r.created_at,
});

export type NewUser = Pick<User, "username" | "email"> & Partial<Pick<User, "firstName" | "lastName" | "groups" | "isAdmin" | "passwordHash">>;

export class DuplicateUserError extends Error {}

export class UserRepository {
  readonly #insert;
  readonly #byId;
  readonly #byLogin;
  readonly #all;
  readonly #count;
  readonly #setAltEmail;

  constructor(db: Db) {
    this.#insert = db.prepare(
      `INSERT INTO users (id, username, email, first_name, last_name, groups_json, is_admin, password_hash, created_at, updated_at)
       VALUES (@id, @username, @email, @firstName, @lastName, @groups, @isAdmin, @passwordHash, @now, @now)`,
    );
    this.#byId = db.prepare<[string], Row>("SELECT * FROM users WHERE id = ?");
    // Username or email, case-insensitively (both columns are NOCASE).
    this.#byLogin = db.prepare<[{ login: string }], Row>("SELECT * FROM users WHERE username = @login OR email = @login ORDER BY username = @login DESC LIMIT 1");
    this.#all = db.prepare<[], Row>("SELECT * FROM users ORDER BY username");
    this.#count = db.prepare<[], { n: number }>("SELECT count(*) AS n FROM users");
    this.#setAltEmail = db.prepare<[{ id: string; altEmail: string | null; now: number }]>(
      "UPDATE users SET alt_email = @altEmail, alt_email_verified_at = CASE WHEN @altEmail IS NULL THEN NULL ELSE @now END, updated_at = @now WHERE id = @id",
    );
  }

  /** Sets (or clears) the alternate email: only ever called once a code sent to it came back. */
  async setAltEmail(id: string, altEmail: string | null, now: number): Promise<void> {
    this.#setAltEmail.run({ id, altEmail, now });
  }

  async add(u: NewUser, now: number): Promise<User> {
    const id = randomUUID();
    try {
      this.#insert.run({
        id,
        username: u.username,
        email: u.email,
        firstName: u.firstName ?? "",
        lastName: u.lastName ?? "",
        groups: JSON.stringify(u.groups ?? []),
        isAdmin: u.isAdmin ? 1 : 0,
        passwordHash: u.passwordHash ?? null,
        now,
      });
    } catch (e) {
      if ((e as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE") throw new DuplicateUserError("a user with that username or email already exists");
      throw e;
    }
    return (await this.byId(id)) as User;
  }

  async byId(id: string): Promise<User | undefined> {
    const r = this.#byId.get(id);
    return r && toUser(r);
  }

  /** Finds a user by username or email. */
  async byLogin(login: string): Promise<User | undefined> {
    const r = this.#byLogin.get({ login });
    return r && toUser(r);
  }

  async list(): Promise<User[]> {
    return this.#all.all().map(toUser);
  }

  async count(): Promise<number> {
    return this.#count.get()?.n ?? 0;
  }
}
