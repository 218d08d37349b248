#!/usr/bin/env node
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { systemClock } from "./clock.ts";
import { ConfigError, loadConfig, type Config } from "./config.ts";
import { appFromOptions, parseAttributes, sentryApp, UsageError } from "./cli/apps.ts";
import { userCommand } from "./cli/users.ts";
import { hashSecret } from "./crypto/passwords.ts";
import { registerDemoApp, removeDemoApp } from "./demo/demo-app.ts";
import { GatehouseError } from "./errors.ts";
import { Sweeper } from "./ops/sweeper.ts";
import { openRuntime, type Runtime } from "./runtime.ts";
import { buildServer, httpServerOptions, PolicyAssignmentError } from "./server.ts";
import { assignPolicy, checkPolicies, listPolicies, simulate } from "./cli/policy.ts";
import { PolicyLoadError, policyFilesIn } from "./policy/load.ts";
import { DuplicateAppError, type App } from "./store/apps.ts";
import { DuplicateUserError } from "./store/users.ts";

const help = {
  main: `Gatehouse: SSO broker with an adaptive authentication policy engine.

Usage: node src/main.ts COMMAND [options]

Commands:
  serve                 start the server (configuration from GATEHOUSE_* variables)
  user add|list|unlock  manage local users; lift a lock after failed sign-ins
  app add|add-sentry|list|remove
                        register apps (SAML service providers)
  policy check|list|assign|simulate
                        validate policy files, assign login policies, try a sign-in

Each command takes --help.`,
  serve: `Usage: node src/main.ts serve

Starts Gatehouse. Configuration comes from the environment:
  GATEHOUSE_BASE_URL        public URL (default http://localhost:8080)
  GATEHOUSE_PORT            port to listen on (default 8080)
  GATEHOUSE_HOST            address to listen on (default 127.0.0.1)
  GATEHOUSE_DATA_DIR        database and keys (default ./data)
  GATEHOUSE_TRUSTED_PROXIES CIDRs of reverse proxies whose X-Forwarded-For is believed
  GATEHOUSE_SMTP_URL        smtp(s):// URL for mail (without it: data/outbox)
  GATEHOUSE_MAIL_FROM       sender of Gatehouse's mail
  GATEHOUSE_KBA             offer security questions: false (default) or true
  GATEHOUSE_POLICIES_DIR    policies as code (default ./policies)
  GATEHOUSE_DEMO            built-in demo app: true (default) or false
  GATEHOUSE_AUDIT_RETENTION_DAYS  audit events older than this are purged (default 400)
  GATEHOUSE_LOGIN_REQUESTS_PER_MINUTE, GATEHOUSE_SAML_REQUESTS_PER_MINUTE
                            per client network, before anything else (defaults 60, 300)
  GATEHOUSE_CONFIG          optional JSON file with the same settings`,
  "app add": `Usage: node src/main.ts app add (--metadata-url URL | --metadata-file FILE | --entity-id ID --acs URL [--slo URL])
                            [--name NAME] [--nameid-format email|persistent|unspecified]
                            [--attribute NAME=FIELD ...] [--sign-response] [--cert-file PEM]

FIELD is one of id, username, email, firstName, lastName, groups.
--cert-file registers the app's signing certificate: its AuthnRequests and LogoutRequests are then verified.`,
  "app add-sentry": `Usage: node src/main.ts app add-sentry --org SLUG [--url https://sentry.io] [--attribute NAME=FIELD ...]

Registers a Sentry organization (generic SAML2 provider): entity ID <url>/saml/metadata/<slug>/,
ACS <url>/saml/acs/<slug>/, SLO <url>/saml/sls/<slug>/, NameID email. Attributes default to
user_id=id user_email=email first_name=firstName last_name=lastName; type the same names into
Sentry's attribute mapping ("IdP User ID", "User Email", "First Name", "Last Name").`,
  "app list": `Usage: node src/main.ts app list`,
  "policy check": `Usage: node src/main.ts policy check [FILE ...]

Validates policy files (default: every *.yaml in GATEHOUSE_POLICIES_DIR, ./policies) and prints
each problem as FILE: PATH: REASON. Exits 1 when there is one.`,
  "policy list": `Usage: node src/main.ts policy list

The loaded policies and which login policy each app has.`,
  "policy assign": `Usage: node src/main.ts policy assign --app ID|default --policy NAME [--mode enforce|report-only]

Sets an app's login policy (or the default, for apps without their own and for Gatehouse's own
pages). report-only evaluates and records what would have happened, then allows. Default: enforce.`,
  "policy simulate": `Usage: node src/main.ts policy simulate --app ID|default --user NAME --ip ADDR [--user-agent UA]
                                 [--device new|known|trusted] [--devices N] [--at ISO-TIME]

What-if: the decision the app's login policy would give this sign-in, with every check it made.
--devices is how many devices the user already has registered. Nothing is recorded.`,
  "app remove": `Usage: node src/main.ts app remove ID`,
};

type Options = NonNullable<ParseArgsConfig["options"]>;
const helpOption: Options = { help: { type: "boolean", short: "h" } };

function parse(args: string[], options: Options, topic: keyof typeof help) {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...helpOption, ...options }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${help[topic]}`);
  }
  if (parsed.values.help) {
    console.log(help[topic]);
    process.exit(0);
  }
  return parsed;
}

async function withRuntime<T>(config: Config, work: (rt: Runtime) => Promise<T>): Promise<T> {
  const rt = await openRuntime(config, systemClock);
  try {
    return await work(rt);
  } finally {
    rt.close();
  }
}

const describeApp = (a: App): string =>
  `${a.id}  ${a.name}\n    entity ID ${a.entityId}\n    ACS ${a.acs.map((x) => x.url).join(", ")}${a.sloUrl ? `\n    SLO ${a.sloUrl}` : ""}\n    NameID ${a.nameIdFormat}; attributes ${a.attributes.map((m) => `${m.name}=${m.field}`).join(" ") || "none"}`;

async function serve(config: Config): Promise<void> {
  const rt = await openRuntime(config, systemClock);
  // Everything that can refuse the start runs before the first-start admin is created, so its
  // one-time password is never made and then lost.
  const app = await buildServer(rt);
  const notices: string[] = [];
  for (const file of rt.keys.created) notices.push(`created ${file} (generated on first start; back up data/keys, or put your own signing key and certificate there)`);
  notices.push(...rt.keys.notices);
  if (rt.users.count() === 0) {
    const password = randomBytes(15).toString("base64url");
    rt.users.add({ username: "admin", email: `admin@${new URL(config.baseUrl).hostname}`, isAdmin: true, passwordHash: await hashSecret(password) }, systemClock.now());
    rt.audit.record({ type: "user.created", outcome: "success", username: "admin", reason: "first start" });
    notices.push(`created the admin account — username: admin  password: ${password}  (shown once; store it now)`);
  }
  if (config.demo) {
    registerDemoApp(rt.apps, config, systemClock.now());
    notices.push(`demo mode is on: ${config.baseUrl}/demo is a built-in app to click through (GATEHOUSE_DEMO=false turns it off)`);
  } else if (removeDemoApp(rt.apps)) {
    notices.push("GATEHOUSE_DEMO=false: removed the built-in demo app registered by an earlier start (it is registered again if the demo is turned back on)");
  }
  if (!config.smtpUrl) notices.push(`no GATEHOUSE_SMTP_URL: mail (sign-in codes, notices) goes to ${rt.mailer.destination}${config.demo ? `, shown at ${config.baseUrl}/account/outbox` : ""}`);
  if (config.kba) notices.push("GATEHOUSE_KBA is on: security questions are offered as a challenge. They are a knowledge check, not a second factor, and are never asserted as multi-factor.");
  const loaded = rt.policies.list().filter((p) => p.source !== "built in");
  console.log(`Policies: ${loaded.length ? loaded.map((p) => `${p.name} v${p.version}`).join(", ") : "none"} from ${config.policiesDir}; default login policy: ${rt.loginPolicies.forApp(null).policyName}`);
  for (const n of notices) console.log(`NOTICE: ${n}`);
  const server = createServer(httpServerOptions(config), app).listen(config.port, config.host, () => {
    console.log(`Gatehouse is listening on http://${config.host}:${config.port} — open ${config.baseUrl}${config.demo ? "/demo" : "/"}`);
    console.log(`IdP metadata for apps: ${config.entityId}`);
  });
  server.on("error", (e) => {
    console.error(`error: cannot listen on ${config.host}:${config.port}: ${e.message}`);
    process.exit(1);
  });
  const sweeper = new Sweeper(rt).start();
  const stop = () => {
    server.close(() => {
      void sweeper.stop().then(() => {
        rt.close();
        process.exit(0);
      });
    });
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

async function appCommand(config: Config, sub: string | undefined, args: string[]): Promise<void> {
  const attributeOption: Options = { attribute: { type: "string", multiple: true } };
  if (sub === "add") {
    const { values, positionals } = parse(
      args,
      {
        "metadata-url": { type: "string" },
        "metadata-file": { type: "string" },
        "entity-id": { type: "string" },
        acs: { type: "string" },
        slo: { type: "string" },
        name: { type: "string" },
        "nameid-format": { type: "string" },
        "sign-response": { type: "boolean" },
        "cert-file": { type: "string" },
        ...attributeOption,
      },
      "app add",
    );
    if (positionals.length) throw new UsageError(`unexpected ${positionals.join(" ")}\n\n${help["app add"]}`);
    if (values["metadata-url"]) console.log(`Fetching ${values["metadata-url"] as string} …`);
    const app = await appFromOptions(values);
    await withRuntime(config, async (rt) => {
      const added = rt.apps.add(app, systemClock.now());
      rt.audit.record({ type: "app.registered", outcome: "success", appId: added.id, reason: "cli" });
      console.log(`Registered:\n${describeApp(added)}`);
    });
    return;
  }
  if (sub === "add-sentry") {
    const { values } = parse(args, { org: { type: "string" }, url: { type: "string" }, ...attributeOption }, "app add-sentry");
    if (!values.org) throw new UsageError(`--org SLUG is required\n\n${help["app add-sentry"]}`);
    const app = sentryApp(values.org as string, values.url as string | undefined);
    if (Array.isArray(values.attribute) && values.attribute.length) app.attributes = parseAttributes(values.attribute as string[]);
    await withRuntime(config, async (rt) => {
      const added = rt.apps.add(app, systemClock.now());
      rt.audit.record({ type: "app.registered", outcome: "success", appId: added.id, reason: "cli add-sentry" });
      console.log(`Registered:\n${describeApp(added)}\n`);
      console.log(`In Sentry (Settings → Auth → SAML2), give the IdP as either:
  Metadata URL: ${config.entityId}
  or the fields — Entity ID: ${config.entityId}
                  SSO URL:   ${config.baseUrl}/saml/sso
                  SLO URL:   ${config.baseUrl}/saml/slo
                  x509 cert: the certificate in ${config.dataDir}/keys/signing-cert.pem
Then map: IdP User ID = ${added.attributes.find((a) => a.field === "id")?.name ?? "?"}, User Email = ${added.attributes.find((a) => a.field === "email")?.name ?? "?"}, First Name = ${added.attributes.find((a) => a.field === "firstName")?.name ?? "-"}, Last Name = ${added.attributes.find((a) => a.field === "lastName")?.name ?? "-"}`);
    });
    return;
  }
  if (sub === "list") {
    parse(args, {}, "app list");
    await withRuntime(config, async (rt) => {
      const apps = rt.apps.list();
      if (apps.length === 0) console.log("No apps registered.");
      for (const a of apps) console.log(describeApp(a));
    });
    return;
  }
  if (sub === "remove") {
    const { positionals } = parse(args, {}, "app remove");
    const id = positionals[0];
    if (!id || positionals.length > 1) throw new UsageError(`give one app ID\n\n${help["app remove"]}`);
    await withRuntime(config, async (rt) => {
      if (!rt.apps.remove(id)) throw new UsageError(`no app with ID ${id} (see: app list)`);
      rt.audit.record({ type: "app.removed", outcome: "success", appId: id, reason: "cli" });
      console.log(`Removed ${id}.`);
    });
    return;
  }
  throw new UsageError(`unknown app command ${sub ?? "(none)"}: use add, add-sentry, list or remove`);
}

async function policyCommand(config: Config, sub: string | undefined, args: string[]): Promise<void> {
  if (sub === "check") {
    const { positionals } = parse(args, {}, "policy check");
    const result = checkPolicies(positionals.length ? positionals : policyFilesIn(config.policiesDir));
    for (const line of result.lines) (result.ok ? console.log : console.error)(line);
    if (!result.ok) process.exitCode = 1;
    return;
  }
  if (sub === "list") {
    parse(args, {}, "policy list");
    await withRuntime(config, async (rt) => console.log(listPolicies(rt).join("\n")));
    return;
  }
  if (sub === "assign") {
    const { values, positionals } = parse(args, { app: { type: "string" }, policy: { type: "string" }, mode: { type: "string" } }, "policy assign");
    if (positionals.length || !values.app || !values.policy) throw new UsageError(`--app and --policy are required\n\n${help["policy assign"]}`);
    await withRuntime(config, async (rt) => console.log(assignPolicy(rt, { app: values.app as string, policy: values.policy as string, mode: (values.mode as string | undefined) ?? "enforce" }).join("\n")));
    return;
  }
  if (sub === "simulate") {
    const { values, positionals } = parse(
      args,
      { app: { type: "string" }, user: { type: "string" }, ip: { type: "string" }, "user-agent": { type: "string" }, device: { type: "string" }, devices: { type: "string" }, at: { type: "string" } },
      "policy simulate",
    );
    if (positionals.length || !values.app || !values.user || !values.ip) throw new UsageError(`--app, --user and --ip are required\n\n${help["policy simulate"]}`);
    const v = values as Record<string, string | undefined>;
    await withRuntime(config, async (rt) =>
      console.log(simulate(rt, { app: v.app as string, user: v.user as string, ip: v.ip as string, userAgent: v["user-agent"], device: v.device, devices: v.devices, at: v.at }).join("\n")),
    );
    return;
  }
  throw new UsageError(`unknown policy command ${sub ?? "(none)"}: use check, list, assign or simulate`);
}

async function main(argv: string[]): Promise<void> {
  const [command, sub, ...rest] = argv;
  if (!command || command === "--help" || command === "-h" || command === "help") {
    console.log(help.main);
    return;
  }
  if (command === "serve" && (sub === "--help" || sub === "-h")) {
    console.log(help.serve);
    return;
  }
  if ((command === "user" || command === "app" || command === "policy") && (sub === undefined || sub === "--help" || sub === "-h")) {
    console.log(help.main);
    return;
  }
  const config = loadConfig();
  switch (command) {
    case "serve":
      if (sub !== undefined) throw new UsageError(`serve takes no arguments\n\n${help.serve}`);
      return serve(config);
    case "user":
      return userCommand(config, sub, rest);
    case "app":
      return appCommand(config, sub, rest);
    case "policy":
      return policyCommand(config, sub, rest);
    default:
      throw new UsageError(`unknown command ${command}\n\n${help.main}`);
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
