// The chat page on a server with AUTH_REQUIRED=true, in real headless Chromium: a person without
// a token is asked for one (not stuck on a refused join), bad tokens are explained, a pasted
// token joins, and a `?token=` link joins at once and leaves the address bar without the token.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import type { Browser, Page } from 'playwright-core'
import { startApp } from './helpers/app.ts'
import { browserSkip, launchBrowser } from './helpers/browser.ts'
import { signToken } from './helpers/tokens.ts'

async function open(browser: Browser, url: string): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  const res = await page.goto(url)
  if (res?.status() !== 200) throw new Error(`GET ${url} answered ${res?.status()}`)
  return { page, errors }
}

const tokenError = (page: Page) => page.locator('#token-error')

t.test('AUTH_REQUIRED: the join form asks for a token, explains bad ones, and a good one joins', { skip: browserSkip() }, async (t) => {
  const secret = 'chat-page-token-secret-long-enough-for-hs256'
  const s = await startApp({ JWT_SECRET: secret, AUTH_REQUIRED: true })
  t.teardown(s.close)
  const browser = await launchBrowser()
  t.teardown(() => browser.close())

  const { page, errors } = await open(browser, `${s.http}/`)
  t.ok(await page.locator('#token-field').isHidden(), 'no token field before the server asks for one')
  await page.getByLabel('Display name').fill('Alice')
  await page.getByLabel('Display name').press('Enter')
  await tokenError(page).waitFor()
  t.equal(await tokenError(page).textContent(), 'This server lets people in with a sign-in token: paste yours below.')
  t.ok(await page.getByLabel('Sign-in token').isVisible(), 'the token field is shown')
  t.equal(await page.evaluate(() => document.activeElement?.id), 'token', 'and focused')
  t.match(await page.locator('#token-hint').textContent(), /npm run -s token -- --sub/)

  const tryToken = async (value: string) => {
    await page.getByLabel('Sign-in token').fill(value)
    await page.getByRole('button', { name: 'Join' }).click()
  }
  await tryToken('')
  t.equal(await tokenError(page).textContent(), 'Paste your sign-in token: this server lets nobody in without one.')
  await tryToken('not-a-token')
  t.equal(await tokenError(page).textContent(), 'This is not a token: a token (JWT) is three parts separated by dots.')
  await tryToken(await signToken({ sub: 'alice' }, { secret }))
  t.equal(await tokenError(page).textContent(), 'This token is for “alice”, but chat user ids are UUIDs: ask for a token whose sub is a UUID.')
  await tryToken(await signToken({ sub: randomUUID() }, { secret, ttl: Math.floor(Date.now() / 1000) - 60 }))
  t.match(await tokenError(page).textContent(), /^This token expired on .+: get a new one\.$/)
  await tryToken(await signToken({ sub: randomUUID() }, { secret: 'some-other-secret-that-is-long-enough-too' }))
  await page.locator('#token-error', { hasText: 'refused' }).waitFor()
  t.equal(await tokenError(page).textContent(), 'The server refused this token: it has expired, or it was signed with another key. Paste a new one.')

  const alice = randomUUID()
  await tryToken(await signToken({ sub: alice, name: 'Alice' }, { secret }))
  await page.locator('#me-name', { hasText: 'Alice' }).waitFor()
  t.ok(await page.getByRole('button', { name: 'Sign out' }).isVisible(), 'a way to drop the token')

  // A link with the token: joins at once (name from the token), and the address bar loses it.
  const bob = randomUUID()
  const bobToken = await signToken({ sub: bob, name: 'Bob' }, { secret })
  const link = await open(browser, `${s.http}/?debug&token=${encodeURIComponent(bobToken)}`)
  await link.page.locator('#me-name', { hasText: 'Bob' }).waitFor()
  t.equal(new URL(link.page.url()).search, '?debug', 'the token is gone from the address, other parameters stay')
  await link.page.locator('#people-list button', { hasText: 'Alice' }).waitFor()
  await page.locator('#people-list button', { hasText: 'Bob' }).waitFor()
  t.pass('Alice and Bob see each other')

  // A reload of the tab keeps the token (sessionStorage), so the person stays signed in.
  await link.page.reload()
  await link.page.locator('#me-name', { hasText: 'Bob' }).waitFor()
  t.equal(new URL(link.page.url()).search, '?debug')

  // Signing out forgets it: the join form asks again.
  await link.page.getByRole('button', { name: 'Sign out' }).click()
  await link.page.locator('#token-field').waitFor()
  t.equal(await tokenError(link.page).textContent(), 'This server lets people in with a sign-in token: paste yours below.')

  // A link whose token cannot work says why at once.
  const bad = await open(browser, `${s.http}/?token=garbage`)
  await tokenError(bad.page).waitFor()
  t.equal(await tokenError(bad.page).textContent(), 'This is not a token: a token (JWT) is three parts separated by dots.')
  t.equal(new URL(bad.page.url()).search, '')

  // A token that expires while chatting: the server ends the socket; the banner says why and
  // offers to sign in again, rather than reconnecting in vain.
  const carol = randomUUID()
  const short = await signToken({ sub: carol, name: 'Carol' }, { secret, ttl: Math.floor(Date.now() / 1000) + 3 })
  const expiring = await open(browser, `${s.http}/?token=${encodeURIComponent(short)}`)
  await expiring.page.locator('#me-name', { hasText: 'Carol' }).waitFor()
  await expiring.page.locator('#banner-text', { hasText: 'Your sign-in token expired.' }).waitFor({ timeout: 15_000 })
  await expiring.page.getByRole('button', { name: 'Sign in again' }).click()
  await tokenError(expiring.page).waitFor()
  t.equal(await tokenError(expiring.page).textContent(), 'This server lets people in with a sign-in token: paste yours below.')

  t.same([...errors, ...link.errors, ...bad.errors, ...expiring.errors], [], 'no page errors')
})
