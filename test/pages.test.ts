// GET / and its bundle: served with the pages' CSP, no inline script (CSP forbids it), no HTML
// sinks in the page's code, and a missing bundle named with the command that builds it. The
// playground's page, /docs listing every HTTP route, and screenshots of the chat page in light
// and dark at desktop and phone sizes (ops/screenshots/chat-*.png).
import t from 'tap'
import { mkdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { startApp } from './helpers/app.ts'
import { browserSkip, launchBrowser, SCREENSHOTS } from './helpers/browser.ts'
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

t.test('GET /playground and /playground.js: served under the CSP, one script from the origin', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  for (const [path, type] of [['/playground', /^text\/html/], ['/playground.js', /^text\/javascript/]] as const) {
    const res = await fetch(`${s.http}${path}`)
    t.equal(res.status, 200, path)
    t.match(res.headers.get('content-type'), type)
    t.match(res.headers.get('content-security-policy'), /script-src 'self'/)
  }
  const html = await (await fetch(`${s.http}/playground`)).text()
  t.same(html.match(/<script\b[^>]*>/g), ['<script type="module" src="/playground.js">'])
  t.notMatch(html, /\son[a-z]+=/i, 'no inline event handlers')
  for (const href of ['/', '/playground', '/docs', '/admin']) t.match(html, `href="${href}"`, `links to ${href}`)
})

/** Every route the app serves, from Fastify's own table: [method, path] with `:param` as OpenAPI's `{param}`. */
function routeTable(printed: string): [string, string][] {
  const out: [string, string][] = []
  const stack: string[] = []
  for (const line of printed.split('\n')) {
    const m = /^((?:│ {3}| {4})*)(?:├── |└── )(.+) \(([^)]+)\)$/.exec(line)
    if (!m) continue
    const depth = m[1]!.length / 4
    const path = (stack[depth - 1] ?? '') + m[2]!
    stack[depth] = path
    stack.length = depth + 1
    for (const method of m[3]!.split(', ')) out.push([method, path.replace(/:([A-Za-z_]+)/g, '{$1}')])
  }
  return out
}

t.test('/docs lists every HTTP route, /metrics included, and links back to the other pages', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const doc = await (await fetch(`${s.http}/docs/json`)).json() as { info: { description: string }; paths: Record<string, Record<string, { summary?: string }>> }
  const listed = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)))
  const routes = routeTable(s.app.printRoutes({ commonPrefix: false }))
  t.ok(routes.length > 10, 'the route table is read')
  const expected = routes.filter(([method, path]) =>
    method !== 'HEAD' && method !== 'OPTIONS' && // implied by GET; CORS preflight
    !/(^|\/)ws(\/|$)/.test(path) && // WebSockets: /asyncapi.json
    !/\.(js|map|css)$|\*|^\/docs(\/|$)/.test(path) && // assets; the docs' own routes, named in its description
    !/^\/(walker|webhook)\/\{name\}$/.test(path)) // listed per walker, below
  for (const [method, path] of expected) t.ok(listed.has(`${method} ${path}`), `${method} ${path} is listed`)
  for (const path of ['/health', '/health/live', '/metrics', '/asyncapi.json', '/', '/playground']) {
    t.ok(doc.paths[path]?.get?.summary, `GET ${path} is listed with a summary`)
  }
  for (const path of ['/walker/Greeting', '/walker/WhoAmI', '/webhook/ReceiveEvent']) t.ok(doc.paths[path]?.post, `POST ${path}: each HTTP walker`)
  t.notOk(Object.keys(doc.paths).some((p) => /(^|\/)ws(\/|$)/.test(p)), 'no WebSocket route')
  t.notOk(Object.keys(doc.paths).some((p) => /\.(js|map|css)$/.test(p)), 'no asset')
  t.match(doc.paths['/metrics']!.get, { responses: { 200: { content: { 'text/plain': {} } } } }, '/metrics is text')
  for (const href of ['/', '/playground', '/admin', '/asyncapi.json', '/docs/json', '/docs/yaml']) t.match(doc.info.description, `](${href})`, `the docs link to ${href}`)
})

t.test('user text never reaches an HTML sink', async (t) => {
  for (const file of ['src/web/chat.ts', 'src/client/client.ts', 'src/web/playground.js']) {
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

t.test('chat page screenshots: light and dark, 1280×800 and 390×844, two people chatting', { skip: browserSkip() }, async (t) => {
  const browser = await launchBrowser()
  t.teardown(() => browser.close())
  mkdirSync(SCREENSHOTS, { recursive: true })
  for (const scheme of ['light', 'dark'] as const) {
    // A fresh server per scheme: only these two people online.
    const s = await startApp()
    const open = async (name: string, width: number, height: number, mobile: boolean) => {
      const context = await browser.newContext({ viewport: { width, height }, colorScheme: scheme, isMobile: mobile, hasTouch: mobile })
      const page = await context.newPage()
      const errors: string[] = []
      page.on('pageerror', (err) => errors.push(err.message))
      await page.goto(`${s.http}/`)
      await page.getByLabel('Display name').fill(name)
      await page.getByLabel('Display name').press('Enter')
      await page.locator('#me-name', { hasText: name }).waitFor()
      return { page, errors, shot: `chat-${scheme}-${width}x${height}.png` }
    }
    const ada = await open('Ada', 1280, 800, false)
    const lin = await open('Lin', 390, 844, true)
    await ada.page.locator('#people-list button', { hasText: 'Lin' }).click()
    await lin.page.locator('#people-list button', { hasText: 'Ada' }).click()
    for (const [from, to, text] of [[ada, lin, 'Hi Lin, the deploy is done.'], [lin, ada, 'Thanks! Checking the playground now.'], [ada, lin, 'Try /ws/EchoMessage, it answers in one frame.']] as const) {
      await from.page.locator('#text').fill(text)
      await from.page.locator('#text').press('Enter')
      await to.page.locator('#messages .msg .text', { hasText: text }).waitFor()
      await from.page.locator('#messages .msg.mine[data-status="received"] .text', { hasText: text }).waitFor()
    }
    for (const p of [ada, lin]) {
      await p.page.locator('#text').blur()
      await p.page.screenshot({ path: fileURLToPath(new URL(p.shot, SCREENSHOTS)) })
      t.same(p.errors, [], `${p.shot}: no page error`)
    }
    for (const p of [ada, lin]) await p.page.context().close()
    await s.close()
  }
})
