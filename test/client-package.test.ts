// The client SDK as its own package (packages/client): built and packed with `npm pack`, the
// tarball installed into an empty temp project as a user would, its declarations typechecked
// there (a correct use compiles, a wrong one is refused), the README's example run verbatim
// against a live server, and the browser bundle used from a page in Chromium.
import t from 'tap'
import { execFile, execFileSync, spawnSync } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startApp } from './helpers/app.ts'
import { browserSkip, launchBrowser } from './helpers/browser.ts'
import { joinAs, nextEvent } from './helpers/chat-client.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const work = mkdtempSync(join(tmpdir(), 'sb-client-package-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))

// Build and pack once, as the README of the package says.
const built = spawnSync(process.execPath, ['ops/build-client.mjs', '--pack', work], { cwd: root, encoding: 'utf8' })
const tarball = built.stdout.trim().split('\n').at(-1) ?? ''
const project = join(work, 'app')

t.test('npm pack: a tarball with the bundles, the declarations, the README and nothing of the server', async (t) => {
  t.equal(built.status, 0, `build-client exits 0\n${built.stderr}`)
  t.match(tarball, /switchboard-client-\d+\.\d+\.\d+\.tgz$/)
  const files = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).trim().split('\n').sort()
  t.same(files.filter((f) => !f.endsWith('.map')), [
    'package/README.md',
    'package/dist/index.js',
    'package/dist/switchboard-client.global.js',
    'package/dist/switchboard-client.min.js',
    'package/dist/types/client/backoff.d.ts',
    'package/dist/types/client/client.d.ts',
    'package/dist/types/client/emitter.d.ts',
    'package/dist/types/client/index.d.ts',
    'package/dist/types/client/presence.d.ts',
    'package/dist/types/lib/is-plain-object.d.ts',
    'package/dist/types/lib/uuid.d.ts',
    'package/dist/types/protocol/error-codes.d.ts',
    'package/dist/types/protocol/wire.d.ts',
    'package/package.json'
  ])
  const pkg = JSON.parse(readFileSync(join(root, 'packages/client/package.json'), 'utf8'))
  const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  t.equal(pkg.version, rootPkg.version, 'the package is versioned with the server it speaks to')
  t.notOk(pkg.dependencies, 'no run-time dependencies')
  const bundle = readFileSync(join(root, 'packages/client/dist/index.js'), 'utf8')
  t.notMatch(bundle, /typebox|sanitize-html|from ["']/i, 'the bundle imports nothing and carries no server library')
  const declarations = execFileSync('tar', ['xzOf', tarball, '--wildcards', 'package/dist/types/*'], { encoding: 'utf8' })
  t.notMatch(declarations, /\.ts['"]|typebox/i, 'declarations name .js files and no TypeBox type')
})

t.test('installed into an empty project: types check, misuse is refused, the README example runs', async (t) => {
  mkdirSync(join(project, 'node_modules/@types'), { recursive: true })
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }))
  // The tarball has no dependencies, so this needs no registry.
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], { cwd: project, stdio: 'pipe' })
  // What the README installs beside it for Node: ws (and its types, for the typecheck).
  for (const dep of ['ws', '@types/ws', '@types/node', 'undici-types']) {
    symlinkSync(join(root, 'node_modules', dep), join(project, 'node_modules', dep))
  }

  const readme = readFileSync(join(root, 'packages/client/README.md'), 'utf8')
  const example = /```ts\n([\s\S]*?)```/.exec(readme)![1]!
  t.ok(example.split('\n').filter((l) => l.trim()).length <= 12, 'the README example is about ten lines')
  writeFileSync(join(project, 'example.ts'), example)
  writeFileSync(join(project, 'misuse.ts'), [
    "import { FastChatClient } from 'switchboard-client'",
    "declare const client: FastChatClient",
    "await client.send(42, 'hi')",
    "client.on('message', (m) => m.no_such_field)"
  ].join('\n'))
  const tsconfig = (files: string[]) => JSON.stringify({
    compilerOptions: {
      module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true,
      lib: ['es2023', 'dom'], types: ['node'], skipLibCheck: false
    },
    files
  })
  const tsc = (config: string) => {
    writeFileSync(join(project, 'tsconfig.json'), config)
    return spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', project], { encoding: 'utf8' })
  }
  const good = tsc(tsconfig(['example.ts']))
  t.equal(good.status, 0, `the README example typechecks against the installed declarations\n${good.stdout}`)
  const bad = tsc(tsconfig(['misuse.ts']))
  t.not(bad.status, 0, 'misuse does not typecheck')
  t.match(bad.stdout, /misuse\.ts\(3,\d+\): error TS2345: Argument of type 'number' is not assignable to parameter of type 'string'/)
  t.match(bad.stdout, /misuse\.ts\(4,\d+\): error TS2339: Property 'no_such_field' does not exist/)

  // The example, verbatim but for the server's address, against a live server where Bob waits.
  const s = await startApp()
  t.teardown(s.close)
  const bob = await joinAs(t, s.ws('/ws'), 'Bob')
  const received = nextEvent(bob.client, 'message')
  writeFileSync(join(project, 'example.mjs'), example.replace('ws://localhost:8000/ws', s.ws('/ws')))
  // Not spawnSync: the server runs in this process and must keep answering meanwhile.
  const run = await promisify(execFile)(process.execPath, ['example.mjs'], { cwd: project, encoding: 'utf8', timeout: 20_000 })
  t.match(run.stdout, /^\{\s+message_id: '[0-9a-f-]{36}',\s+status: 'delivered'\s+\}\n$/, 'it prints the delivered ack')
  const m = await received
  t.equal(m.content, 'Hi Bob')
  t.equal(m.to, bob.user_id)

  const subpaths = spawnSync(process.execPath, ['--input-type=module', '-e', [
    "const a = await import('switchboard-client')",
    "const b = await import('switchboard-client/browser')",
    "console.log(Object.keys(a).sort().join(','), Object.keys(b).sort().join(',') === Object.keys(a).sort().join(','))"
  ].join(';')], { cwd: project, encoding: 'utf8' })
  t.equal(subpaths.stdout.trim(),
    'DEFAULT_BACKOFF,FastChatClient,FastChatError,PresenceMap,backoffCeiling,backoffDelay,isUuidV4,uuidv4 true',
    `the package and its /browser build export the same API\n${subpaths.stderr}`)
})

t.test('the browser bundle: a classic <script> gives a page SwitchboardClient, which chats', { skip: browserSkip() }, async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const bob = await joinAs(t, s.ws('/ws'), 'Bob')
  const received = nextEvent(bob.client, 'message')
  const browser = await launchBrowser()
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(e.message))
  await page.goto(`${s.http}/health`) // a page of the server's origin, which the origin rules accept
  await page.addScriptTag({ content: readFileSync(join(root, 'packages/client/dist/switchboard-client.global.js'), 'utf8') })
  const result = await page.evaluate(async ({ url, bobId }) => {
    const { FastChatClient, uuidv4 } = (window as unknown as { SwitchboardClient: typeof import('../src/client/index.ts') }).SwitchboardClient
    const client = new FastChatClient({ url, WebSocket })
    await client.hello({ user_id: uuidv4(), display_name: 'Carol' })
    await client.openChat(bobId)
    const ack = await client.send(bobId, 'from a browser')
    client.close()
    return ack.status
  }, { url: s.ws('/ws'), bobId: bob.user_id })
  t.equal(result, 'delivered')
  t.equal((await received).content, 'from a browser')
  t.same(errors, [], 'no page errors')
})
