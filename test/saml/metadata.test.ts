import { describe, expect, it } from "vitest";
import { readSpMetadata } from "../../src/saml/metadata/sp-metadata.ts";
import { GatehouseError } from "../../src/errors.ts";

const sp = (body: string, attrs = "") => `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example.test/meta"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"${attrs}>${body}</md:SPSSODescriptor></md:EntityDescriptor>`;
const acs = (url: string, binding = "HTTP-POST", extra = "") => `<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:${binding}" Location="${url}"${extra}/>`;

describe("reading SP metadata", () => {
  it("keeps only HTTP-POST ACS endpoints and marks a default", () => {
    const d = readSpMetadata(sp(acs("https://sp.example.test/artifact", "HTTP-Artifact") + acs("https://sp.example.test/acs", "HTTP-POST", ' index="3"')));
    expect(d.entityId).toBe("https://sp.example.test/meta");
    expect(d.acs).toEqual([{ url: "https://sp.example.test/acs", index: 3, isDefault: true }]);
  });

  it("reads Sentry-style metadata: SLO over Redirect, no key, unspecified NameID", () => {
    const d = readSpMetadata(sp(`<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sentry.io/saml/sls/acme/"/><md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat>${acs("https://sentry.io/saml/acs/acme/")}`, ' AuthnRequestsSigned="false"'));
    expect(d).toMatchObject({ sloUrl: "https://sentry.io/saml/sls/acme/", sloBinding: "HTTP-Redirect", certPem: null, wantRequestsSigned: false, nameIdFormat: "unspecified" });
  });

  it.each([
    ["no POST ACS", sp(acs("https://sp.example.test/a", "HTTP-Artifact"))],
    ["a javascript: ACS", sp(acs("javascript:alert(1)"))],
    ["a DOCTYPE", `<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>${sp(acs("https://sp.example.test/acs"))}`],
    ["not metadata", "<html/>"],
  ])("refuses %s", (_name, xml) => {
    expect(() => readSpMetadata(xml)).toThrow(GatehouseError);
  });
});
