// The playground in real headless Chromium: pick /ws/echo, send the example, see the echo.
import t from 'tap'
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { startApp } from './helpers/app.ts'
import { browserSkip, launchBrowser, SCREENSHOTS } from './helpers/browser.ts'

t.test('playground: pick /ws/echo, send the example, see the echo in the log', { skip: browserSkip() }, async (t) => {
  const browser = await launchBrowser()
  t.teardown(() => browser.close())
  const s = await startApp()
  t.teardown(s.close)

  const page = await browser.newPage({ viewport: { width: 1100, height: 700 } })
  const dialogs: string[] = []
  page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss() })
  const res = await page.goto(`${s.http}/playground`)
  t.equal(res?.status(), 200)
  t.match(res?.headers()['content-security-policy'] ?? '', /script-src 'self'/)

  // The surfaces come from /asyncapi.json.
  await page.getByRole('heading', { name: /^\/ws\/echo/ }).waitFor()
  for (const address of ['/ws', '/ws/echo', '/ws/health']) {
    t.equal(await page.locator('nav h2', { hasText: new RegExp(`^${address.replace(/\//g, '\\/')} `) }).count(), 1, `lists ${address}`)
  }
  await page.locator('nav button[data-address="/ws/echo"]', { hasText: /^json$/ }).click()
  t.same(JSON.parse(await page.locator('#message').inputValue()), { type: 'test', data: 'hello' }, 'example pre-filled')
  await page.click('#connect')
  await page.locator('#state[data-state="open"]').waitFor()
  await page.locator('#log li.in', { hasText: '"type":"welcome"' }).waitFor()
  await page.click('#send')
  const echo = page.locator('#log li.in', { hasText: '"type":"echo"' })
  await echo.waitFor()
  t.match(await echo.textContent(), /"original":\{"type":"test","data":"hello"\}/)
  t.match(await page.locator('#log li.out').first().textContent(), /^\d\d:\d\d:\d\d\.\d{3}/, 'frames are timestamped')

  // The action dialect from the same list.
  await page.locator('nav button[data-address="/ws/echo"]', { hasText: /^action_echo$/ }).click()
  await page.click('#send')
  await page.locator('#log li.in', { hasText: '"payload":"anonymous: Hello, world!"' }).waitFor()

  mkdirSync(SCREENSHOTS, { recursive: true })
  await page.screenshot({ path: fileURLToPath(new URL('playground.png', SCREENSHOTS)) })
  t.same(dialogs, [], 'no dialog opened')
})
