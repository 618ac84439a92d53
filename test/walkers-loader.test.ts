// The walker loader and definitions: what loads from WALKERS_DIR, and every mistake that must
// stop startup with a message naming the file.
import t from 'tap'
import { join } from 'node:path'
import { buildApp } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { defineWalker, Type } from '../src/walkers/index.ts'
import { toWalker, WalkerDefinitionError } from '../src/walkers/define.ts'
import { WalkerLoadError, WalkerRegistry } from '../src/walkers/registry.ts'
import { isWalkerFile, loadWalkerDir } from '../src/walkers/loader.ts'
import { runServer } from './helpers/process.ts'
import { startApp } from './helpers/app.ts'
import { fixtureDir } from './helpers/walkers.ts'

const build = (dir: string) => buildApp(loadConfig({ PORT: 0, LOG_LEVEL: 'silent', WALKERS_DIR: dir, HISTORY_STORE: 'memory' }))

t.test('the shipped examples load by default', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  t.same(s.app.walkers.list().map((w) => [w.name, w.protocol, w.public, w.broadcast]), [
    ['Announce', 'websocket', true, true],
    ['EchoMessage', 'websocket', true, false],
    ['Greeting', 'http', true, false],
    ['PingPong', 'websocket', true, false],
    ['ReceiveEvent', 'webhook', false, false],
    ['SecureChat', 'websocket', false, false],
    ['WhoAmI', 'http', false, false]
  ])
})

t.test('a fixture directory: named exports, a plain default object, helpers skipped', async (t) => {
  const registry = new WalkerRegistry()
  await loadWalkerDir(fixtureDir(), registry)
  const names = registry.list().map((w) => w.name)
  t.ok(['Inspect', 'InspectPublic', 'HttpInspect'].every((n) => names.includes(n)), 'every defineWalker export of a module')
  t.ok(names.includes('Plain'), 'a default export without defineWalker')
  t.equal(registry.get('Inspect')!.file, join(fixtureDir(), 'Inspect.ts'))
  t.ok(isWalkerFile('Echo.ts') && isWalkerFile('echo.mjs') && isWalkerFile('Echo.js'))
  t.notOk(isWalkerFile('_helper.ts') || isWalkerFile('types.d.ts') || isWalkerFile('Echo.test.ts') || isWalkerFile('Echo.js.map') || isWalkerFile('.hidden.ts'))
})

t.test('startup stops with a message naming the file', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['walkers-duplicate', 'Second.ts', /duplicate walker name "Twin" \(already defined in .*First\.ts\)/],
    ['walkers-reserved', 'Health.ts', /walker name "health" is reserved/],
    ['walkers-bad-name', 'BadName.ts', /walker name "bad-name" must match \^\[A-Za-z_\]\[A-Za-z0-9_\]\*\$/],
    ['walkers-bad-schema', 'BadSchema.ts', /walker "BadSchema": fields must be a TypeBox object schema/],
    ['walkers-bad-default', 'BadDefault.ts', /walker "BadDefault": the default of field "count" does not match its schema/],
    ['walkers-no-export', 'Empty.ts', /exports no walker/]
  ]
  for (const [dir, file, reason] of cases) {
    const err = await build(fixtureDir(dir)).then(() => undefined, (e: unknown) => e)
    t.type(err, WalkerLoadError, dir)
    const message = (err as Error).message
    t.ok(message.startsWith(join(fixtureDir(dir), file)), `${dir}: names ${file}: ${message}`)
    t.match(message, reason, dir)
  }
  const missing = await build('/nonexistent/walkers').then(() => undefined, (e: unknown) => e)
  t.match((missing as Error).message, /^\/nonexistent\/walkers: cannot read the walkers directory \(WALKERS_DIR\)/)
})

t.test('the real server exits non-zero and prints the offending file', async (t) => {
  const dir = fixtureDir('walkers-reserved')
  const s = runServer({ WALKERS_DIR: dir })
  const { code } = await s.exited
  t.not(code, 0)
  t.match(s.output(), `${join(dir, 'Health.ts')}: walker name "health" is reserved`)
  t.match(s.output(), /^switchboard: invalid walker: .*Health\.ts: walker name "health" is reserved/m, 'one plain line on stderr')
  t.notMatch(s.output(), /\n\s+at /, 'no stack trace')
  t.notMatch(s.output(), /Server listening/)
})

t.test('defineWalker refuses what a walker cannot be', async (t) => {
  const run = () => {}
  const bad: Array<[unknown, RegExp]> = [
    [null, /must be an object made with defineWalker/],
    [{ name: 'X', protocol: 'grpc', run }, /walker "X": protocol must be one of websocket, http, webhook \(got "grpc"\)/],
    [{ name: 'X', protocol: 'http' }, /walker "X": run must be a function/],
    [{ name: 'X', protocol: 'http', run, public: 'yes' }, /public must be true or false/],
    [{ name: 'X', protocol: 'http', run, broadcast: true }, /broadcast applies to websocket walkers only/],
    [{ name: 'X', protocol: 'websocket', run, fields: { type: 'object', properties: {} } }, /fields must be a TypeBox object schema/],
    [{ name: 'X', protocol: 'websocket', run, fields: Type.Object({ token: Type.String() }) }, /field "token" is reserved/],
    [{ name: '1abc', protocol: 'http', run }, /must match/],
    [{ name: 'echo', protocol: 'http', run }, /reserved/]
  ]
  for (const [def, reason] of bad) {
    t.throws(() => toWalker(def), reason)
    t.throws(() => toWalker(def), WalkerDefinitionError)
  }
  const w = defineWalker({ name: 'Fine', protocol: 'webhook', fields: Type.Object({ token: Type.String() }), run })
  t.equal(w.public, false, 'not public unless said so')
  t.ok(Object.isFrozen(w))
  t.throws(() => defineWalker({ ...w, name: 'Copy', protocol: 'http' }), /field "token" is reserved/, 'a spread copy is checked again')
})

t.test('the registry replaces a file all or nothing', async (t) => {
  const registry = new WalkerRegistry()
  const make = (name: string, message = 'v1') => defineWalker({ name, protocol: 'websocket', public: true, run: (_f, ctx) => ctx.report(message) })
  registry.setFile('/a.ts', [make('A'), make('Shared')])
  registry.setFile('/b.ts', [make('B')])
  t.throws(() => registry.setFile('/b.ts', [make('B', 'v2'), make('Shared')]), /\/b\.ts: duplicate walker name "Shared" \(already defined in \/a\.ts\)/)
  t.same(registry.list().map((w) => `${w.name}@${w.file}`), ['A@/a.ts', 'B@/b.ts', 'Shared@/a.ts'], 'nothing changed')
  t.same(registry.setFile('/a.ts', [make('A2')]), { added: ['A2'], removed: ['A', 'Shared'] })
  t.same(registry.list().map((w) => w.name), ['A2', 'B'])
  t.same(registry.removeFile('/b.ts'), ['B'])
  t.same(registry.list().map((w) => w.name), ['A2'])
})
