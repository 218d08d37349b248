/**
 * The error catalogue: a stable code, an HTTP status and a message safe to show a user.
 * The private detail of a failure goes to the audit log only, never to the page.
 */
export const catalogue = {
  bad_request: { status: 400, message: "The request could not be understood." },
  saml_message_too_large: { status: 413, message: "The sign-in request is too large." },
  saml_message_malformed: { status: 400, message: "The message from the application is malformed." },
  saml_message_forbidden_xml: { status: 400, message: "The sign-in request from the application contains forbidden XML." },
  saml_message_missing: { status: 400, message: "No sign-in request was received from the application." },
  saml_unknown_app: { status: 403, message: "This application is not registered with Gatehouse." },
  saml_acs_not_registered: { status: 403, message: "The application asked to receive the sign-in at an address that is not registered for it." },
  saml_signature_required: { status: 403, message: "The application's request must be signed." },
  saml_signature_invalid: { status: 403, message: "The application's request signature is not valid." },
  saml_request_stale: { status: 400, message: "The sign-in request has expired. Start again from the application." },
  saml_request_replayed: { status: 400, message: "This sign-in request was already used. Start again from the application." },
  saml_unsupported: { status: 400, message: "The application asked for something Gatehouse does not support." },
  saml_logout_invalid: { status: 400, message: "The sign-out request could not be processed." },
  saml_logout_stale: { status: 400, message: "The sign-out request has expired. Sign out again from the application." },
  saml_logout_replayed: { status: 400, message: "This sign-out request was already used. Sign out again from the application." },
  transaction_not_found: { status: 400, message: "This sign-in has expired or was already completed. Start again from the application." },
  transaction_expired: { status: 400, message: "This sign-in has expired. Start again from the application." },
  transaction_wrong_browser: { status: 400, message: "This sign-in was started in another browser. Start again from the application." },
  csrf_failed: { status: 403, message: "The form expired or was sent from another site. Reload the page and try again." },
  login_failed: { status: 401, message: "The username or password is incorrect." },
  login_throttled: { status: 429, message: "Too many failed attempts. Wait a moment and try again." },
  rate_limited: { status: 429, message: "Too many requests from your network. Wait a minute and try again." },
  challenge_throttled: { status: 429, message: "Too many wrong answers for this verification method. Wait a while, or choose another method if you have one." },
  not_signed_in: { status: 401, message: "Sign in first." },
  app_not_found: { status: 404, message: "That application does not exist." },
  not_found: { status: 404, message: "The page does not exist." },
  payload_too_large: { status: 413, message: "The request is too large." },
  internal: { status: 500, message: "Something went wrong on our side. Try again later." },
  server_busy: { status: 503, message: "Gatehouse is very busy right now. Try again in a few seconds.", retryAfterS: 2 },
} as const satisfies Record<string, { status: number; message: string; retryAfterS?: number }>;

export type ErrorCode = keyof typeof catalogue;

export class GatehouseError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly userMessage: string;
  /** Private detail for the audit log and server logs; never rendered. */
  readonly detail: string | undefined;
  /** Sent as Retry-After when the refusal is about load, not about the request. */
  readonly retryAfterS: number | undefined;

  constructor(code: ErrorCode, detail?: string) {
    super(detail ? `${code}: ${detail}` : code);
    this.code = code;
    this.status = catalogue[code].status;
    this.userMessage = catalogue[code].message;
    this.detail = detail;
    const entry: { message: string; retryAfterS?: number } = catalogue[code];
    this.retryAfterS = entry.retryAfterS;
  }
}

export const fail = (code: ErrorCode, detail?: string): never => {
  throw new GatehouseError(code, detail);
};
