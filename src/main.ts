#!/usr/bin/env node
// Dispatches to the command groups in src/cli/; each holds its own help text.
import { ConfigError, loadConfig } from "./config.ts";
import { appCommand, UsageError } from "./cli/apps.ts";
import { policyCommand } from "./cli/policy.ts";
import { serve, serveHelp } from "./cli/serve.ts";
import { userCommand } from "./cli/users.ts";
import { dbCommand } from "./cli/db.ts";
import { keysCommand } from "./cli/keys.ts";
import { GatehouseError } from "./errors.ts";
import { PolicyLoadError } from "./policy/load.ts";
import { PolicyAssignmentError } from "./server.ts";
import { DuplicateAppError } from "./store/apps.ts";
import { DuplicateUserError } from "./store/users.ts";

const mainHelp = `Gatehouse: SSO broker with an adaptive authentication policy engine.

Usage: node src/main.ts COMMAND [options]

Commands:
  serve                 start the server (configuration from GATEHOUSE_* variables)
  user add|list|unlock  manage local users; lift a lock after failed sign-ins
  app add|add-sentry|list|remove
                        register apps (SAML service providers)
  policy check|list|assign|simulate
                        validate policy files, assign login policies, try a sign-in
  db status|migrate|backup
                        the database's schema version, pending migrations, an online backup
  keys init|show        make a key set for nodes that share one; check a set (no secret shown)

Each command takes --help.`;

async function main(argv: string[]): Promise<void> {
  const [command, sub, ...rest] = argv;
  if (!command || command === "--help" || command === "-h" || command === "help") {
    console.log(mainHelp);
    return;
  }
  if (command === "serve" && (sub === "--help" || sub === "-h")) {
    console.log(serveHelp);
    return;
  }
  if ((command === "user" || command === "app" || command === "policy" || command === "db" || command === "keys") && (sub === undefined || sub === "--help" || sub === "-h")) {
    console.log(mainHelp);
    return;
  }
  const config = loadConfig();
  switch (command) {
    case "serve":
      if (sub !== undefined) throw new UsageError(`serve takes no arguments\n\n${serveHelp}`);
      return serve(config);
    case "user":
      return userCommand(config, sub, rest);
    case "app":
      return appCommand(config, sub, rest);
    case "db":
      return dbCommand(config, sub, rest);
    case "keys":
      return keysCommand(config, sub, rest);
    case "policy":
      return policyCommand(config, sub, rest);
    default:
      throw new UsageError(`unknown command ${command}\n\n${mainHelp}`);
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof UsageError) {
    console.error(`error: ${e.message}`);
    process.exit(2);
  }
  if (e instanceof ConfigError) {
    console.error(`error: invalid configuration\n${e.message}`);
    process.exit(2);
  }
  if (e instanceof PolicyLoadError || e instanceof PolicyAssignmentError) {
    console.error(`error: ${e instanceof PolicyLoadError ? "a policy file is invalid; Gatehouse does not start with a policy it cannot honour" : "a login policy cannot be resolved"}\n${e.message}`);
    process.exit(1);
  }
  if (e instanceof DuplicateUserError || e instanceof DuplicateAppError) {
    console.error(`error: ${e.message}`);
    process.exit(1);
  }
  if (e instanceof GatehouseError) {
    console.error(`error: ${e.userMessage}${e.detail ? ` (${e.detail})` : ""}`);
    process.exit(1);
  }
  console.error(`error: ${(e as Error).message}`);
  process.exit(1);
});
