/**
 * npm run bench: signed responses per second for the full SP-initiated round trip (session
 * already established), next to raw RSA-SHA256 signatures per second measured in the same run.
 */
import { createSign } from "node:crypto";
import { deflateRawSync } from "node:zlib";
import { Browser } from "../helpers/client.ts";
import { startGatehouse } from "../helpers/gatehouse.ts";
import { authnRequest } from "../fixtures/authn-requests.ts";
import { buildResponse, authnContexts } from "../../src/saml/idp/response.ts";
import { benchPolicy } from "./policy.ts";

const seconds = Number(process.env.BENCH_SECONDS ?? 3);

async function measure(name: string, op: () => unknown): Promise<number> {
  for (let i = 0; i < 20; i++) await op(); // warm-up
  const end = performance.now() + seconds * 1000;
  let n = 0;
  const start = performance.now();
  while (performance.now() < end) {
    await op();
    n++;
  }
  const rate = n / ((performance.now() - start) / 1000);
  console.log(`${name.padEnd(52)} ${rate.toFixed(0).padStart(8)} /s`);
  return rate;
}

// One client sends hundreds of requests a second: lift the per-network limits taken before sign-in.
const gh = await startGatehouse({ GATEHOUSE_SAML_REQUESTS_PER_MINUTE: "1000000", GATEHOUSE_LOGIN_REQUESTS_PER_MINUTE: "1000000" });
try {
  const issuer = "https://bench-sp.example.test/metadata";
  const acs = "https://bench-sp.example.test/acs";
  await gh.addApp({ entityId: issuer, acs: [{ url: acs, index: 0, isDefault: true }], signResponse: false });
  await gh.addUser("bench", "a long and correct password");
  const key = gh.rt.keys.signing;
  console.log(`Gatehouse bench, ${seconds} s per measurement, Node ${process.version}\n`);

  const rsa = await measure("baseline: raw RSA-SHA256 signature (2048-bit)", () => createSign("RSA-SHA256").update("x".repeat(1500)).sign(key.privateKey));
  const build = await measure("assertion build + XML-DSig signature", () =>
    buildResponse(
      { issuer: gh.rt.config.entityId, destination: acs, audience: issuer, inResponseTo: "_abc", nameId: "bench@example.com", nameIdFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", sessionIndex: "_s", authnInstant: Date.now(), authnContext: authnContexts.password, attributes: [{ name: "email", values: ["bench@example.com"] }], now: Date.now(), lifetimeMs: 300_000, signAssertion: true, signResponse: false },
      key,
    ),
  );

  // A browser with an SSO session: each round trip is AuthnRequest → signed Response POST page.
  const browser = new Browser();
  const first = await browser.follow(`${gh.url}/saml/sso?SAMLRequest=${encodeURIComponent(deflateRawSync(authnRequest({ issuer })).toString("base64"))}`);
  const tx = /name="tx" value="([^"]+)"/.exec(first.body)?.[1] as string;
  const csrf = /name="csrf" value="([^"]+)"/.exec(first.body)?.[1] as string;
  await browser.request(`${gh.url}/login`, { form: { tx, csrf, username: "bench", password: "a long and correct password" } });
  const roundTrip = await measure("SSO round trip over HTTP (session established)", async () => {
    const page = await browser.request(`${gh.url}/saml/sso?SAMLRequest=${encodeURIComponent(deflateRawSync(authnRequest({ issuer })).toString("base64"))}`);
    if (!page.body.includes("SAMLResponse")) throw new Error(`round trip did not issue a response: ${page.status}`);
  });

  console.log(`\nratios against the raw RSA baseline measured above:`);
  console.log(`  signed assertion build   ${(build / rsa).toFixed(3)} x RSA`);
  console.log(`  SSO round trip           ${(roundTrip / rsa).toFixed(3)} x RSA`);
  benchPolicy(seconds);
} finally {
  await gh.close();
}
