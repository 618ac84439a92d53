// The chat page with history (SPEC 9) in real headless Chromium: Bob visits once, so he is known;
// Alice writes to him while his page is closed (✓ sent, the bubble showing the content as
// stored); Bob comes back to an inbox with an unread badge, his page keeping his identity and
// claim; opening the chat loads it from the log and marks it seen (✓✓ received on Alice's side);
// both reload and see the same conversation with the same marks. A long chat loads older
// messages when scrolled to the top. Screenshots go to ops/screenshots/.
import t from 'tap'
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { startApp } from './helpers/app.ts'
import { browserSkip, launchBrowser, SCREENSHOTS } from './helpers/browser.ts'
import { FastChatClient, uuidv4 } from '../src/client/index.ts'

interface ChatPage {
  context: BrowserContext
  page: Page
  errors: string[]
}

async function openPage(browser: Browser, base: string, context?: BrowserContext): Promise<ChatPage> {
  context ??= await browser.newContext({ viewport: { width: 1000, height: 700 } })
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  page.on('dialog', (d) => {
    errors.push(`dialog: ${d.message()}`)
    void d.dismiss()
  })
  const res = await page.goto(`${base}/`)
  if (res?.status() !== 200) throw new Error(`GET / answered ${res?.status()}`)
  return { context, page, errors }
}

async function join({ page }: ChatPage, name: string): Promise<void> {
  await page.getByLabel('Display name').fill(name)
  await page.getByLabel('Display name').press('Enter')
  await page.locator('#me-name', { hasText: name }).waitFor()
}

/** A page that rejoins by itself (its name is stored) is in once its name shows. */
const joined = ({ page }: ChatPage, name: string) => page.locator('#me-name', { hasText: name }).waitFor()
const person = ({ page }: ChatPage, name: string) => page.locator('#people-list button', { hasText: name })
const bubble = ({ page }: ChatPage, who: 'mine' | 'theirs', text: string | RegExp) =>
  page.locator(`#messages li.msg.${who}`).filter({ has: page.locator('.text', { hasText: text }) })
const withStatus = ({ page }: ChatPage, status: string) => page.locator(`[data-status="${status}"]`)

/** The open conversation as the reader sees it: whose, the text, and the mark. */
function shown({ page }: ChatPage): Promise<string[]> {
  return page.evaluate(() => [...document.querySelectorAll<HTMLElement>('#messages li.msg')].map((li) => {
    const who = li.classList.contains('mine') ? 'me' : 'them'
    const mark = li.querySelector('.mark')?.textContent
    return `${who}: ${li.querySelector('.text')?.textContent}${mark ? ` [${mark}]` : ''}`
  }))
}

const stored = ({ page }: ChatPage) => page.evaluate(() => ({
  user_id: localStorage.getItem('switchboard.user_id'),
  name: localStorage.getItem('switchboard.display_name'),
  claim: JSON.parse(localStorage.getItem('switchboard.claim') ?? 'null') as { user_id: string; claim: string } | null
}))

async function send(p: ChatPage, text: string): Promise<void> {
  await p.page.locator('#text').fill(text)
  await p.page.locator('#text').press('Enter')
}

t.test('chat page history: a message to an offline Bob waits for him, unread in his inbox, the same after both reload', { skip: browserSkip() }, async (t) => {
  const browser = await launchBrowser()
  t.teardown(() => browser.close())
  const s = await startApp({ HISTORY_STORE: 'memory' })
  t.teardown(() => s.close())

  // Bob visits once: the server knows him from now on; his page keeps his id, name and claim.
  const alice = await openPage(browser, s.http)
  let bob = await openPage(browser, s.http)
  await join(alice, 'Alice')
  await join(bob, 'Bob')
  const bobIdentity = await stored(bob)
  t.match(bobIdentity, { user_id: /^[0-9a-f-]{36}$/, name: 'Bob', claim: { claim: /^[A-Za-z0-9_-]{22,}$/ } }, 'id, name and claim in localStorage')
  t.equal(bobIdentity.claim?.user_id, bobIdentity.user_id, 'the claim is kept with the id it belongs to')
  await person(alice, 'Bob').click()
  await alice.page.locator('#chat-title', { hasText: 'Bob' }).waitFor()
  await bob.page.close()

  // Alice writes while Bob's page is closed: stored (✓ sent), the bubble showing the stored text.
  await alice.page.locator('#peer-status', { hasText: 'offline' }).waitFor()
  t.equal(await person(alice, 'Bob').getAttribute('data-online'), 'false', 'Bob stays listed, with the offline look')
  await send(alice, 'Are you there, Bob?')
  await send(alice, 'hi <b>Bob</b>, call me')
  await send(alice, 'third')
  for (const text of ['Are you there, Bob?', 'hi Bob, call me', 'third']) {
    await bubble(alice, 'mine', text).and(withStatus(alice, 'stored')).waitFor()
  }
  t.same(await shown(alice), ['me: Are you there, Bob? [✓ sent]', 'me: hi Bob, call me [✓ sent]', 'me: third [✓ sent]'],
    'stored for Bob; the markup was stripped and the sender sees what Bob will see')

  // Bob comes back later: the same user (no name to type), Alice in his inbox with 3 unread.
  bob = await openPage(browser, s.http, bob.context)
  await joined(bob, 'Bob')
  t.same(await stored(bob), bobIdentity, 'the same identity and claim')
  const badge = person(bob, 'Alice').locator('.badge')
  await badge.waitFor()
  t.equal(await badge.textContent(), '3', 'an unread badge in the inbox')
  t.equal(await bob.page.title(), '(3) Switchboard chat')
  // Handed over, not seen yet: ✓✓ delivered on Alice's side.
  await alice.page.locator('#messages li.msg.mine[data-status="delivered"]').nth(2).waitFor()
  t.same(await shown(alice), ['me: Are you there, Bob? [✓✓ delivered]', 'me: hi Bob, call me [✓✓ delivered]', 'me: third [✓✓ delivered]'])

  // Bob opens the chat: the messages come from the log; seeing them is one receipt for all.
  await person(bob, 'Alice').click()
  await bubble(bob, 'theirs', 'third').waitFor()
  t.same(await shown(bob), ['them: Are you there, Bob?', 'them: hi Bob, call me', 'them: third'])
  await bob.page.locator('#people-list .badge').waitFor({ state: 'detached' })
  await alice.page.locator('#messages li.msg.mine[data-status="received"]').nth(2).waitFor()
  t.same(await shown(alice), ['me: Are you there, Bob? [✓✓ received]', 'me: hi Bob, call me [✓✓ received]', 'me: third [✓✓ received]'],
    'one receipt marks every earlier message too')

  // Bob answers; Alice has the chat open, so she sees it at once.
  await send(bob, 'Hi Alice!')
  await bubble(alice, 'theirs', 'Hi Alice!').waitFor()
  await bubble(bob, 'mine', 'Hi Alice!').and(withStatus(bob, 'received')).waitFor()
  const aliceSees = await shown(alice)
  const bobSees = await shown(bob)
  t.same(bobSees, ['them: Are you there, Bob?', 'them: hi Bob, call me', 'them: third', 'me: Hi Alice! [✓✓ received]'])

  // Both reload: the same conversation, loaded from the log, with the same marks; nothing unread.
  await Promise.all([alice, bob].map((p) => p.page.reload()))
  await joined(alice, 'Alice')
  await joined(bob, 'Bob')
  for (const [p, name, before] of [[alice, 'Bob', aliceSees], [bob, 'Alice', bobSees]] as const) {
    await person(p, name).waitFor()
    t.equal(await person(p, name).locator('.badge').count(), 0, `${name}: nothing unread after the reload`)
    await person(p, name).click()
    await p.page.locator('#messages li.msg').nth(3).waitFor()
    t.same(await shown(p), before, `${name === 'Bob' ? 'Alice' : 'Bob'} sees the same conversation, marks included`)
  }

  mkdirSync(SCREENSHOTS, { recursive: true })
  await alice.page.screenshot({ path: fileURLToPath(new URL('chat-history-alice.png', SCREENSHOTS)) })
  await bob.page.screenshot({ path: fileURLToPath(new URL('chat-history-bob.png', SCREENSHOTS)) })
  for (const [name, p] of [['Alice', alice], ['Bob', bob]] as const) t.same(p.errors, [], `${name}: no script error`)
})

t.test('chat page history: a long chat shows the newest 50, older ones load on scrolling to the top', { skip: browserSkip() }, async (t) => {
  const browser = await launchBrowser()
  t.teardown(() => browser.close())
  const s = await startApp({ HISTORY_STORE: 'memory', CHAT_MSG_PER_MIN: 1000 })
  t.teardown(() => s.close())

  const carol = await openPage(browser, s.http)
  await join(carol, 'Carol')
  const { user_id: carolId } = await stored(carol)
  await carol.page.close()

  // Dave, a Node client of the SDK, writes 70 messages to Carol while she is away.
  const dave = new FastChatClient({ url: s.ws('/ws'), WebSocket, history: true })
  t.teardown(() => dave.close())
  await dave.hello({ user_id: uuidv4(), display_name: 'Dave' })
  while (dave.presence.has(carolId!) || dave.presence.size === 0) await new Promise((resolve) => setTimeout(resolve, 20))
  const statuses = new Set<string>()
  for (let i = 1; i <= 70; i++) statuses.add((await dave.send(carolId!, `message ${i}`)).status)
  t.same([...statuses], ['stored'], 'all 70 stored for Carol')

  // Carol comes back: the 70 are handed over (all 70 unread), then she reloads: now the page
  // has only the log to show them from.
  const back = await openPage(browser, s.http, carol.context)
  await joined(back, 'Carol')
  await person(back, 'Dave').locator('.badge', { hasText: '70' }).waitFor()
  await back.page.reload()
  await joined(back, 'Carol')
  await person(back, 'Dave').locator('.badge', { hasText: '70' }).waitFor()
  await person(back, 'Dave').click()
  await bubble(back, 'theirs', /^message 70$/).waitFor()
  const texts = () => back.page.locator('#messages li.msg .text').allTextContents()
  await back.page.waitForFunction(() => document.querySelectorAll('#messages li.msg').length >= 50)
  let list = await texts()
  t.equal(list.length, 50, 'the newest 50')
  t.same([list[0], list.at(-1)], ['message 21', 'message 70'])
  t.ok(await back.page.evaluate(() => {
    const log = document.getElementById('messages')!
    return log.scrollHeight - log.scrollTop - log.clientHeight < 2
  }), 'scrolled to the newest')

  await back.page.locator('#messages').evaluate((log) => log.scrollTo({ top: 0 }))
  await bubble(back, 'theirs', /^message 1$/).waitFor()
  list = await texts()
  t.same(list, Array.from({ length: 70 }, (_, i) => `message ${i + 1}`), 'all 70, in order')
  t.ok(await back.page.evaluate(() => document.getElementById('messages')!.scrollTop > 0), 'the reader stays where they were, not thrown to the top')
  await person(back, 'Dave').locator('.badge').waitFor({ state: 'detached' })
  t.same(back.errors, [])
})
