import type { Config } from "../config.ts";
import { SecretBox } from "../crypto/secret-box.ts";
import type { Mailer } from "../mail/mailer.ts";
import type { EmailCodeRepository } from "../store/email-codes.ts";
import type { KbaRepository, TotpRepository } from "../store/factors.ts";
import { EmailCodes } from "./email-codes.ts";
import { EmailOtpChallenge } from "./email-otp.ts";
import { KbaChallenge } from "./kba.ts";
import { Challenges } from "./registry.ts";
import { TotpChallenge, TotpEnrolment } from "./totp.ts";

/** The challenge methods and what they share, built once from the runtime's parts. */
export function buildChallenges(p: { config: Config; totp: TotpRepository; kba: KbaRepository; emailCodes: EmailCodeRepository; mailer: Mailer; serverSecret: Buffer; factorKey: Buffer }) {
  const box = new SecretBox(p.factorKey);
  const emailCodes = new EmailCodes(p.emailCodes, p.mailer, p.serverSecret, p.config.lifetimes.emailCodeMs);
  const challenges = new Challenges([new TotpChallenge(p.totp, box), new KbaChallenge(p.kba, p.config.kba), new EmailOtpChallenge(emailCodes)]);
  return { challenges, emailCodes, totpEnrolment: new TotpEnrolment(p.totp, box, "Gatehouse") };
}
