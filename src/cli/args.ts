import { parseArgs, type ParseArgsConfig } from "node:util";
import { systemClock } from "../clock.ts";
import type { Config } from "../config.ts";
import { openRuntime, type Runtime } from "../runtime.ts";
import { UsageError } from "./apps.ts";

export type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parses a command's arguments strictly; `--help` prints its usage and exits. */
export function parseCommand(args: string[], options: Options, usage: string) {
  const all: Options = { help: { type: "boolean", short: "h" }, ...options };
  let parsed;
  try {
    parsed = parseArgs({ args, options: all, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${usage}`);
  }
  if (parsed.values.help) {
    console.log(usage);
    process.exit(0);
  }
  return parsed;
}

/** Opens the runtime for one command and closes it whatever happens. */
export async function withRuntime<T>(config: Config, work: (rt: Runtime) => Promise<T>): Promise<T> {
  const rt = await openRuntime(config, systemClock);
  try {
    return await work(rt);
  } finally {
    await rt.close();
  }
}

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}
