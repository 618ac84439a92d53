// GET / and its bundle: served with the pages' CSP, no inline script (CSP forbids it), no HTML
// sinks in the page's code, and a missing bundle named with the command that builds it.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { startApp } from './helpers/app.ts'
import { MissingBuildError, readBuilt } from '../src/lib/build-output.ts'

const source = (p: string) => readFileSync(new URL(`../${p}`, import.meta.url), 'utf8')

t.test('GET / serves the chat page, /chat.js its bundle, both under the CSP', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  for (const [path, type] of [['/', /^text\/html/], ['/chat.js', /^text\/javascript/], ['/chat.js.map', /^application\/json/]] as const) {
    const res = await fetch(`${s.http}${path}`)
    t.equal(res.status, 200, path)
    t.match(res.headers.get('content-type'), type)
    t.match(res.headers.get('content-security-policy'), /script-src 'self'/)
    t.equal(res.headers.get('x-content-type-options'), 'nosniff')
  }
  const html = await (await fetch(`${s.http}/`)).text()
  t.same(html.match(/<script\b[^>]*>/g), ['<script type="module" src="/chat.js">'], 'one script, loaded from the origin')
  t.notMatch(html, /\son[a-z]+=/i, 'no inline event handlers')
})

t.test('user text never reaches an HTML sink', async (t) => {
  for (const file of ['src/web/chat.ts', 'src/client/client.ts']) {
    t.notMatch(source(file), /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(/, file)
  }
})

t.test('a missing bundle stops startup with the command that builds it', async (t) => {
  const err = (() => {
    try {
      readBuilt('/nonexistent/chat.js', 'npm run build:web')
    } catch (e) {
      return e
    }
  })()
  t.ok(err instanceof MissingBuildError)
  t.match((err as Error).message, /chat\.js is missing; run `npm run build:web`/)
  t.notMatch((err as Error).message, /\n/, 'one line')
})
