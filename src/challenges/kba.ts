import { randomInt } from "node:crypto";
import { dummyHash, hashSecret, verifySecret } from "../crypto/passwords.ts";
import type { KbaRepository } from "../store/factors.ts";
import type { User } from "../store/users.ts";
import type { Challenge, ChallengeContext, Verdict } from "./types.ts";

export const suggestedQuestions = [
  "What was the name of your first school?",
  "In which town was your first job?",
  "What is the name of a teacher you remember?",
  "What was the make of your first bicycle or car?",
  "What street did you live on at the age of ten?",
] as const;

export const kbaLimits = { questions: 3, asked: 2, minAnswer: 3, maxAnswer: 200, maxQuestion: 200 } as const;

/** Answers compare after Unicode NFKC, case folding and collapsing spaces: "  Main  St " = "main st". */
export const normaliseAnswer = (s: string): string => s.normalize("NFKC").toLowerCase().replace(/\s+/g, " ").trim();

export class KbaSetupError extends Error {}

/**
 * Knowledge-based questions: not a second factor (the answers are often public or guessable),
 * offered because customers ask for them, and never labelled multi-factor.
 */
export class KbaChallenge implements Challenge {
  readonly id = "kba" as const;
  readonly label = "Answers to two of your security questions";
  readonly multiFactor = false;
  readonly #repo: KbaRepository;
  readonly #enabled: boolean;

  constructor(repo: KbaRepository, enabled: boolean) {
    this.#repo = repo;
    this.#enabled = enabled;
  }

  async enrolled(user: User): Promise<boolean> {
    return this.#enabled && (await this.#repo.get(user.id)).length === kbaLimits.questions;
  }

  async begin(ctx: ChallengeContext) {
    const answers = await this.#repo.get(ctx.user.id);
    // The pair is drawn once per account and kept until answered right: neither reloading nor
    // starting another sign-in offers an easier pair.
    const draw = (): number[] => {
      const all = answers.map((a) => a.slot);
      const picked: number[] = [];
      while (picked.length < kbaLimits.asked && all.length) picked.push(all.splice(randomInt(all.length), 1)[0] as number);
      return picked.sort((a, b) => a - b);
    };
    let slots = await this.#repo.pendingPair(ctx.user.id, draw);
    if (slots.some((s) => !answers.some((a) => a.slot === s))) {
      await this.#repo.clearPendingPair(ctx.user.id);
      slots = await this.#repo.pendingPair(ctx.user.id, draw);
    }
    const fields = slots.map((slot, i) => ({ name: `answer${i}`, label: answers.find((a) => a.slot === slot)?.question ?? "", autocomplete: "off", maxlength: kbaLimits.maxAnswer }));
    return {
      state: { ...ctx.state, kbaSlots: slots },
      prompt: { method: this.id, heading: "Answer your security questions", instructions: "Answer both questions as you did when you set them up. Case and extra spaces do not matter.", fields, canResend: false, notice: null },
    };
  }

  async verify(ctx: ChallengeContext, form: Record<string, string>): Promise<Verdict> {
    const answers = await this.#repo.get(ctx.user.id);
    const slots = ctx.state.kbaSlots;
    if (!slots || slots.length !== kbaLimits.asked) return { ok: false, reason: "KBA questions were not asked in this transaction", message: "Please answer the questions shown." };
    // Both answers are always checked, so the time taken does not tell which one was wrong.
    const results = await Promise.all(
      slots.map(async (slot, i) => {
        const stored = answers.find((a) => a.slot === slot);
        return verifySecret(normaliseAnswer((form[`answer${i}`] ?? "").slice(0, kbaLimits.maxAnswer)), stored?.answerHash ?? (await dummyHash()));
      }),
    );
    const right = results.filter(Boolean).length;
    if (right === kbaLimits.asked) {
      await this.#repo.clearPendingPair(ctx.user.id);
      return { ok: true };
    }
    return { ok: false, reason: `KBA: ${right} of ${kbaLimits.asked} answers right`, message: "Those answers do not match the ones you set up." };
  }
}

/** Sets all three questions and answers at once, after checking them. */
export async function setKba(repo: KbaRepository, user: User, items: readonly { question: string; answer: string }[]): Promise<void> {
  if (items.length !== kbaLimits.questions) throw new KbaSetupError(`Give ${kbaLimits.questions} questions with their answers.`);
  const questions = items.map((i) => i.question.normalize("NFKC").replace(/\s+/g, " ").trim());
  if (questions.some((q) => q.length < 5 || q.length > kbaLimits.maxQuestion)) throw new KbaSetupError("Each question needs 5 to 200 characters.");
  if (new Set(questions.map((q) => q.toLowerCase())).size !== questions.length) throw new KbaSetupError("Choose three different questions.");
  const answers = items.map((i) => normaliseAnswer(i.answer));
  if (answers.some((a) => a.length < kbaLimits.minAnswer || a.length > kbaLimits.maxAnswer)) throw new KbaSetupError(`Each answer needs ${kbaLimits.minAnswer} to ${kbaLimits.maxAnswer} characters.`);
  if (new Set(answers).size !== answers.length) throw new KbaSetupError("Give a different answer to each question.");
  // An answer anyone can read off the account is no answer.
  const known = [user.username, user.email, user.email.split("@")[0] ?? "", user.firstName, user.lastName, `${user.firstName} ${user.lastName}`].map(normaliseAnswer).filter((k) => k.length > 0);
  if (answers.some((a) => known.includes(a))) throw new KbaSetupError("An answer must not be your username, email or name.");
  const hashed = await Promise.all(answers.map((a) => hashSecret(a)));
  await repo.replace(user.id, questions.map((question, i) => ({ question, answerHash: hashed[i] as string })));
}
