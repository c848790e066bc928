// Test support (not shipped): the headless browser the web UI's tests drive, and their screenshots.
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";

/** Debian's chromium (apt-get install chromium), driven by playwright-core: no browser download. */
export const CHROMIUM = "/usr/bin/chromium";

/** Where every browser test's screenshots go: artifacts/screenshots/ at the repository's root. */
export const SCREENSHOTS = fileURLToPath(new URL("../artifacts/screenshots/", import.meta.url));

export function hasChromium(): boolean {
  return existsSync(CHROMIUM);
}

/** Chromium, headless, with nothing that talks to the network on its own; playwright gives it a fresh profile. */
export async function launchBrowser(): Promise<Browser> {
  await mkdir(SCREENSHOTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A page in a context of its own on baseURL: a desktop window, or a phone's; dialogs are accepted. */
export async function newPage(
  browser: Browser,
  baseURL: string,
  options: { colorScheme?: "light" | "dark"; phone?: boolean } = {},
): Promise<Page> {
  const context = await browser.newContext({
    baseURL,
    colorScheme: options.colorScheme ?? "light",
    viewport: options.phone ? { width: 390, height: 844 } : { width: 1366, height: 900 },
    deviceScaleFactor: 1,
    isMobile: options.phone === true,
    hasTouch: options.phone === true,
  });
  const page = await context.newPage();
  page.on("dialog", (dialog) => void dialog.accept());
  return page;
}

/** The page as artifacts/screenshots/NAME.png (the whole page unless fullPage is false). */
export async function screenshot(page: Page, name: string, fullPage = true): Promise<void> {
  await page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage });
}
