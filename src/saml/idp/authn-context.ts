/**
 * RequestedAuthnContext (SAML Core §3.3.2.2.1): which AuthnContextClassRef a sign-in may be
 * asserted with, given what the app asked for. When nothing fits, the answer is a Response with
 * the status Responder / NoAuthnContext, never an assertion with another class.
 */
export const authnContexts = {
  password: "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
  // The REFEDS MFA profile: the widely recognised class for "more than one factor".
  multiFactor: "https://refeds.org/profile/mfa",
} as const;

export interface RequestedAuthnContext {
  comparison: "exact" | "minimum" | "maximum" | "better";
  classRefs: string[];
  declRefs: string[];
}

// Strength as Gatehouse deems it (the specification leaves the order to the responder).
// Password is ranked so that "minimum Password" is met, though Gatehouse never asserts it.
const strength: Readonly<Record<string, number>> = {
  "urn:oasis:names:tc:SAML:2.0:ac:classes:Password": 1,
  [authnContexts.password]: 2,
  [authnContexts.multiFactor]: 3,
};

/**
 * The class to assert, or null when none fits (→ NoAuthnContext). A multi-factor sign-in may be
 * asserted as either class (the password went over TLS too); a password-only one only as
 * PasswordProtectedTransport. Of the classes that fit, the strongest is asserted.
 *
 * - exact: one of the listed classes;
 * - minimum: at least as strong as one of them;
 * - better: stronger than each of them (read strictly: "stronger than any one");
 * - maximum: as strong as possible without exceeding the strongest listed.
 * Declarations (AuthnContextDeclRef) and classes Gatehouse cannot rank are never met.
 */
export function chooseAuthnContext(requested: RequestedAuthnContext | null, multiFactor: boolean): string | null {
  const truthful: string[] = multiFactor ? [authnContexts.multiFactor, authnContexts.password] : [authnContexts.password];
  if (!requested) return truthful[0] ?? null;
  const ranks = requested.classRefs.map((c) => strength[c]).filter((r): r is number => r !== undefined);
  if (ranks.length === 0) return null;
  const weakest = Math.min(...ranks);
  const strongest = Math.max(...ranks);
  const fits = (c: string): boolean => {
    const s = strength[c] ?? 0;
    switch (requested.comparison) {
      case "exact":
        return requested.classRefs.includes(c);
      case "minimum":
        return s >= weakest;
      case "better":
        return s > strongest;
      case "maximum":
        return s <= strongest;
    }
  };
  return truthful.find(fits) ?? null;
}

/** Whether any sign-in Gatehouse can perform would meet the request: if not, say so before asking for a password. */
export const satisfiable = (requested: RequestedAuthnContext | null): boolean => chooseAuthnContext(requested, true) !== null || chooseAuthnContext(requested, false) !== null;
