import { z } from "zod";
import { IpEntryError, parseEntry } from "./ip.ts";

/** One schema for policy files and, later, console-authored policies. */
export const challengeMethods = ["totp", "kba", "email-otp"] as const;
export type ChallengeMethod = (typeof challengeMethods)[number];

const limits = { rules: 500, entriesPerList: 200_000, names: 200 } as const;

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
    ip: z.union([z.object({ in: ipEntries }).strict(), z.object({ notIn: ipEntries }).strict()]).optional(),
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
        days: z.array(z.enum(days)).min(1).max(7).optional(),
        hours: z
          .string()
          .refine((h) => {
            const [a, b, extra] = h.split("-");
            return extra === undefined && !!a && !!b && hhmm.test(a) && hhmm.test(b) && a !== b;
          }, 'must be "HH:MM-HH:MM" (24 h; an end before the start spans midnight)')
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
    methods: z.array(z.enum(challengeMethods)).min(1).max(3),
    ifNoneEnrolled: z.enum(["deny", "allow"]).default("deny"),
  })
  .strict()
  .refine((c) => new Set(c.methods).size === c.methods.length, "methods must not repeat");

export const actionSchema = z.union([
  z.literal("allow"),
  z.object({ deny: z.object({ message: z.string().min(1).max(500) }).strict() }).strict(),
  z.object({ challenge }).strict(),
]);

export const policySchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "must be lower-case letters, digits, - or _"),
    version: z.number().int().min(1),
    description: z.string().max(2000).optional(),
    ipLists: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/), ipEntries.refine((l) => l.every((e) => !e.startsWith("@")), "IP lists cannot refer to other lists")).optional(),
    unknownIp: z.union([z.literal("deny"), z.object({ challenge }).strict()]).default("deny"),
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
