import { SAML, ValidateInResponseTo, type SamlConfig } from "@node-saml/node-saml";
import { DOMParser } from "@xmldom/xmldom";
import xpath from "xpath";
import { generateSigningKey } from "../../src/crypto/keys.ts";

const select = xpath.useNamespaces({ md: "urn:oasis:names:tc:SAML:2.0:metadata", ds: "http://www.w3.org/2000/09/xmldsig#" });

export interface IdpFromMetadata {
  entityId: string;
  ssoRedirect: string;
  ssoPost: string;
  sloRedirect: string;
  certPem: string;
}

/** Reads Gatehouse's published metadata the way an app would: nothing else is used to configure the SP. */
export async function readIdpMetadata(metadataUrl: string): Promise<IdpFromMetadata> {
  const xml = await (await fetch(metadataUrl)).text();
  const doc = new DOMParser().parseFromString(xml, "text/xml");
  const attr = (expr: string) => (select(expr, doc as unknown as Node, true) as Attr | undefined)?.value ?? "";
  const cert = ((select("//md:IDPSSODescriptor/md:KeyDescriptor[@use='signing']//ds:X509Certificate/text()", doc as unknown as Node, true) as Text | undefined)?.data ?? "").replace(/\s+/g, "");
  return {
    entityId: attr("/md:EntityDescriptor/@entityID"),
    ssoRedirect: attr("//md:SingleSignOnService[@Binding='urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect']/@Location"),
    ssoPost: attr("//md:SingleSignOnService[@Binding='urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST']/@Location"),
    sloRedirect: attr("//md:SingleLogoutService[@Binding='urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect']/@Location"),
    certPem: `-----BEGIN CERTIFICATE-----\n${cert.match(/.{1,64}/g)?.join("\n") ?? ""}\n-----END CERTIFICATE-----\n`,
  };
}

export interface TestSp {
  entityId: string;
  acs: string;
  slo: string;
  saml: SAML;
  keyPem: string;
  certPem: string;
}

/** @node-saml/node-saml as the app, with strict settings. */
export async function makeSp(idp: IdpFromMetadata, name: string, overrides: Partial<SamlConfig> = {}): Promise<TestSp> {
  const entityId = `https://${name}.example.test/saml/metadata`;
  const acs = `https://${name}.example.test/saml/acs`;
  const slo = `https://${name}.example.test/saml/slo`;
  const { keyPem, certPem } = await generateSigningKey(name, new Date());
  const saml = new SAML({
    entryPoint: idp.ssoRedirect,
    logoutUrl: idp.sloRedirect,
    issuer: entityId,
    callbackUrl: acs,
    idpCert: idp.certPem,
    idpIssuer: idp.entityId,
    audience: entityId,
    wantAssertionsSigned: true,
    wantAuthnResponseSigned: true,
    validateInResponseTo: ValidateInResponseTo.always,
    acceptedClockSkewMs: 2_000,
    disableRequestedAuthnContext: true,
    identifierFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    privateKey: keyPem,
    signatureAlgorithm: "sha256",
    ...overrides,
  });
  return { entityId, acs, slo, saml, keyPem, certPem };
}

/**
 * The URL Gatehouse's same-origin "Signing you out" page navigates to (its Continue link): how a
 * Redirect-binding message leaves Gatehouse in answer to a form post.
 */
export function redirectPageTarget(page: { status: number; body: string }): string {
  const href = /<a id="saml-redirect"[^>]*href="([^"]*)"/.exec(page.body)?.[1];
  if (page.status !== 200 || href === undefined) throw new Error(`not a redirect page (status ${page.status}):\n${page.body.slice(0, 300)}`);
  return href.replace(/&#x2F;/g, "/").replace(/&#x3D;/g, "=").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, "&");
}
