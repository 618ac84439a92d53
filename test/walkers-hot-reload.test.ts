// Dev mode's walker hot reload: a walker file edited, broken, added or deleted on disk changes
// what the next message runs, while the same socket stays open.
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { startApp } from './helpers/app.ts'
import { postJson, waitForLog, waitUntil } from './helpers/walkers.ts'
import { WsTestClient } from '../src/testing/ws-test-client.ts'
import { loadWalkerDir, WalkerHotReload } from '../src/walkers/loader.ts'
import { WalkerRegistry } from '../src/walkers/registry.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const WALKERS_API = JSON.stringify(pathToFileURL(join(root, 'src/walkers/index.ts')).href)
const ok = (...reports: unknown[]) => ({ ok: true, data: { reports } })

/** A walker directory outside the project: ES modules importing the API by absolute URL. */
function walkerDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-walkers-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n')
  return dir
}

const hotWalker = (body: string, fields = '{}') => `import { defineWalker, Type } from ${WALKERS_API}
export default defineWalker({
  name: 'Hot',
  protocol: 'websocket',
  public: true,
  fields: Type.Object(${fields}),
  async run(fields, ctx) { ${body} }
})
`

t.test('edit, break, fix, add and delete walker files while a socket stays open', async (t) => {
  const dir = walkerDir(t)
  const hot = join(dir, 'Hot.ts')
  writeFileSync(hot, hotWalker('ctx.report({ version: 1 })'))
  const s = await startApp({ WALKERS_DIR: dir, WALKERS_HOT_RELOAD: true, LOG_LEVEL: 'info' })
  t.teardown(s.close)
  await waitForLog(s.logs, /walker hot reload on/)
  const c = await s.connect('/ws/Hot')
  c.send({})
  t.same(await c.receiveJson(), ok({ version: 1 }))

  let mark = s.logs.length
  writeFileSync(hot, hotWalker('ctx.report({ version: 2 })'))
  t.match(await waitForLog(s.logs, /walkers reloaded/, mark), { file: hot, walkers: ['Hot'] })
  c.send({})
  t.same(await c.receiveJson(), ok({ version: 2 }), 'the same socket runs the new code')

  mark = s.logs.length
  writeFileSync(hot, hotWalker('ctx.report({ version: 3 }') + '\n}}}')
  const failed = await waitForLog(s.logs, /walker reload failed; the previous version keeps serving/, mark)
  t.equal(failed.file, hot)
  t.match(failed.err.message, /Hot\.ts/, 'the log says what is wrong where')
  c.send({})
  t.same(await c.receiveJson(), ok({ version: 2 }), 'a syntax error keeps the previous version serving')

  mark = s.logs.length
  writeFileSync(hot, hotWalker('ctx.report({ version: 4, word: fields.word })', '{ word: Type.String() }'))
  await waitForLog(s.logs, /walkers reloaded/, mark)
  c.send({})
  t.same(await c.receiveJson(), {
    ok: false, error: { code: 'VALIDATION', message: 'Invalid walker fields', details: [{ path: '/word', message: 'Expected required property' }, { path: '/word', message: 'Expected string' }] }
  }, 'the new field schema validates')
  c.send({ word: 'hi' })
  t.same(await c.receiveJson(), ok({ version: 4, word: 'hi' }))

  mark = s.logs.length
  writeFileSync(join(dir, 'Added.ts'), `import { defineWalker } from ${WALKERS_API}
export default defineWalker({ name: 'Added', protocol: 'http', public: true, run(_f, ctx) { ctx.report('new') } })
`)
  await waitForLog(s.logs, /walkers reloaded/, mark)
  t.same((await postJson(`${s.http}/walker/Added`, {})).json, ok('new'), 'a new file is served')
  const doc = await (await fetch(`${s.http}/docs/json`)).json() as { paths: Record<string, unknown> }
  t.ok(doc.paths['/walker/Added'], 'and listed in /docs/json')

  mark = s.logs.length
  writeFileSync(join(dir, 'Clash.ts'), `import { defineWalker } from ${WALKERS_API}
export default defineWalker({ name: 'Hot', protocol: 'websocket', public: true, run() {} })
`)
  t.match((await waitForLog(s.logs, /walker reload failed/, mark)).err.message, /duplicate walker name "Hot"/)
  c.send({ word: 'still' })
  t.same(await c.receiveJson(), ok({ version: 4, word: 'still' }), 'a clashing new file changes nothing')

  mark = s.logs.length
  unlinkSync(hot)
  await waitForLog(s.logs, /walker file deleted/, mark)
  t.match(await waitForLog(s.logs, /walkers reloaded/, mark), { file: join(dir, 'Clash.ts'), walkers: ['Hot'] }, 'the name is free: the file refused for it is tried again')
  c.send({})
  t.same(await c.receiveJson(), ok(), 'a walker moved to another file and deleted from the old one is served from the new one')

  mark = s.logs.length
  unlinkSync(join(dir, 'Clash.ts'))
  await waitForLog(s.logs, /walker file deleted/, mark)
  c.send({ word: 'gone?' })
  t.same(await c.expectClose(4004), { code: 4004, reason: 'Walker not found' }, 'a deleted walker closes its sockets on their next message')
})

t.test('a file whose import never settles holds up only itself, and is logged', async (t) => {
  const dir = walkerDir(t)
  const hot = join(dir, 'Hot.ts')
  writeFileSync(hot, hotWalker('ctx.report({ version: 1 })'))
  const registry = new WalkerRegistry()
  await loadWalkerDir(dir, registry)
  const lines: { level: string; msg: string; file?: string }[] = []
  const record = (level: string) => (obj: { file?: string }, msg: string) => void lines.push({ level, msg, file: obj.file })
  const log = { info: record('info'), warn: record('warn'), error: record('error'), debug: record('debug') }
  const hotReload = new WalkerHotReload(dir, registry, log as never, { stuckAfterMs: 200 })
  hotReload.start()
  t.teardown(() => hotReload.close())

  const stuck = join(dir, 'Stuck.ts')
  writeFileSync(stuck, `import { defineWalker } from ${WALKERS_API}
await new Promise(() => {})
export default defineWalker({ name: 'Stuck', protocol: 'http', public: true, run() {} })
`)
  await waitUntil(() => lines.find((l) => l.level === 'warn' && l.file === stuck), 'the stuck import to be logged')
  t.match(lines.find((l) => l.file === stuck), { msg: /still loading \(a top-level await that never settles\?\); the previous version keeps serving/ })

  writeFileSync(hot, hotWalker('ctx.report({ version: 2 })'))
  await waitUntil(() => lines.find((l) => l.msg === 'walkers reloaded' && l.file === hot), 'another file to reload meanwhile')
  t.equal(registry.get('Hot')?.file, hot)
  t.equal(registry.get('Stuck'), undefined)

  writeFileSync(stuck, `import { defineWalker } from ${WALKERS_API}
export default defineWalker({ name: 'Stuck', protocol: 'http', public: true, run() {} })
`)
  await waitUntil(() => registry.get('Stuck'), 'the fixed file to load')
  const staleWarnings = lines.filter((l) => l.level === 'warn').length
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(lines.filter((l) => l.level === 'warn').length, staleWarnings, 'the fixed file is not reported stuck')
})

t.test('without WALKERS_HOT_RELOAD nothing is watched', async (t) => {
  const dir = walkerDir(t)
  const hot = join(dir, 'Hot.ts')
  writeFileSync(hot, hotWalker('ctx.report({ version: 1 })'))
  const s = await startApp({ WALKERS_DIR: dir, LOG_LEVEL: 'info' })
  t.teardown(s.close)
  const c = await s.connect('/ws/Hot')
  writeFileSync(hot, hotWalker('ctx.report({ version: 2 })'))
  await new Promise((resolve) => setTimeout(resolve, 300)) // a reload, if any, would have happened by now
  c.send({})
  t.same(await c.receiveJson(), ok({ version: 1 }))
  t.notOk(s.logs.some((l) => l.includes('hot reload')))
})

t.test('npm run dev: the real dev server hot-reloads a walker under an open socket', async (t) => {
  const dir = walkerDir(t)
  const hot = join(dir, 'Hot.ts')
  writeFileSync(hot, hotWalker('ctx.report({ version: 1 })'))
  // Its own process group, so the teardown stops npm, the shell and node together.
  const proc = spawn('npm', ['run', '--silent', 'dev'], {
    cwd: root,
    env: { ...process.env, PORT: '0', WALKERS_DIR: dir, LOG_LEVEL: 'info', HISTORY_STORE: 'memory' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true
  })
  let out = ''
  proc.stdout!.on('data', (d) => (out += d))
  proc.stderr!.on('data', (d) => (out += d))
  const exited = new Promise((resolve) => proc.once('exit', resolve))
  t.teardown(async () => {
    if (proc.exitCode === null) process.kill(-proc.pid!, 'SIGTERM')
    await exited
  })

  const port = await waitUntil(() => /Server listening at http:\/\/[^:]+:(\d+)/.exec(out)?.[1], `the dev server to listen; output so far:\n${out}`, 20_000)
  t.match(out, /walker hot reload on/)
  const c = await WsTestClient.connect(`ws://127.0.0.1:${port}/ws/Hot`)
  t.teardown(() => c.terminate())
  c.send({})
  t.same(await c.receiveJson(), ok({ version: 1 }))
  const mark = out.length
  writeFileSync(hot, hotWalker('ctx.report({ version: 2 })'))
  await waitUntil(() => out.slice(mark).includes('walkers reloaded'), 'the reload')
  c.send({})
  t.same(await c.receiveJson(), ok({ version: 2 }))
  t.ok(c.isOpen, 'the socket was never dropped')
})
