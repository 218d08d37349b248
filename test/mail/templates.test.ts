import { describe, expect, it } from "vitest";
import { mailTemplates } from "../../src/mail/templates.ts";

const code = "493817";
const to = "ada@example.com";

// Every template, each fed the code wherever it takes a string, so a subject that interpolates
// any argument shows up here.
const messages = {
  signInCode: mailTemplates.signInCode(to, code, 10),
  confirmAddress: mailTemplates.confirmAddress(to, code, 10),
  factorChanged: mailTemplates.factorChanged(to, code, code),
  secondStepFailed: mailTemplates.secondStepFailed(to, code, code, code),
  newDevice: mailTemplates.newDevice(to, code, code, code),
  deviceCloned: mailTemplates.deviceCloned(to, code, code),
} satisfies Record<keyof typeof mailTemplates, unknown>;

describe("mail subjects", () => {
  it.each(Object.entries(messages))("of %s carry no code (subjects show on lock screens and in logs)", (_name, m) => {
    expect(m.subject).not.toContain(code);
    expect(m.subject).not.toMatch(/\d{6}/);
  });

  it.each([
    ["a sign-in code", messages.signInCode],
    ["an address confirmation", messages.confirmAddress],
  ])("of %s still put the code in the text and HTML body", (_name, m) => {
    expect(m.text).toContain(code);
    expect(m.html).toContain(code);
  });
});
