// Headless Debian Chromium driven by playwright-core. On a newcomer's machine without Chromium
// the browser suites skip, saying so loudly; in CI (CI=true) a missing browser is a failure.
import { existsSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/**
 * Why browser tests cannot run here (Chromium missing), or false when they can. Pass it as
 * the test's `skip` option. In CI a missing browser is not a skip: launchBrowser then fails.
 */
export function browserSkip(): string | false {
  if (existsSync(CHROMIUM) || process.env.CI) return false
  const reason = `Chromium not found at ${CHROMIUM}: install it (apt-get install chromium) or set CHROMIUM_PATH`
  process.stderr.write(`\n*** SKIPPING BROWSER TESTS: ${reason} ***\n\n`)
  return reason
}

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (CI installs it from .ci/apt-packages)`)
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
