// The playground in real headless Chromium: an example pre-selected, /ws/echo and a walker tried
// from their examples with the replies pretty-printed, errors marked, empty frames refused, the
// log filtered, drafts kept per surface across a reload, the AsyncAPI reference rendered, and
// screenshots in light and dark at desktop and phone sizes (ops/screenshots/).
import t, { type Test } from 'tap'
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Browser, BrowserContextOptions, Page } from 'playwright-core'
import { startApp, type TestApp } from './helpers/app.ts'
import { browserSkip, launchBrowser, SCREENSHOTS } from './helpers/browser.ts'
import { signToken, TEST_SECRET } from './helpers/tokens.ts'

const pretty = (v: unknown) => JSON.stringify(v, null, 2)

/** Chromium and a fresh app, both closed when the test ends. */
async function setUp(t: Test, env: Record<string, string> = {}): Promise<{ s: TestApp; browser: Browser }> {
  const browser = await launchBrowser()
  t.teardown(() => browser.close())
  const s = await startApp(env)
  t.teardown(s.close)
  return { s, browser }
}

/** A page on the playground, its surfaces listed; dialogs and page errors collected. */
async function open(browser: Browser, s: TestApp, options: BrowserContextOptions = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options })
  const page = await context.newPage()
  const problems: string[] = []
  page.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); void d.dismiss() })
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
  const res = await page.goto(`${s.http}/playground`)
  await page.locator('#surfaces h2').first().waitFor({ state: 'attached' })
  return { page, problems, res }
}

const button = (page: Page, address: string, name: string) =>
  page.locator(`#surfaces button[data-address="${address}"]`, { hasText: new RegExp(`^${name}$`) })

/** Pick a message from the list, opening it first on a phone (where it is behind the Surfaces button). */
async function pick(page: Page, address: string, name: string): Promise<void> {
  if (!await page.locator('#surfaces').isVisible()) await page.click('#menu')
  await button(page, address, name).click()
}

/** The received frames' pretty text, parsed back. */
async function received(page: Page): Promise<unknown[]> {
  return (await page.locator('#log li.in pre').allTextContents()).map((x) => { try { return JSON.parse(x) } catch { return x } })
}

t.test('playground: an example pre-selected, /ws/echo tried, frames pretty-printed and timestamped', { skip: browserSkip() }, async (t) => {
  const { s, browser } = await setUp(t)
  const { page, problems, res } = await open(browser, s)
  t.equal(res?.status(), 200)
  t.match(res?.headers()['content-security-policy'] ?? '', /script-src 'self'/)

  // Every surface from /asyncapi.json, the walkers included, one heading per address.
  for (const address of ['/ws', '/ws/echo', '/ws/health', '/ws/EchoMessage', '/ws/PingPong', '/ws/SecureChat', '/ws/Announce']) {
    t.equal(await page.locator('#surfaces h2', { hasText: new RegExp(`^${address.replace(/\//g, '\\/')} `) }).count(), 1, `lists ${address}`)
  }
  t.equal(await page.locator('#surfaces button[data-address="/ws/Greeting"]').count(), 0, 'HTTP walkers are not WebSocket surfaces')
  await page.locator('#surfaces .http a', { hasText: 'POST /walker/Greeting' }).waitFor()
  t.equal(await page.locator('#surfaces .http a', { hasText: 'POST /walker/Greeting' }).getAttribute('href'), '/docs', 'they are listed, to try in /docs')

  // Pre-selected on a first visit: the diagnostic echo's JSON example.
  t.equal(await button(page, '/ws/echo', 'json').getAttribute('aria-pressed'), 'true', 'an example is pre-selected')
  t.same(JSON.parse(await page.locator('#message').inputValue()), { type: 'test', data: 'hello' }, 'its example pre-filled')
  t.match(await page.locator('#url').inputValue(), /\/ws\/echo$/)
  t.equal(await page.locator('#send').isEnabled(), true, 'a frame can be sent before connecting (Send connects first)')

  await page.click('#connect')
  await page.locator('#state[data-state="open"]').waitFor()
  await page.locator('#log li.in .tag', { hasText: /^welcome$/ }).waitFor()
  await page.click('#send')
  const echo = page.locator('#log li.in', { has: page.locator('.tag', { hasText: /^echo$/ }) })
  await echo.waitFor()
  const echoText = await echo.locator('pre').textContent() ?? ''
  const echoFrame = JSON.parse(echoText) as { original: unknown }
  t.same(echoFrame.original, { type: 'test', data: 'hello' })
  t.equal(echoText, pretty(echoFrame), 'the reply is pretty-printed')
  t.ok(await echo.locator('.j-key').count() > 0, 'keys are highlighted')
  t.match(await page.locator('#log li.out time').first().textContent(), /^\d\d:\d\d:\d\d\.\d{3}$/, 'frames are timestamped')

  // The action dialect from the same list, on the same socket.
  await button(page, '/ws/echo', 'action_echo').click()
  await page.click('#send')
  await page.locator('#log li.in pre', { hasText: '"payload": "anonymous: Hello, world!"' }).waitFor()
  t.same(problems, [], 'no dialog or page error')
})

t.test('playground: a walker example sent shows the pretty reply; errors coloured; empty frames refused; the log filtered', { skip: browserSkip() }, async (t) => {
  const { s, browser } = await setUp(t)
  const { page, problems } = await open(browser, s)

  await button(page, '/ws/EchoMessage', 'fields').click()
  t.same(JSON.parse(await page.locator('#message').inputValue()), { message: 'hello', client_id: 'anonymous' }, 'the walker example, with a word to send')
  t.match(await page.locator('#url').inputValue(), /\/ws\/EchoMessage$/)
  t.equal(await page.locator('#send').textContent(), 'Connect & send')
  await page.click('#send')
  const reply = page.locator('#log li.in', { has: page.locator('.tag', { hasText: /^ok$/ }) })
  await reply.waitFor()
  t.equal(await reply.locator('pre').textContent(), pretty({ ok: true, data: { reports: [{ echo: 'hello', client_id: 'anonymous' }] } }), 'the walker reply, pretty-printed')
  t.not(await reply.getAttribute('data-bad'), 'true', 'a success is not marked as an error')
  t.equal(await page.locator('#send').textContent(), 'Send')

  // An error reply is marked and coloured.
  await page.locator('#message').fill('{"message": 5}')
  await page.click('#send')
  const failure = page.locator('#log li.in', { has: page.locator('.tag', { hasText: /^VALIDATION$/ }) })
  await failure.waitFor()
  t.equal(await failure.getAttribute('data-bad'), 'true', 'the VALIDATION reply is marked as an error')
  const [errorColour, okColour] = await Promise.all([failure.locator('pre'), reply.locator('pre')].map((l) => l.evaluate((el) => getComputedStyle(el).color)))
  t.not(errorColour, okColour, 'and coloured apart')

  // Empty frames are refused: the button is disabled and the hint says why.
  await page.locator('#message').fill('')
  t.equal(await page.locator('#send').isDisabled(), true, 'Send is disabled for an empty frame')
  t.match(await page.locator('#hint').textContent(), /Empty frame/)
  await page.locator('#message').fill('   \n ')
  t.equal(await page.locator('#send').isDisabled(), true, 'and for whitespace')
  await page.locator('#message').press('Control+Enter')
  t.equal(await page.locator('#log li.out').count(), 2, 'Ctrl+Enter sends nothing either')
  await page.locator('#message').fill('{not json')
  t.equal(await page.locator('#send').isEnabled(), true, 'invalid JSON may still be sent (to see the server refuse it)')
  t.match(await page.locator('#hint').textContent(), /Not valid JSON/)

  // The filter: by text, and errors only.
  const shown = () => page.locator('#log li:visible').count()
  const all = await page.locator('#log li').count()
  await page.locator('#filter').fill('validation')
  t.equal(await shown(), 1, 'the filter keeps the matching frame')
  t.match(await page.locator('#count').textContent(), new RegExp(`^1 of ${all} shown$`))
  await page.locator('#filter').fill('')
  t.equal(await shown(), all)
  await page.locator('#errors-only').check()
  t.equal(await page.locator('#log li:visible:not([data-bad="true"])').count(), 0, 'errors only')
  t.ok(await shown() >= 1)
  await page.locator('#errors-only').uncheck()
  t.same(problems, [])
})

t.test('playground: a walker that needs a token says so, refuses without one, answers with one', { skip: browserSkip() }, async (t) => {
  const { s, browser } = await setUp(t, { JWT_SECRET: TEST_SECRET })
  const { page, problems } = await open(browser, s)
  await button(page, '/ws/SecureChat', 'fields').click()
  t.match(await page.locator('#hint').textContent(), /requires a token/, 'the hint says a token is needed')
  await page.click('#send')
  const refused = page.locator('#log li.in', { has: page.locator('.tag', { hasText: /^UNAUTHORIZED$/ }) })
  await refused.waitFor()
  t.equal(await refused.getAttribute('data-bad'), 'true', 'UNAUTHORIZED is marked as an error')
  await page.click('#disconnect')
  await page.locator('#state[data-state="closed"]').waitFor()
  await page.locator('#token').fill(await signToken({ sub: 'alice' }))
  await page.click('#send')
  const answered = page.locator('#log li.in', { has: page.locator('.tag', { hasText: /^ok$/ }) })
  await answered.waitFor()
  t.equal(await answered.locator('pre').textContent(), pretty({ ok: true, data: { reports: [{ echo: 'hello', authenticated: true }] } }))
  t.notMatch(await page.locator('#log').textContent(), /eyJ/, 'the token is not written to the log')
  t.same(problems, [])
})

t.test('playground: drafts are kept per surface in localStorage, across a reload', { skip: browserSkip() }, async (t) => {
  const { s, browser } = await setUp(t)
  const { page } = await open(browser, s)
  await button(page, '/ws/EchoMessage', 'fields').click()
  await page.locator('#message').fill('{"message": "my draft"}')
  await button(page, '/ws/echo', 'json').click()
  t.same(JSON.parse(await page.locator('#message').inputValue()), { type: 'test', data: 'hello' }, 'another surface keeps its own example')
  await button(page, '/ws/EchoMessage', 'fields').click()
  t.equal(await page.locator('#message').inputValue(), '{"message": "my draft"}', 'the draft comes back')

  await page.reload()
  await page.locator('#surfaces h2').first().waitFor({ state: 'attached' })
  t.equal(await button(page, '/ws/EchoMessage', 'fields').getAttribute('aria-pressed'), 'true', 'the last pick is restored')
  t.equal(await page.locator('#message').inputValue(), '{"message": "my draft"}', 'with its draft')
  await page.click('#reset')
  t.same(JSON.parse(await page.locator('#message').inputValue()), { message: 'hello', client_id: 'anonymous' }, 'Reset brings the example back')
  t.equal(await page.locator('#reset').isDisabled(), true)
  const stored = JSON.parse(await page.evaluate(() => localStorage.getItem('switchboard.playground.v1') ?? '{}')) as { drafts: Record<string, unknown> }
  t.same(stored.drafts, {}, 'and forgets the draft')
})

t.test('playground: links to the other pages, and the AsyncAPI document rendered for people', { skip: browserSkip() }, async (t) => {
  const { s, browser } = await setUp(t)
  const { page, problems } = await open(browser, s)
  const hrefs = await page.locator('nav.pages a').evaluateAll((as) => as.map((a) => a.getAttribute('href')))
  t.same(hrefs, ['/', '/playground', '/docs', '/admin'])

  await page.getByRole('tab', { name: 'Reference' }).click()
  const doc = await (await fetch(`${s.http}/asyncapi.json`)).json() as { channels: Record<string, { address: string }> }
  for (const [id, channel] of Object.entries(doc.channels)) {
    t.equal(await page.locator(`#channel-${id} h3 code`).textContent(), channel.address, `channel ${id} rendered`)
  }
  const walker = page.locator('#channel-walker_EchoMessage')
  t.match(await walker.textContent(), /Client → server \(1\).*Server → client \(2\)/s, 'with its messages both ways')
  await walker.locator('summary', { hasText: 'fields' }).click()
  t.match(await walker.locator('table.fields').first().textContent(), /message.*string.*yes/s, 'a table of the fields')
  await walker.locator('summary', { hasText: 'success' }).click()
  t.match(await walker.locator('details').nth(1).textContent(), /WalkerEchoMessageSuccessFromServer/, 'the schema by its title')

  await walker.getByRole('button', { name: 'Try it' }).click()
  t.equal(await page.locator('#console').isVisible(), true, 'Try it opens the console')
  t.equal(await button(page, '/ws/EchoMessage', 'fields').getAttribute('aria-pressed'), 'true', 'with the message picked')
  t.same(problems, [])
})

t.test('playground screenshots: light and dark, 1280×800 and 390×844', { skip: browserSkip() }, async (t) => {
  const { s, browser } = await setUp(t)
  mkdirSync(SCREENSHOTS, { recursive: true })
  const shot = (name: string) => fileURLToPath(new URL(name, SCREENSHOTS))
  for (const scheme of ['light', 'dark'] as const) {
    for (const [width, height, mobile] of [[1280, 800, false], [390, 844, true]] as const) {
      const { page, problems } = await open(browser, s, { viewport: { width, height }, colorScheme: scheme, isMobile: mobile, hasTouch: mobile })
      t.equal(await page.evaluate(() => matchMedia('(prefers-color-scheme: dark)').matches), scheme === 'dark', `${scheme} scheme`)
      await pick(page, '/ws/EchoMessage', 'fields')
      t.equal(await page.locator('#console').isVisible(), true, 'the console shows once a message is picked')
      await page.click('#send')
      await page.locator('#log li.in .tag', { hasText: /^ok$/ }).waitFor()
      await page.locator('#message').fill('{"message": 42}')
      await page.click('#send')
      await page.locator('#log li.in .tag', { hasText: /^VALIDATION$/ }).waitFor()
      await page.locator('#message').fill('{\n  "message": "hello from the playground"\n}')
      if (!mobile) t.equal(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth), true, 'no horizontal scroll')
      else t.equal(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth + 1), true, 'no horizontal scroll on a phone')
      await page.locator('#message').blur()
      await page.screenshot({ path: shot(`playground-${scheme}-${width}x${height}.png`) })
      if (scheme === 'light' && !mobile) await page.screenshot({ path: shot('playground.png') })
      if (!mobile) {
        // The reference: the walker's channel, its client message opened.
        await page.getByRole('tab', { name: 'Reference' }).click()
        const walker = page.locator('#channel-walker_EchoMessage')
        await walker.locator('summary', { hasText: 'fields' }).click()
        await walker.scrollIntoViewIfNeeded()
        await page.screenshot({ path: shot(`playground-reference-${scheme}-${width}x${height}.png`) })
      }
      t.same(problems, [], `${scheme} ${width}×${height}: no page error`)
      await page.context().close()
    }
  }
})

t.test('playground: the history messages of /ws (SPEC 9) are listed with examples and work', { skip: browserSkip() }, async (t) => {
  const { s, browser } = await setUp(t)
  const { page } = await open(browser, s)
  await button(page, '/ws', 'HISTORY').click()
  t.same(JSON.parse(await page.locator('#message').inputValue()).type, 'HISTORY', 'HISTORY is listed with its example')
  await page.click('#connect')
  await page.locator('#state[data-state="open"]').waitFor()
  await button(page, '/ws', 'HELLO').click()
  await page.locator('#message').fill(JSON.stringify({ type: 'HELLO', data: { user_id: '3f1c2b9e-8a47-4d2b-9c1e-5b7a2d4e6f80', display_name: 'Alice', capabilities: ['history'] } }))
  await page.click('#send')
  await page.locator('#log li.in pre', { hasText: '"claim":' }).waitFor()
  await page.locator('#log li.in pre', { hasText: pretty({ type: 'CHATS', data: { chats: [] } }) }).waitFor()
  await button(page, '/ws', 'HISTORY').click()
  await page.click('#send')
  const error = page.locator('#log li.in', { hasText: '"code": "CHAT_NOT_OPENED"' })
  await error.waitFor()
  t.equal(await error.getAttribute('data-bad'), 'true', 'the ERROR is marked')
  t.ok((await received(page)).length >= 3, 'history HELLO, CHATS and a HISTORY answer in the log')
})

t.test('/docs in a browser: every route shown, and links back to the chat page and the playground', { skip: browserSkip() }, async (t) => {
  const { s, browser } = await setUp(t)
  const page = await browser.newPage()
  const res = await page.goto(`${s.http}/docs`)
  t.equal(res?.status(), 200)
  await page.locator('.swagger-ui .info').waitFor()
  for (const [name, href] of [['Chat', '/'], ['Playground', '/playground'], ['Admin', '/admin']]) {
    t.equal(await page.locator('.swagger-ui .info').getByRole('link', { name, exact: true }).getAttribute('href'), href, `links to ${href}`)
  }
  for (const path of ['/metrics', '/health', '/asyncapi.json', '/playground', '/walker/Greeting']) {
    t.ok(await page.locator('.opblock-summary-path', { hasText: new RegExp(`^${path.replace(/\//g, '\\/')}$`) }).count() >= 1, `${path} shown`)
  }
})
