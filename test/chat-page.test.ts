// The chat page at `/` in real headless Chromium: Alice (desktop) and Bob (phone width) join,
// see each other, chat both ways with typing indicators and delivery marks, ride out a server
// restart on the same port, and markup in a message stays text. Screenshots of both pages go
// to ops/screenshots/.
import t from 'tap'
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { startApp } from './helpers/app.ts'
import { browserSkip, launchBrowser, SCREENSHOTS } from './helpers/browser.ts'

interface ChatPage {
  page: Page
  dialogs: string[]
  errors: string[]
}

async function openPage(browser: Browser, base: string, viewport: { width: number; height: number }, mobile = false): Promise<ChatPage> {
  const context = await browser.newContext({ viewport, isMobile: mobile, hasTouch: mobile })
  const page = await context.newPage()
  const dialogs: string[] = []
  const errors: string[] = []
  page.on('dialog', (d) => {
    dialogs.push(d.message())
    void d.dismiss()
  })
  page.on('pageerror', (err) => errors.push(err.message))
  const res = await page.goto(`${base}/`)
  if (res?.status() !== 200) throw new Error(`GET / answered ${res?.status()}`)
  return { page, dialogs, errors }
}

/** Join with the keyboard: type the name, press Enter. */
async function join({ page }: ChatPage, name: string): Promise<void> {
  await page.getByLabel('Display name').fill(name)
  await page.getByLabel('Display name').press('Enter')
  await page.locator('#me-name', { hasText: name }).waitFor()
}

const person = ({ page }: ChatPage, name: string) => page.locator('#people-list button', { hasText: name })
const bubble = ({ page }: ChatPage, who: 'mine' | 'theirs', text: string) =>
  page.locator(`#messages li.msg.${who}`).filter({ has: page.locator('.text', { hasText: text }) })

/** Every data-status a message bubble takes, as "text: status", from now on. */
async function watchMarks({ page }: ChatPage): Promise<() => Promise<string[]>> {
  await page.evaluate(() => {
    const seen: string[] = []
    ;(window as unknown as { marks: string[] }).marks = seen
    new MutationObserver((records) => {
      for (const r of records) {
        const el = r.target as HTMLElement
        seen.push(`${el.querySelector('.text')?.textContent}: ${el.dataset.status}`)
      }
    }).observe(document.getElementById('messages')!, { subtree: true, attributes: true, attributeFilter: ['data-status'] })
  })
  return () => page.evaluate(() => (window as unknown as { marks: string[] }).marks)
}

t.test('chat page: join, presence, chat both ways, typing, marks, restart, markup as text', { skip: browserSkip() }, async (t) => {
  const browser = await launchBrowser()
  t.teardown(() => browser.close())
  let s = await startApp()
  const port = s.port
  t.teardown(() => s.close())

  const alice = await openPage(browser, s.http, { width: 1100, height: 720 })
  const bob = await openPage(browser, s.http, { width: 390, height: 760 }, true)
  const res = await alice.page.request.get(`${s.http}/chat.js`)
  t.equal(res.status(), 200, 'the bundle is served')
  t.match(res.headers()['content-type'], /text\/javascript/)

  await join(alice, 'Alice')
  await join(bob, 'Bob')
  const aliceId = await alice.page.evaluate(() => localStorage.getItem('switchboard.user_id'))
  t.match(aliceId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a UUID v4 kept in localStorage')

  // Each sees the other online.
  await person(alice, 'Bob').waitFor()
  await person(bob, 'Alice').waitFor()
  t.equal(await person(alice, 'Bob').locator('.sub').textContent(), 'online')

  // Alice opens the chat with a click, Bob with the keyboard.
  await person(alice, 'Bob').click()
  await alice.page.locator('#chat-title', { hasText: 'Bob' }).waitFor()
  t.equal(await alice.page.evaluate(() => document.activeElement?.id), 'text', 'focus moves to the message box')
  await person(bob, 'Alice').focus()
  await bob.page.keyboard.press('Enter')
  await bob.page.locator('#chat-title', { hasText: 'Alice' }).waitFor()
  t.equal(await bob.page.locator('#people').isVisible(), false, 'phone width: the conversation replaces the list')

  // Both ways: the receiver sees the typing indicator, Enter sends, the sender's mark goes
  // pending → delivered → received, and the indicator goes when the message arrives.
  for (const [from, to, fromName, text] of [[alice, bob, 'Alice', 'Hi Bob'], [bob, alice, 'Bob', 'Hello Alice']] as const) {
    const marks = await watchMarks(from)
    await from.page.locator('#text').pressSequentially(text)
    await to.page.locator('#typing', { hasText: `${fromName} is typing…` }).waitFor()
    await from.page.locator('#text').press('Enter')
    await bubble(to, 'theirs', text).waitFor()
    await bubble(from, 'mine', text).and(from.page.locator('[data-status="received"]')).waitFor()
    t.same(await marks(), [`${text}: pending`, `${text}: delivered`, `${text}: received`], `${fromName}: pending, delivered, received`)
    t.match(await bubble(from, 'mine', text).locator('.mark').textContent(), /received/)
    await to.page.locator('#typing', { hasText: /^$/ }).waitFor()
  }

  // Markup is text: a lone tag is refused in place (nothing left after stripping); inside prose
  // the server strips it and Bob sees the prose. Nowhere does an <img> appear or a dialog open.
  const tag = '<img src=x onerror=alert(1)>'
  await alice.page.locator('#text').fill(tag)
  await alice.page.locator('#text').press('Enter')
  const refused = bubble(alice, 'mine', tag)
  await refused.and(alice.page.locator('[data-status="failed"]')).waitFor()
  t.equal(await refused.locator('.text').textContent(), tag, 'shown exactly as typed, as text')
  t.match(await refused.locator('.error').textContent(), /Not sent: the text must be 1–1000 characters after removing HTML \(got 0\)/, 'the error in place')
  await alice.page.locator('#text').fill(`look ${tag} here`)
  await alice.page.locator('#text').press('Enter')
  const stripped = bubble(bob, 'theirs', 'look')
  await stripped.waitFor()
  t.equal(await stripped.locator('.text').textContent(), 'look  here', 'stripped by the server, shown as text')
  // The sender's bubble shows the content as stored (SPEC 9's ack), which is what Bob sees.
  await bubble(alice, 'mine', 'look').and(alice.page.locator('[data-status="received"]')).waitFor()
  t.equal(await bubble(alice, 'mine', 'look').locator('.text').textContent(), 'look  here', "the sender sees the recipient's copy")
  for (const p of [alice, bob]) t.equal(await p.page.locator('#messages img').count(), 0, 'no <img> element')

  // The server restarts on the same port: both pages say so, and come back by themselves.
  await s.close()
  await alice.page.locator('#banner[data-state="reconnecting"]', { hasText: 'reconnecting' }).waitFor()
  await bob.page.locator('#banner[data-state="reconnecting"]').waitFor()
  await alice.page.locator('#text').fill('sent during the outage')
  await alice.page.locator('#text').press('Enter')
  const queued = bubble(alice, 'mine', 'sent during the outage')
  t.equal(await queued.getAttribute('data-status'), 'pending', 'pending while disconnected')
  s = await startApp({}, { port })
  await Promise.all([alice, bob].map((p) => p.page.locator('#banner[data-state="open"]').waitFor({ timeout: 30_000 })))
  await bubble(bob, 'theirs', 'sent during the outage').waitFor({ timeout: 30_000 })
  await queued.and(alice.page.locator('[data-status="received"]')).waitFor()
  await alice.page.waitForTimeout(1000)
  t.equal(await bubble(bob, 'theirs', 'sent during the outage').count(), 1, 'arrived exactly once')
  t.equal(await bubble(bob, 'theirs', 'Hi Bob').count(), 1, 'nothing earlier arrived again')

  // Still chatting after the restart.
  await bob.page.locator('#text').fill('welcome back')
  await bob.page.locator('#text').press('Enter')
  await bubble(alice, 'theirs', 'welcome back').waitFor()

  t.ok(await bob.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scrolling at phone width')
  await Promise.all([alice, bob].map((p) => p.page.locator('#banner').waitFor({ state: 'hidden' })))
  mkdirSync(SCREENSHOTS, { recursive: true })
  await alice.page.screenshot({ path: fileURLToPath(new URL('chat-alice.png', SCREENSHOTS)) })
  await bob.page.screenshot({ path: fileURLToPath(new URL('chat-bob.png', SCREENSHOTS)) })

  for (const [name, p] of [['Alice', alice], ['Bob', bob]] as const) {
    t.same(p.dialogs, [], `${name}: no dialog opened`)
    t.same(p.errors, [], `${name}: no script error`)
  }
})
