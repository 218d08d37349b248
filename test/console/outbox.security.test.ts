/**
 * Attack: the demo outbox (/account/outbox, on by default in demo mode) listed mail to the
 * user's latest *unconfirmed* alternate email. Typing a victim's address there was enough to
 * read the victim's sign-in codes. It now shows mail to the user's own confirmed addresses and
 * mail Gatehouse tagged as sent on this user's behalf, and nothing tagged for someone else.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readOutbox } from "../../src/mail/mailer.ts";
import { readForm, type Browser } from "../helpers/client.ts";
import { startGatehouse, type TestGatehouse } from "../helpers/gatehouse.ts";
import { journeys } from "../helpers/journeys.ts";

const password = "correct horse battery staple";
let gh: TestGatehouse;
const j = journeys(() => gh, password);

beforeAll(async () => {
  const email = "name: email\nversion: 1\nrules: []\ndefault: { challenge: { methods: [email-otp] } }\n";
  gh = await startGatehouse({ GATEHOUSE_DEMO: "true", GATEHOUSE_TRUSTED_PROXIES: "127.0.0.1" }, { policies: { "email.yaml": email } });
});
afterAll(() => gh.close());

/** The outbox is written in the background: wait (bounded) until a message to this address is there. */
async function mailTo(address: string, subject: RegExp): Promise<string> {
  for (let i = 0; i < 50; i++) {
    const found = readOutbox(gh.rt.mailer.outbox ?? "", [address]).find((m) => subject.test(m.subject));
    if (found) return found.text;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no mail to ${address}`);
}
const codeOf = (text: string) => /\b(\d{6})\b/.exec(text)?.[1] ?? "none";

describe("the demo outbox", () => {
  let attacker: Browser;
  let victim: Browser;
  let victimCode = "";
  let confirmCode = "";

  beforeAll(async () => {
    const bob = await gh.addUser("bob", password, { email: "bob@example.com" });
    await gh.rt.users.setAltEmail(bob.id, "bob.home@example.org", gh.clock.now());
    await gh.addUser("mal", password, { email: "mal@example.com" });

    // mal asks for bob's alternate address as theirs: the confirmation code goes there, unconfirmed.
    attacker = await j.accountSession(j.browser(), "mal");
    const form = readForm(await attacker.request(j.url("/account/alt-email")));
    expect((await attacker.submit(form, { address: "bob.home@example.org" })).status).toBe(200);
    confirmCode = codeOf(await mailTo("bob.home@example.org", /Confirm your alternate email/));

    // bob signs in with a code sent to that address.
    await gh.rt.loginPolicies.assign("default", "email", "enforce", gh.clock.now());
    try {
      victim = j.browser();
      const login = await victim.follow(j.url("/login"));
      const challenge = await victim.follow(j.url((await victim.submit(readForm(login), { username: "bob", password })).headers.get("location") ?? ""));
      victimCode = codeOf(await mailTo("bob.home@example.org", /sign-in code/));
      expect((await victim.submit(readForm(challenge), { code: victimCode })).status).toBe(303);
    } finally {
      await gh.rt.loginPolicies.assign("default", "first-factor-only", "enforce", gh.clock.now());
    }
  });

  it("does not show another user's sign-in codes to someone who typed their address", async () => {
    const page = await attacker.request(j.url("/account/outbox"));
    expect(page.status).toBe(200);
    expect(page.body).not.toContain("sign-in code");
    expect(page.body).not.toContain(victimCode);
    // What mal asked for is theirs to see: the confirmation mail, tagged as sent for mal.
    expect(page.body).toContain("Confirm your alternate email");
    expect(page.body).toContain(confirmCode);
  });

  it("shows the user their own mail, and not the code someone else asked to be sent to them", async () => {
    const page = await victim.request(j.url("/account/outbox"));
    expect(page.body).toContain(victimCode);
    expect(page.body).not.toContain(confirmCode);
  });
});
