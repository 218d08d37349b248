/** SAML status codes (SAML Core §3.2.2.2) Gatehouse sends or reads. */
export const statusCodes = {
  success: "urn:oasis:names:tc:SAML:2.0:status:Success",
  requester: "urn:oasis:names:tc:SAML:2.0:status:Requester",
  responder: "urn:oasis:names:tc:SAML:2.0:status:Responder",
  unknownPrincipal: "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal",
  noAuthnContext: "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext",
} as const;

/** A top-level status code and, where there is one, the second-level code that says why. */
export interface Status {
  code: (typeof statusCodes)["success" | "requester" | "responder"];
  detail?: (typeof statusCodes)["unknownPrincipal" | "noAuthnContext"];
}
