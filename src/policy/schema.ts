import { z } from "zod";
import { IpEntryError, parseEntry } from "./ip.ts";

/** One schema for policy files and, later, console-authored policies. */
export const challengeMethods = ["totp", "kba", "email-otp"] as const;
export type ChallengeMethod = (typeof challengeMethods)[number];

const limits = { rules: 500, entriesPerList: 200_000, names: 200 } as const;

const shown = (v: unknown): string => (v === undefined ? "nothing" : JSON.stringify(v) ?? typeof v);

/** An enum whose error names the value it got and the values it takes. */
const oneOfWords = <const T extends readonly [string, ...string[]]>(what: string, words: T) =>
  z.enum(words, { error: (issue) => `unknown ${what} ${shown(issue.input)}; allowed: ${words.join(", ")}` });

type Keyed<S extends Record<string, z.ZodType>> = { [K in keyof S]: { [P in K]: z.output<S[K]> } }[keyof S];

/**
 * One of a few bare words or single-key objects, told apart by that word or key before anything
 * else is checked, so an error points inside the shape the author meant. (A zod union whose
 * branches all fail says only "Invalid input".)
 */
function choice<const W extends string, S extends Record<string, z.ZodType>>(what: string, words: readonly W[], shapes: S, note = "") {
  const allowed = [...words, ...Object.keys(shapes)].join(", ") + note;
  return z.unknown().transform((value, ctx): W | Keyed<S> => {
    if (typeof value === "string" && (words as readonly string[]).includes(value)) return value as W;
    const keys = typeof value === "object" && value !== null && !Array.isArray(value) ? Object.keys(value) : null;
    const unknown = keys?.find((k) => !Object.hasOwn(shapes, k));
    const key = keys?.[0];
    if (keys && !unknown && keys.length === 1 && key !== undefined) {
      const r = (shapes[key] as z.ZodType).safeParse((value as Record<string, unknown>)[key]);
      // The branch's own output, under its own key: Keyed<S> by construction.
      if (r.success) return { [key]: r.data } as Keyed<S>;
      for (const issue of r.error.issues) ctx.addIssue({ ...issue, path: [key, ...issue.path] });
      return z.NEVER;
    }
    ctx.addIssue({ code: "custom", message: refusal(value, keys, unknown) });
    return z.NEVER;
  });
  function refusal(value: unknown, keys: string[] | null, unknown: string | undefined): string {
    if (value === undefined) return `missing ${what}; allowed: ${allowed}`;
    if (!keys) return `unknown ${what} ${shown(value)}; allowed: ${allowed}`;
    if (unknown !== undefined) return `unknown ${what} ${shown(unknown)}; allowed: ${allowed}`;
    if (keys.length === 0) return `an empty ${what}; allowed: ${allowed}`;
    return `${keys.map((k) => `"${k}"`).join(" and ")} in one ${what}: use one`;
  }
}

const ipEntry = z.string().superRefine((s, ctx) => {
  if (s.startsWith("@")) {
    if (!/^@[a-z0-9][a-z0-9_-]{0,63}$/.test(s)) ctx.addIssue({ code: "custom", message: `"${s}" is not a valid IP list name` });
    return;
  }
  try {
    parseEntry(s);
  } catch (e) {
    if (e instanceof IpEntryError) ctx.addIssue({ code: "custom", message: e.message });
    else throw e;
  }
});
const ipEntries = z.array(ipEntry).min(1).max(limits.entriesPerList);

const days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
const hhmm = /^([01][0-9]|2[0-3]):[0-5][0-9]$/;

const timeZone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, "is not a known IANA time zone (e.g. Europe/Paris)");

const names = z.array(z.string().min(1).max(100)).min(1).max(limits.names);

export const conditionsSchema = z
  .object({
    ip: choice("IP condition", [], { in: ipEntries, notIn: ipEntries }).optional(),
    device: z
      .object({
        mobile: z.boolean().optional(),
        os: names.optional(),
        browser: names.optional(),
        trusted: z.boolean().optional(),
        known: z.boolean().optional(),
        countExceeds: z.number().int().min(0).max(1000).optional(),
        // A browser never reveals a MAC address: a policy that asks for one cannot be honoured.
        mac: z.never({ error: "a browser does not reveal a MAC address: device identity comes from a device cookie" }).optional(),
      })
      .strict()
      .optional(),
    user: z.object({ inGroup: names }).strict().optional(),
    time: z
      .object({
        days: z.array(oneOfWords("day", days)).min(1).max(7).optional(),
        // Wall-clock minutes in timeZone, start inside, end outside: "09:00-17:00" is 09:00 to
        // 16:59. An end before the start crosses midnight, and the window belongs to the day it
        // starts: days [fri] with "22:00-02:00" is Friday 22:00 to Saturday 01:59. On a day the
        // clocks change the window is an hour shorter or longer.
        hours: z
          .string()
          .refine((h) => {
            const [a, b, extra] = h.split("-");
            return extra === undefined && !!a && !!b && hhmm.test(a) && hhmm.test(b) && a !== b;
          }, 'must be "HH:MM-HH:MM" (24 h, the end minute outside; an end before the start ends the next day)')
          .optional(),
        timeZone,
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((c) => Object.keys(c).length > 0, "a rule needs at least one condition (use the default for everything else)");

const challenge = z
  .object({
    methods: z.array(oneOfWords("method", challengeMethods)).min(1).max(3),
    ifNoneEnrolled: oneOfWords("value", ["deny", "allow"]).default("deny"),
  })
  .strict()
  .refine((c) => new Set(c.methods).size === c.methods.length, "methods must not repeat");

export const actionSchema = choice("action", ["allow"], { deny: z.object({ message: z.string().min(1).max(500) }).strict(), challenge });

export const policySchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "must be lower-case letters, digits, - or _"),
    version: z.number().int().min(1),
    description: z.string().max(2000).optional(),
    ipLists: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/), ipEntries.refine((l) => l.every((e) => !e.startsWith("@")), "IP lists cannot refer to other lists")).optional(),
    unknownIp: choice("action", ["deny"], { challenge }, " (an address Gatehouse cannot read is never simply allowed)").default("deny"),
    options: z.object({ trustedDevicesSkipChallenge: z.boolean().default(false) }).strict().default({ trustedDevicesSkipChallenge: false }),
    rules: z.array(z.object({ name: z.string().min(1).max(100).optional(), when: conditionsSchema, then: actionSchema }).strict()).max(limits.rules),
    default: actionSchema,
  })
  .strict()
  .superRefine((p, ctx) => {
    p.rules.forEach((rule, i) => {
      const ip = rule.when.ip;
      const entries = ip ? ("in" in ip ? ip.in : ip.notIn) : [];
      entries.forEach((e, j) => {
        if (e.startsWith("@") && !p.ipLists?.[e.slice(1)]) {
          ctx.addIssue({ code: "custom", path: ["rules", i, "when", "ip", ip && "in" in ip ? "in" : "notIn", j], message: `"${e}" names no list in ipLists` });
        }
      });
    });
  });

export type Policy = z.infer<typeof policySchema>;
export type Action = z.infer<typeof actionSchema>;
export type Conditions = z.infer<typeof conditionsSchema>;

/** `rules[2].when.ip.in[3]` from a zod path. */
export const formatPath = (path: readonly PropertyKey[]): string =>
  path.reduce<string>((s, k) => (typeof k === "number" ? `${s}[${k}]` : s ? `${s}.${String(k)}` : String(k)), "");
