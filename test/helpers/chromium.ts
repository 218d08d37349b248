import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";

const candidates = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"].filter((p): p is string => !!p);

export const chromiumPath = candidates.find((p) => existsSync(p));

/**
 * Whether browser tests can run here. Without Chromium they are skipped with a loud warning,
 * unless GATEHOUSE_REQUIRE_BROWSER=1 (set by .ci/run), where a missing browser is a failure.
 */
export function browserAvailable(): boolean {
  if (chromiumPath) return true;
  if (process.env.GATEHOUSE_REQUIRE_BROWSER === "1") throw new Error("GATEHOUSE_REQUIRE_BROWSER=1 but no Chromium found (apt-get install chromium)");
  console.warn("\n**************************************************************\n* BROWSER TESTS SKIPPED: no Chromium at /usr/bin/chromium.   *\n* Install it with: apt-get install -y chromium               *\n**************************************************************\n");
  return false;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** A page in a fresh context that collects the console's errors (CSP violations among them). */
export async function newPage(browser: Browser): Promise<{ page: Page; errors: string[] }> {
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(8000);
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  return { page, errors };
}
