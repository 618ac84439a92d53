// Headless Debian Chromium driven by playwright-core. On a newcomer's machine without Chromium
// the browser suites skip, saying so loudly; in CI (CI=true) a missing browser is a failure.
import { existsSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** Resolves to a browser, or to a skip reason when Chromium is missing outside CI. */
export async function launchBrowser(): Promise<Browser | { skip: string }> {
  if (!existsSync(CHROMIUM)) {
    const reason = `Chromium not found at ${CHROMIUM}: install it (apt-get install chromium) or set CHROMIUM_PATH`
    if (process.env.CI) throw new Error(reason)
    process.stderr.write(`\n*** SKIPPING BROWSER TESTS: ${reason} ***\n\n`)
    return { skip: reason }
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      // Playwright gives each launch a fresh, empty profile of its own.
      '--disable-background-networking', '--disable-component-update', '--disable-sync'
    ]
  })
}

export const SCREENSHOTS = new URL('../../ops/screenshots/', import.meta.url)
