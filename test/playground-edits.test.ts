// The playground in real headless Chromium, against the real server: drafts typed in two tabs
// both kept (each change made to the store as saved, and each tab following the other's); the
// Reference tab's field tables spelling out an envelope's `data.*` and tuples; and a frame sent
// with Ctrl+Enter while the socket is closing sent on a new connection rather than dropped.
import t, { type Test } from 'tap'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { startApp, type TestApp } from './helpers/app.ts'
import { browserSkip, launchBrowser } from './helpers/browser.ts'

const STORE = 'switchboard.playground.v1'

async function setUp(t: Test): Promise<{ s: TestApp; browser: Browser; context: BrowserContext }> {
  const browser = await launchBrowser()
  t.teardown(() => browser.close())
  const s = await startApp()
  t.teardown(s.close)
  return { s, browser, context: await browser.newContext({ viewport: { width: 1280, height: 800 } }) }
}

/** A tab on the playground, its surfaces listed; page errors collected. */
async function open(context: BrowserContext, s: TestApp, problems: string[]): Promise<Page> {
  const page = await context.newPage()
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
  await page.goto(`${s.http}/playground`)
  await page.locator('#surfaces button').first().waitFor()
  return page
}

const button = (page: Page, address: string, name: string) =>
  page.locator(`#surfaces button[data-address="${address}"]`, { hasText: new RegExp(`^${name}$`) })

/** Resolves once this tab is told (storage event) of a store that contains `text`. */
const toldOf = (page: Page, text: string) => page.evaluate(([key, text]) => {
  return new Promise<void>((resolve) => {
    addEventListener('storage', (e) => { if (e.key === key && e.newValue?.includes(text)) resolve() })
  })
}, [STORE, text] as const)

t.test('playground drafts in two tabs: neither erases the other\'s, and each tab sees the other\'s', { skip: browserSkip() }, async (t) => {
  const { s, context } = await setUp(t)
  const problems: string[] = []
  const a = await open(context, s, problems)
  const b = await open(context, s, problems)

  await button(a, '/ws/EchoMessage', 'fields').click()
  await a.locator('#message').fill('{"message": "draft typed in tab A"}')
  const aHears = toldOf(a, 'typed in tab B')
  await button(b, '/ws/health', 'get_status').click()
  await b.locator('#message').fill('{"type": "get_status", "note": "typed in tab B"}')
  await aHears

  const stored = JSON.parse(await b.evaluate((key) => localStorage.getItem(key) ?? '{}', STORE)) as unknown
  t.same(stored, {
    drafts: {
      '/ws/EchoMessage': { walker_EchoMessage_in_fields: '{"message": "draft typed in tab A"}' },
      '/ws/health': { health_in_get_status: '{"type": "get_status", "note": "typed in tab B"}' }
    },
    last: 'health_in_get_status'
  }, 'tab B\'s edit kept tab A\'s draft')

  // Tab A, loaded before tab B typed, shows tab B's draft when it picks that message.
  await button(a, '/ws/health', 'get_status').click()
  t.equal(await a.locator('#message').inputValue(), '{"type": "get_status", "note": "typed in tab B"}', 'tab A sees tab B\'s draft')
  t.equal(await a.locator('#reset').isEnabled(), true, 'as a draft (Reset enabled)')
  // A third tab finds both.
  const c = await open(context, s, problems)
  await button(c, '/ws/EchoMessage', 'fields').click()
  t.equal(await c.locator('#message').inputValue(), '{"message": "draft typed in tab A"}')
  await button(c, '/ws/health', 'get_status').click()
  t.equal(await c.locator('#message').inputValue(), '{"type": "get_status", "note": "typed in tab B"}')

  // Reset in one tab forgets that draft only.
  const bHears = toldOf(b, '"last":"health_in_get_status"')
  await c.click('#reset')
  await bHears
  t.same(JSON.parse(await a.evaluate((key) => localStorage.getItem(key) ?? '{}', STORE)), {
    drafts: { '/ws/EchoMessage': { walker_EchoMessage_in_fields: '{"message": "draft typed in tab A"}' } },
    last: 'health_in_get_status'
  })

  // Another tab's write whose storage event has not arrived yet (written from this very tab,
  // which gets no event for it): a change still starts from the store as saved.
  await a.evaluate((key) => {
    const v = JSON.parse(localStorage.getItem(key) ?? '{}') as { drafts: Record<string, Record<string, string>> }
    v.drafts['/ws/PingPong'] = { walker_PingPong_in_fields: '{"unseen": true}' }
    localStorage.setItem(key, JSON.stringify(v))
  }, STORE)
  await a.locator('#message').fill('{"type": "get_status", "note": "edited in tab A"}')
  t.same(JSON.parse(await a.evaluate((key) => localStorage.getItem(key) ?? '{}', STORE)), {
    drafts: {
      '/ws/EchoMessage': { walker_EchoMessage_in_fields: '{"message": "draft typed in tab A"}' },
      '/ws/PingPong': { walker_PingPong_in_fields: '{"unseen": true}' },
      '/ws/health': { health_in_get_status: '{"type": "get_status", "note": "edited in tab A"}' }
    },
    last: 'health_in_get_status'
  }, 'a write this tab was not told of is kept')
  t.same(problems, [])
})

/** The rows of a message's field table in the Reference tab: field | type | required. */
async function rows(page: Page, channel: string, name: string): Promise<string[]> {
  const details = page.locator(`#channel-${channel} details`).filter({ has: page.locator('summary code', { hasText: new RegExp(`^${name}$`) }) }).first()
  await details.locator('summary').click()
  return details.locator('table.fields tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].slice(0, 3).map((td) => td.textContent).join(' | ')))
}

t.test('playground Reference: an envelope\'s fields spelled out, tuples typed', { skip: browserSkip() }, async (t) => {
  const { s, context } = await setUp(t)
  const problems: string[] = []
  const page = await open(context, s, problems)
  await page.getByRole('tab', { name: 'Reference' }).click()

  t.same(await rows(page, 'main', 'HELLO'), [
    'type | "HELLO" | yes',
    'data | object | yes',
    'data.user_id | string | yes',
    'data.display_name | string | yes',
    'data.capabilities | string[] | no',
    'data.token | string | no',
    'data.claim | string | no'
  ])
  const notes = page.locator('#channel-main details').filter({ has: page.locator('summary code', { hasText: /^HELLO$/ }) }).first().locator('tbody tr', { hasText: 'data.capabilities' }).locator('td').nth(3)
  t.match(await notes.textContent(), /^"presence_delta": changed entries only .*; max items 16$/, 'with its notes')
  t.same(await rows(page, 'main', 'CHAT_OPENED'), [
    'type | "CHAT_OPENED" | yes',
    'data | object | yes',
    'data.chat_id | string | yes',
    'data.participants | [string, string] | yes',
    'data.target_user_id | string | yes',
    'data.target_display_name | string | yes',
    'data.last_seq | integer | no'
  ])
  t.same(await rows(page, 'main', 'PRESENCE'), [
    'type | "PRESENCE" | yes',
    'data | object | yes',
    'data.users | object[] | yes',
    'data.users[].user_id | string | yes',
    'data.users[].display_name | string | yes',
    'data.users[].online | boolean | yes'
  ], 'an array\'s items')
  t.same(await rows(page, 'main', 'PING'), ['type | "PING" | yes', 'data | object | no'])
  t.same(await rows(page, 'main_flat', 'flat_CHAT_OPENED'), [
    'type | "CHAT_OPENED" | yes',
    'chat_id | string | yes',
    'participants | [string, string] | yes',
    'target_user_id | string | yes',
    'target_display_name | string | yes'
  ], 'a flat frame\'s tuple')
  // A field required inside an optional one is required with it.
  t.same(await rows(page, 'walker_EchoMessage', 'failure'), [
    'ok | false | yes',
    'error | object | yes',
    'error.code | "VALIDATION" | "UNAUTHORIZED" | "NOT_FOUND" | "EXECUTION_ERROR" | yes',
    'error.message | string | yes',
    'error.details | object[] | no',
    'error.details[].path | string | with error.details',
    'error.details[].message | string | with error.details'
  ])
  t.same(problems, [])
})

/** The log as `direction tag: text`, sys lines by their text. */
const logLines = (page: Page) => page.locator('#log li').evaluateAll((lis) => lis.map((li) => `${li.className} ${li.querySelector('.tag')?.textContent ?? ''}: ${li.querySelector('pre')?.textContent?.replace(/\s+/g, ' ') ?? ''}`))

t.test('playground: Ctrl+Enter while the socket is closing sends the frame on a new connection', { skip: browserSkip() }, async (t) => {
  const { s, context } = await setUp(t)
  const problems: string[] = []
  const page = await open(context, s, problems)
  await button(page, '/ws/echo', 'json').click()
  await page.click('#connect')
  await page.locator('#log li.in .tag', { hasText: /^welcome$/ }).waitFor()
  await page.locator('#log').evaluate((log) => log.replaceChildren())

  // Picking another surface closes the socket; Ctrl+Enter right then, while it is closing.
  await page.evaluate(() => {
    (document.querySelector('#surfaces button[data-message="health_in_get_status"]') as HTMLButtonElement).click()
    document.getElementById('message')!.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', ctrlKey: true, bubbles: true }))
  })
  await page.locator('#log li.in .tag', { hasText: /^health_status$/ }).nth(1).waitFor({ timeout: 5000 })
  const lines = await logLines(page)
  t.same(lines.slice(0, 6), [
    'sys : switching to /ws/health: closing the current connection',
    'sys : the connection is closing: the frame is sent on a new one once it has closed',
    'sys : closed 1000',
    `sys : connecting to ${new URL(page.url()).origin.replace('http', 'ws')}/ws/health`,
    'sys : open',
    'out get_status: { "type": "get_status" }'
  ], 'closed, reconnected to the picked surface, sent')
  const answers = await page.locator('#log li.in pre').allTextContents()
  t.same(answers.map((a) => (JSON.parse(a) as { status: string }).status), ['connected', 'healthy'], 'the greeting, then the answer to the frame')

  // The same after Disconnect.
  await page.click('#disconnect')
  await page.locator('#state[data-state="closed"]').waitFor()
  await page.click('#connect')
  await page.locator('#state[data-state="open"]').waitFor()
  await page.evaluate(() => {
    document.getElementById('disconnect')!.click()
    document.getElementById('message')!.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', ctrlKey: true, bubbles: true }))
  })
  await page.locator('#log li.in pre', { hasText: '"status": "healthy"' }).nth(1).waitFor({ timeout: 5000 })
  t.equal(await page.locator('#state').getAttribute('data-state'), 'open', 'on a new connection')
  t.same(problems, [])
})
