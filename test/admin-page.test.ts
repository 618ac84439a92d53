// The admin console at /admin in real headless Chromium: refused (401) without a token or with a
// wrong one; with `#token=` it goes live and takes the token out of the address bar; a user who
// connects appears within 2 s and the connections chart moves; Disconnect (armed, then confirmed)
// closes that user's sockets with the code and reason typed in. Screenshots at 1280×800 and
// 390×844 go to ops/screenshots/.
import t from 'tap'
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { randomUUID } from 'node:crypto'
import type { Browser, Page } from 'playwright-core'
import { startApp, type TestApp } from './helpers/app.ts'
import { browserSkip, launchBrowser, SCREENSHOTS } from './helpers/browser.ts'
import { join, openChat, sleep, type Frame } from './helpers/fastchat.ts'

const TOKEN = 'browser-admin-token-0123456789abcdef'

async function open(browser: Browser, url: string, viewport: { width: number; height: number }, mobile = false): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport, isMobile: mobile, hasTouch: mobile, colorScheme: 'light' })
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  page.on('console', (m) => {
    // The refused socket of a wrong token is the browser's own console noise, not the page's.
    if (m.type() === 'error' && !/401|Failed to load resource|WebSocket/.test(m.text())) errors.push(m.text())
  })
  const res = await page.goto(url)
  if (res?.status() !== 200) throw new Error(`GET ${url} answered ${res?.status()}`)
  return { page, errors }
}

/** The connections chart: its last point per surface, and its pixels. */
async function connsChart(page: Page): Promise<{ last: [string, number][]; pixels: string }> {
  return page.evaluate(() => {
    const el = document.getElementById('c-conns')!
    return { last: JSON.parse(el.dataset.last || '[]'), pixels: el.querySelector('canvas')!.toDataURL() }
  })
}

/** Some traffic on every kind of surface, so the charts and tables have something to show. */
async function traffic(s: TestApp, seconds: number): Promise<void> {
  const echo = await s.connect('/ws/echo')
  await s.connect('/ws/health')
  for (let i = 0; i < seconds * 4; i++) {
    echo.send(`ping ${i}`)
    await sleep(250)
  }
}

t.test('admin page: 401 without a token, live with it, a new user within 2 s, the chart moves, disconnect with a stated code', { skip: browserSkip() }, async (t) => {
  const browser = await launchBrowser()
  t.teardown(() => browser.close())
  const s = await startApp({ ADMIN_TOKEN: TOKEN })
  t.teardown(() => s.close())

  // No token: refused, nothing of the console shown.
  const bare = await open(browser, `${s.http}/admin`, { width: 1280, height: 800 })
  await bare.page.locator('body[data-state="refused"]').waitFor()
  t.match(await bare.page.locator('#refused-title').textContent(), /401/)
  t.ok(await bare.page.locator('#console').isHidden(), 'no console without a token')
  // A wrong token pasted in: the server's 401, said on the page.
  await bare.page.getByRole('textbox', { name: 'Admin token' }).fill('not-the-token')
  await bare.page.getByRole('button', { name: 'Open' }).click()
  await bare.page.locator('#refused-why', { hasText: 'The server refused the token' }).waitFor()
  t.ok(await bare.page.locator('#console').isHidden(), 'nor with a wrong one')
  t.same(bare.errors, [])

  // The banner's URL: live, and the token leaves the address bar.
  const { page, errors } = await open(browser, `${s.http}/admin#token=${TOKEN}`, { width: 1280, height: 800 })
  await page.locator('body[data-state="live"]').waitFor()
  t.equal(new URL(page.url()).hash, '', 'the token is out of the address bar')
  t.equal(await page.evaluate(() => sessionStorage.getItem('switchboard.admin_token')), TOKEN, 'kept for this tab only')
  await page.waitForFunction(() => Number(document.getElementById('c-conns')?.dataset.points) > 0)
  const before = await connsChart(page)
  t.same(before.last, [['main', 0], ['echo', 0], ['health', 0], ['walker', 0]])

  const started = Date.now()
  const alice = await join(s, 'Alice')
  await page.locator('#users tr', { hasText: 'Alice' }).waitFor({ timeout: 2000 })
  t.ok(Date.now() - started < 2000, `Alice listed ${Date.now() - started} ms after her HELLO`)
  await page.waitForFunction(() => JSON.parse(document.getElementById('c-conns')!.dataset.last || '[]')[0]?.[1] === 1, undefined, { timeout: 2000 })
  const after = await connsChart(page)
  t.same(after.last[0], ['main', 1], 'the chart\'s last point counts her connection')
  t.not(after.pixels, before.pixels, 'and the chart is drawn again')
  t.match(await page.locator('#users tr', { hasText: 'Alice' }).textContent(), /main\s*enveloped\s*since/)
  t.equal(await page.locator('#k-conns').textContent(), '1')

  // Disconnect with a code and reason of our own: armed by the first click, done by the second.
  await page.getByLabel('Close code').fill('4321')
  await page.getByLabel('Reason').fill('closed by the browser test')
  const kick = page.getByRole('button', { name: 'Disconnect Alice' })
  await kick.click()
  t.equal(await kick.textContent(), 'Confirm', 'the first click only arms it')
  t.ok(alice.client.isOpen)
  await kick.click()
  t.same(await alice.client.expectClose(4321), { code: 4321, reason: 'closed by the browser test' })
  await page.locator('#action', { hasText: 'Closed 1 connection of Alice with 4321' }).waitFor()
  await page.locator('#users tr', { hasText: 'Alice' }).waitFor({ state: 'detached', timeout: 3000 })
  // The metrics label close codes from a fixed set (a peer must not grow the series): 4321 is "other".
  await page.locator('#codes tr', { hasText: /close\s*other/ }).waitFor({ timeout: 3000 })
  t.pass('the close shows in the table by code')

  // A populated console for the screenshots: users in both dialects, a chat, traffic on every surface.
  const bob = await join(s, 'Bob')
  const carol = await join(s, 'Carol', { capabilities: ['history'] })
  await openChat(bob, carol)
  const flat = await s.connect('/ws')
  flat.send({ type: 'HELLO', user_id: randomUUID(), display_name: 'Dana (FastChat app)' })
  await flat.waitFor((m: Frame) => m.type === 'HELLO_ACK')
  await traffic(s, 6)
  await page.locator('#users tr', { hasText: 'Dana' }).waitFor()
  t.match(await page.locator('#users tr', { hasText: 'Dana' }).textContent(), /flat/, 'the flat dialect is shown')
  t.same(errors, [])

  mkdirSync(SCREENSHOTS, { recursive: true })
  await page.evaluate(() => window.scrollTo(0, 0))
  await page.screenshot({ path: fileURLToPath(new URL('admin-1280x800.png', SCREENSHOTS)) })
  const phone = await open(browser, `${s.http}/admin#token=${TOKEN}`, { width: 390, height: 844 }, true)
  await phone.page.locator('body[data-state="live"]').waitFor()
  await phone.page.locator('#users tr', { hasText: 'Dana' }).waitFor()
  await phone.page.screenshot({ path: fileURLToPath(new URL('admin-390x844.png', SCREENSHOTS)) })
  t.same(phone.errors, [])
})
