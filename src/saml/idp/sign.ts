import { SignedXml } from "xml-crypto";
import type { SigningKey } from "../../crypto/keys.ts";

const algorithms = {
  signature: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
  digest: "http://www.w3.org/2001/04/xmlenc#sha256",
  c14n: "http://www.w3.org/2001/10/xml-exc-c14n#",
  enveloped: "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
} as const;

/**
 * Signs the element with the given local name and ID attribute, placing the enveloped
 * signature right after its Issuer, as the SAML schema requires.
 */
export function signElement(xml: string, localName: "Assertion" | "Response" | "LogoutRequest" | "LogoutResponse", id: string, key: SigningKey): string {
  const keyInfo = `<ds:X509Data><ds:X509Certificate>${key.certBase64}</ds:X509Certificate></ds:X509Data>`;
  const sig = new SignedXml({
    privateKey: key.privateKey,
    signatureAlgorithm: algorithms.signature,
    canonicalizationAlgorithm: algorithms.c14n,
    getKeyInfoContent: () => keyInfo,
  });
  const target = `//*[local-name(.)='${localName}' and @ID='${id}']`;
  sig.addReference({ xpath: target, transforms: [algorithms.enveloped, algorithms.c14n], digestAlgorithm: algorithms.digest });
  sig.computeSignature(xml, { prefix: "ds", location: { reference: `${target}/*[local-name(.)='Issuer']`, action: "after" } });
  return sig.getSignedXml();
}
