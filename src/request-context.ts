import { AsyncLocalStorage } from "node:async_hooks";

/**
 * The request being served, for code that runs on its behalf without being handed it: the audit
 * log stores its ID with each event, the logger writes it on each line. A root module, so that
 * audit/ can read it without importing http/ (which sets it, in http/request-log.ts).
 */
const current = new AsyncLocalStorage<{ readonly requestId: string }>();

/** Runs `fn`, and everything it starts, as part of the request `requestId`. */
export const runInRequest = <T>(requestId: string, fn: () => T): T => current.run({ requestId }, fn);

/** The ID of the request being served; undefined outside one (startup, the sweeper). */
export const currentRequestId = (): string | undefined => current.getStore()?.requestId;
