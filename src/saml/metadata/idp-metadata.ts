import { create } from "xmlbuilder2";
import { nameIdFormats } from "../../store/apps.ts";
import { ns } from "../xml.ts";

export interface IdpEndpoints {
  entityId: string;
  ssoUrl: string;
  sloUrl: string;
  certBase64: string;
}

const bindings = {
  redirect: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
  post: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
} as const;
export { bindings };

/** Gatehouse's IdP metadata. SSO over HTTP-Redirect comes first: Sentry only reads that binding. */
export function idpMetadata(e: IdpEndpoints): string {
  const doc = create({ version: "1.0", encoding: "UTF-8" });
  const ed = doc.ele(ns.md, "md:EntityDescriptor", { entityID: e.entityId });
  const idp = ed.ele(ns.md, "md:IDPSSODescriptor", {
    protocolSupportEnumeration: ns.samlp,
    WantAuthnRequestsSigned: "false",
  });
  idp
    .ele(ns.md, "md:KeyDescriptor", { use: "signing" })
    .ele(ns.ds, "ds:KeyInfo")
    .ele(ns.ds, "ds:X509Data")
    .ele(ns.ds, "ds:X509Certificate")
    .txt(e.certBase64);
  for (const b of [bindings.redirect, bindings.post]) idp.ele(ns.md, "md:SingleLogoutService", { Binding: b, Location: e.sloUrl });
  for (const f of [nameIdFormats.email, nameIdFormats.persistent, nameIdFormats.unspecified]) idp.ele(ns.md, "md:NameIDFormat").txt(f);
  for (const b of [bindings.redirect, bindings.post]) idp.ele(ns.md, "md:SingleSignOnService", { Binding: b, Location: e.ssoUrl });
  return doc.end({ prettyPrint: true });
}
