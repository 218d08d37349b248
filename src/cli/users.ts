import { randomBytes } from "node:crypto";
import { systemClock } from "../clock.ts";
import type { Config } from "../config.ts";
import { hashSecret } from "../crypto/passwords.ts";
import { strength } from "../challenges/registry.ts";
import { LoginThrottle, accountKey, challengeKey } from "../login/throttle.ts";
import { UsageError } from "./apps.ts";
import { parseCommand, readStdin, withRuntime } from "./args.ts";

export const userHelp = {
  add: `Usage: node src/main.ts user add USERNAME --email EMAIL [--first-name F] [--last-name L] [--group G ...] [--admin] [--password-stdin]

Without --password-stdin a random password is generated and printed once.`,
  list: `Usage: node src/main.ts user list`,
  unlock: `Usage: node src/main.ts user unlock USERNAME|EMAIL

Lifts the lock that failed sign-ins put on an account: the delay, the hard stop after 100
failures, and the locks of its verification methods. Recorded in the audit log.`,
} as const;

/** `user add|list|unlock`. */
export async function userCommand(config: Config, sub: string | undefined, args: string[]): Promise<void> {
  if (sub === "add") return addUser(config, args);
  if (sub === "list") {
    parseCommand(args, {}, userHelp.list);
    await withRuntime(config, async (rt) => {
      const users = await rt.users.list();
      if (users.length === 0) console.log("No users.");
      for (const u of users) console.log(`${u.username}  ${u.email}  ${[u.firstName, u.lastName].filter(Boolean).join(" ")}${u.isAdmin ? "  [admin]" : ""}${u.status !== "active" ? `  [${u.status}]` : ""}`);
    });
    return;
  }
  if (sub === "unlock") return unlockUser(config, args);
  throw new UsageError(`unknown user command ${sub ?? "(none)"}: use add, list or unlock`);
}

async function addUser(config: Config, args: string[]): Promise<void> {
  const { values, positionals } = parseCommand(
    args,
    {
      email: { type: "string" },
      "first-name": { type: "string" },
      "last-name": { type: "string" },
      group: { type: "string", multiple: true },
      admin: { type: "boolean" },
      "password-stdin": { type: "boolean" },
    },
    userHelp.add,
  );
  const username = positionals[0];
  if (!username || positionals.length > 1) throw new UsageError(`give one USERNAME\n\n${userHelp.add}`);
  if (!/^[A-Za-z0-9._@-]{1,64}$/.test(username)) throw new UsageError("USERNAME may hold letters, digits and . _ @ - (at most 64)");
  const email = values.email as string | undefined;
  if (!email || !/^[^\s@]+@[^\s@]+$/.test(email)) throw new UsageError("--email EMAIL is required and must be an email address");
  let password: string;
  let generated = false;
  if (values["password-stdin"]) {
    password = await readStdin();
    // NIST SP 800-63B-4: at least 15 characters where the password is the only factor.
    if (password.length < 15) throw new UsageError("the password must have at least 15 characters");
    if (password.length > 1024) throw new UsageError("the password must have at most 1024 characters");
  } else {
    password = randomBytes(15).toString("base64url");
    generated = true;
  }
  await withRuntime(config, async (rt) => {
    const user = await rt.users.add(
      {
        username,
        email,
        firstName: (values["first-name"] as string | undefined) ?? "",
        lastName: (values["last-name"] as string | undefined) ?? "",
        groups: (values.group as string[] | undefined) ?? [],
        isAdmin: values.admin === true,
        passwordHash: await hashSecret(password),
      },
      systemClock.now(),
    );
    await rt.audit.record({ type: "user.created", outcome: "success", userId: user.id, username: user.username, reason: "cli" });
    console.log(`Added user ${user.username} (${user.email}), id ${user.id}${user.isAdmin ? ", admin" : ""}.`);
    if (generated) console.log(`Password: ${password}  (shown once)`);
  });
}

async function unlockUser(config: Config, args: string[]): Promise<void> {
  const { positionals } = parseCommand(args, {}, userHelp.unlock);
  const login = positionals[0];
  if (!login || positionals.length > 1) throw new UsageError(`give one USERNAME or EMAIL\n\n${userHelp.unlock}`);
  await withRuntime(config, async (rt) => {
    const user = await rt.users.byLogin(login);
    if (!user) throw new UsageError(`no user ${login} (see: user list)`);
    const throttle = await LoginThrottle.create(rt.db, rt.clock);
    const methods = strength; // every challenge method, each counted under its own key
    const [password, ...byMethod] = await Promise.all([throttle.failures(accountKey(login, user.id)), ...methods.map((m) => throttle.failures(challengeKey(user.id, m)))]);
    const counted = { password, ...Object.fromEntries(methods.map((m, i) => [m, byMethod[i]])) };
    await throttle.unlockUser(user.id);
    await rt.audit.record({ type: "user.unlocked", outcome: "success", userId: user.id, username: user.username, reason: "cli", detail: { failuresBefore: counted } });
    const locked = Object.entries(counted).filter(([, n]) => n > 0);
    console.log(locked.length ? `Unlocked ${user.username}: cleared ${locked.map(([what, n]) => `${n} failed ${what} tries`).join(", ")}.` : `${user.username} had no failed sign-ins counted; nothing to unlock.`);
  });
}
