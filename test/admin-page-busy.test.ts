// Two-click Disconnect on the admin page (real headless Chromium) while users keep joining: every
// tick then rebuilds the rows and lists the newcomers first, moving the others down. The armed
// state follows the user, not the button: a second click within 3 s on that user's button closes
// that user, a click on another user's button only arms that one, and nobody else is closed.
import t from 'tap'
import type { Page } from 'playwright-core'
import { startApp, type TestApp } from './helpers/app.ts'
import { browserSkip, launchBrowser } from './helpers/browser.ts'
import { join, sleep, type ChatUser } from './helpers/fastchat.ts'

const TOKEN = 'browser-admin-token-0123456789abcdef'

/** Someone joins, and the page has rebuilt its rows with them listed (first: the newest). */
async function newcomer(s: TestApp, page: Page, name: string, all: ChatUser[]): Promise<void> {
  const user = await join(s, name)
  all.push(user)
  await page.locator(`#users tr[data-user-id="${user.user_id}"]`).waitFor({ timeout: 3000 })
}

const rowIndex = (page: Page, userId: string) =>
  page.evaluate((id) => [...document.querySelectorAll('#users tr')].findIndex((tr) => (tr as HTMLElement).dataset.userId === id), userId)

t.test('admin page, busy instance: the second click closes the armed user, whatever the rows did meanwhile, and nobody else', { skip: browserSkip() }, async (t) => {
  const browser = await launchBrowser()
  t.teardown(() => browser.close())
  const s = await startApp({ ADMIN_TOKEN: TOKEN })
  t.teardown(() => s.close())
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage()
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  await page.goto(`${s.http}/admin#token=${TOKEN}`)
  await page.locator('body[data-state="live"]').waitFor()

  // Users join all along, besides the newcomers each step waits for.
  const everyone: ChatUser[] = []
  let churning = true
  const churn = (async () => {
    for (let i = 0; churning; i++) {
      everyone.push(await join(s, `Churn${i}`))
      await sleep(300)
    }
  })().catch(() => {}) // a join refused as the app closes under a failed test
  t.teardown(async () => {
    churning = false
    await churn
  })

  const victim = await join(s, 'Victim')
  const bystander = await join(s, 'Bystander')
  everyone.push(bystander)
  const kick = page.getByRole('button', { name: 'Disconnect Victim' })
  await kick.click()
  t.equal(await kick.textContent(), 'Confirm', 'the first click arms it')
  const before = await rowIndex(page, victim.user_id)
  await newcomer(s, page, 'Later0', everyone)
  t.ok(await rowIndex(page, victim.user_id) > before, 'the rows were rebuilt and Victim\'s moved down')
  t.equal(await kick.textContent(), 'Confirm', 'still armed in the rebuilt row')
  await kick.click()
  t.same(await victim.client.expectClose(1008), { code: 1008, reason: 'disconnected by an operator' }, 'the second click closed Victim')

  // A click on another user's button arms that user: it is no confirmation for the one armed.
  const other = page.getByRole('button', { name: 'Disconnect Bystander' })
  await other.click()
  await newcomer(s, page, 'Later1', everyone)
  const later1 = page.getByRole('button', { name: 'Disconnect Later1' })
  await later1.click()
  t.equal(await later1.textContent(), 'Confirm', 'the other button is armed now')
  t.equal(await other.textContent(), 'Disconnect', 'and the first one is not')
  await newcomer(s, page, 'Later2', everyone)
  await other.click()
  t.equal(await other.textContent(), 'Confirm', 'back on the first: armed again, not confirmed')

  // Armed for three seconds only, across rebuilds.
  await page.waitForFunction(() => document.querySelector('#users button[data-armed="true"]') === null, undefined, { timeout: 4000 })
  await newcomer(s, page, 'Later3', everyone)
  await other.click()
  t.equal(await other.textContent(), 'Confirm', 'a click after the three seconds arms it again')

  await sleep(500)
  churning = false
  await churn
  t.same(everyone.filter((u) => !u.client.isOpen).map((u) => u.display_name), [], 'nobody but Victim was closed')
  t.same(errors, [])
})
