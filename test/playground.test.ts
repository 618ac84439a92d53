// The playground in real headless Chromium: pick /ws/echo, send the example, see the echo.
import t, { type Test } from 'tap'
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { startApp } from './helpers/app.ts'
import { browserSkip, launchBrowser, SCREENSHOTS } from './helpers/browser.ts'

/** Chromium and a fresh app, both closed when the test ends, and a page to open the playground in. */
async function setUp(t: Test) {
  const browser = await launchBrowser()
  t.teardown(() => browser.close())
  const s = await startApp()
  t.teardown(s.close)
  const page = await browser.newPage({ viewport: { width: 1100, height: 700 } })
  return { s, page }
}

t.test('playground: pick /ws/echo, send the example, see the echo in the log', { skip: browserSkip() }, async (t) => {
  const { s, page } = await setUp(t)
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

t.test('playground: the history messages of /ws (SPEC 9) are listed with examples and work', { skip: browserSkip() }, async (t) => {
  const { s, page } = await setUp(t)
  await page.goto(`${s.http}/playground`)
  await page.getByRole('heading', { name: /^\/ws / }).waitFor()
  await page.locator('nav button[data-address="/ws"]', { hasText: /^HISTORY$/ }).click()
  t.same(JSON.parse(await page.locator('#message').inputValue()).type, 'HISTORY', 'HISTORY is listed with its example')
  await page.click('#connect')
  await page.locator('#state[data-state="open"]').waitFor()
  await page.locator('#message').fill(JSON.stringify({ type: 'HELLO', data: { user_id: '3f1c2b9e-8a47-4d2b-9c1e-5b7a2d4e6f80', display_name: 'Alice', capabilities: ['history'] } }))
  await page.click('#send')
  await page.locator('#log li.in', { hasText: '"claim":' }).waitFor()
  await page.locator('#log li.in', { hasText: '{"type":"CHATS","data":{"chats":[]}}' }).waitFor()
  await page.locator('nav button[data-address="/ws"]', { hasText: /^HISTORY$/ }).click()
  await page.click('#send')
  await page.locator('#log li.in', { hasText: '"code":"CHAT_NOT_OPENED"' }).waitFor()
  t.pass('history HELLO, CHATS and a HISTORY answer in the log')
})
