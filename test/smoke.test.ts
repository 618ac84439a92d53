// ops/ws_smoke.sh and the Node CLI behind it (src/cli/smoke.ts), run as operators run them:
// against a healthy real process, one whose /ws/health heartbeat stalls, one that is not there,
// and through the websocat/wscat branch (stand-ins, and the real wscat). runSmoke gives the
// script no stdin (/dev/null), as cron and CI do. The nginx suite runs it through the proxy as well.
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startServer } from './helpers/process.ts'
import { startApp } from './helpers/app.ts'
import { freePort } from './helpers/nginx.ts'
import { CHECKS, runSmoke, type SmokeRun } from './helpers/smoke.ts'

const root = fileURLToPath(new URL('..', import.meta.url))

/** The one line per check, in order: mark and name, with a timing. */
function checkLines(t: Test, run: SmokeRun, failing: string[]): void {
  t.equal(run.lines.length, CHECKS.length, `one line per check:\n${run.out}`)
  CHECKS.forEach((name, i) => {
    const line = run.lines[i] ?? ''
    const mark = failing.includes(name) ? '✗' : '✓'
    t.ok(line.startsWith(`${mark} ${name} `), `${mark} ${name}: ${line}`)
    t.match(line, /\(\d+ ms\)$/, 'with its timing')
  })
}

t.test('healthy server: every check passes, exit 0', async (t) => {
  const server = await startServer({ WS_PING_INTERVAL: '1', WS_PING_TIMEOUT: '0.5' })
  t.teardown(() => void server.proc.kill('SIGKILL'))
  const run = await runSmoke([`ws://127.0.0.1:${server.port}`])
  t.equal(run.code, 0, run.out)
  checkLines(t, run, [])
  t.match(run.lines[3], /heartbeat #1 after \d+\.\d+ s \(ping_interval 1 s\)/)
  t.match(run.lines[5], /\/ws\/echo, \/ws\/health, \/ws answered 1000/)
  t.match(run.out, /smoke: all 6 checks passed/)
  // An http:// base works the same way (what operators paste from a browser).
  const http = await runSmoke([`http://127.0.0.1:${server.port}/`])
  t.equal(http.code, 0, http.out)
})

t.test('a heartbeat loop that stalls: only the heartbeat check fails, named, exit 1', async (t) => {
  // A real server announcing ping_interval 1 whose heartbeat wheel is stopped: the welcome
  // promises a heartbeat that never comes. No --timeout: the CLI waits what the server announced.
  const s = await startApp({ WS_PING_INTERVAL: '1', WS_PING_TIMEOUT: '0.5' })
  t.teardown(s.close)
  s.app.connections.stop()
  const run = await runSmoke([`ws://127.0.0.1:${s.port}`])
  t.equal(run.code, 1, run.out)
  checkLines(t, run, ['/ws/health heartbeat'])
  t.match(run.lines[3], /no heartbeat within 3\.\d+ s after the welcome \(ping_interval 1 s\)/)
  t.ok(run.ms < 15_000, `gave up after the announced interval plus margin (${run.ms} ms)`)
  t.match(run.out, /smoke: FAILED 1 of 6 checks: \/ws\/health heartbeat\n/)
})

t.test('an interval longer than --timeout fails the heartbeat check and says why', async (t) => {
  const server = await startServer({ WS_PING_INTERVAL: '3600' })
  t.teardown(() => void server.proc.kill('SIGKILL'))
  const run = await runSmoke([`ws://127.0.0.1:${server.port}`, '--timeout', '2'])
  t.equal(run.code, 1, run.out)
  checkLines(t, run, ['/ws/health heartbeat'])
  t.match(run.lines[3], /ping_interval 3600 s; --timeout 2 s is shorter than/)
  t.match(run.out, /FAILED 1 of 6 checks: \/ws\/health heartbeat/)
})

t.test('nothing listening: every check fails with "connection refused", exit 1', async (t) => {
  const port = await freePort()
  const run = await runSmoke([`ws://127.0.0.1:${port}`, '--timeout', '2'])
  t.equal(run.code, 1)
  t.equal(run.lines.length, 6)
  t.ok(run.lines.every((l) => l.startsWith('✗ ')), run.out)
  t.match(run.lines[0], /connection refused/)
})

t.test('bad usage exits 2', async (t) => {
  const run = await runSmoke(['ftp://example.com'])
  t.equal(run.code, 2)
  t.match(run.out, /unsupported scheme/)
})

// websocat is not installed here, and wscat only as a devDependency (the real one is run at the
// end, with SMOKE_CLIENT=wscat). These stand-ins speak the same command lines the
// script uses (websocat --text URL: stdin lines out, frames printed one per line, close on EOF;
// wscat --connect URL --execute MSG --wait S), so the script's own parsing is exercised.
const SHIM = (tool: 'websocat' | 'wscat') => `
const { createRequire } = await import('node:module')
const WebSocket = createRequire(${JSON.stringify(join(root, 'package.json'))})('ws')
const argv = process.argv.slice(2)
const opt = (n) => argv[argv.indexOf(n) + 1]
const url = ${tool === 'websocat' ? 'argv[argv.length - 1]' : "opt('--connect')"}
const ws = new WebSocket(url)
ws.on('message', (d) => process.stdout.write(String(d) + '\\n'))
ws.on('close', (code) => process.exit(code === 1000 ? 0 : 1))
ws.on('error', () => process.exit(1))
ws.on('open', () => {
  ${tool === 'websocat'
    ? `let buf = ''
  process.stdin.on('data', (d) => { buf += d; let i; while ((i = buf.indexOf('\\n')) >= 0) { ws.send(buf.slice(0, i)); buf = buf.slice(i + 1) } })
  process.stdin.on('end', () => ws.close(1000))`
    : `ws.send(opt('--execute'))
  setTimeout(() => ws.close(1000), Number(opt('--wait')) * 1000)`}
})
`

for (const tool of ['websocat', 'wscat'] as const) {
  t.test(`the ${tool} branch: passes against a healthy server, fails a stalled heartbeat`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), `smoke-${tool}-`))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    writeFileSync(join(dir, `${tool}.mjs`), SHIM(tool))
    writeFileSync(join(dir, tool), `#!/bin/sh\nexec "${process.execPath}" "${join(dir, `${tool}.mjs`)}" "$@"\n`)
    chmodSync(join(dir, tool), 0o755)
    // No SMOKE_CLIENT: the script picks the tool it finds on PATH.
    const env = { SMOKE_CLIENT: '', PATH: `${dir}:${process.env.PATH}` }

    const s = await startApp({ WS_PING_INTERVAL: '1', WS_PING_TIMEOUT: '0.5' })
    t.teardown(s.close)
    const ok = await runSmoke([`ws://127.0.0.1:${s.port}`], env)
    t.match(ok.out, new RegExp(`client: ${tool}`))
    t.equal(ok.code, 0, ok.out)
    checkLines(t, ok, [])

    s.app.connections.stop()
    const stalled = await runSmoke([`ws://127.0.0.1:${s.port}`], env)
    t.equal(stalled.code, 1, stalled.out)
    checkLines(t, stalled, ['/ws/health heartbeat'])
    t.match(stalled.out, /FAILED 1 of 6 checks: \/ws\/health heartbeat/)
  })
}

t.test('--quick: the heartbeat wait is skipped and said so; the other five checks pass', async (t) => {
  const server = await startServer({ WS_PING_INTERVAL: '3600' })
  t.teardown(() => void server.proc.kill('SIGKILL'))
  const run = await runSmoke([`ws://127.0.0.1:${server.port}`, '--quick'])
  t.equal(run.code, 0, run.out)
  t.same(run.lines.map((l) => l.slice(0, 24).trim()), CHECKS.filter((c) => c !== '/ws/health heartbeat').map((c) => `✓ ${c}`))
  t.match(run.out, /\n- \/ws\/health heartbeat {3}skipped \(--quick\)\n/)
  t.match(run.out, /\nsmoke: all 5 checks passed \(heartbeat skipped: --quick\)\n$/)
  t.ok(run.ms < 10_000, `done without waiting an interval (${run.ms} ms)`)
})

t.test('the heartbeat wait shows progress: what it waits for, then a line every 5 s', async (t) => {
  const server = await startServer({ WS_PING_INTERVAL: '6', WS_PING_TIMEOUT: '1' })
  t.teardown(() => void server.proc.kill('SIGKILL'))
  const run = await runSmoke([`ws://127.0.0.1:${server.port}`])
  t.equal(run.code, 0, run.out)
  checkLines(t, run, [])
  t.match(run.out, /\n {2}… \/ws\/health: waiting up to 8\.\d+ s for the first heartbeat \(ping_interval 6 s; --quick skips this\)\n {2}… 5 s of 8\.\d+ s\n✓ \/ws\/health heartbeat /)
})

// The real wscat (the devDependency, found in node_modules/.bin) with stdin closed, as cron and
// CI run it: wscat quits when its stdin ends, so unless the script keeps stdin open it exits 0
// before anything arrives, which once passed "clean close 1000" with nothing connected.
t.test('real wscat, stdin closed: a dead port fails every check by name; a live server passes', async (t) => {
  const env = { SMOKE_CLIENT: 'wscat' }
  const port = await freePort()
  const dead = await runSmoke([`ws://127.0.0.1:${port}`, '--timeout', '2'], env)
  t.match(dead.out, /client: wscat/)
  t.equal(dead.code, 1, dead.out)
  checkLines(t, dead, [...CHECKS])
  t.match(dead.lines[1], /^✗ \/ws\/echo round trip {4}no welcome: error: connect ECONNREFUSED/)
  t.match(dead.lines[5], /^✗ clean close 1000 {7}not attempted: \/ws never answered/)
  t.match(dead.out, new RegExp(`smoke: FAILED 6 of 6 checks: ${CHECKS.join(', ')}\\n$`))
  t.notMatch(dead.out, /passed/)

  const server = await startServer({ WS_PING_INTERVAL: '1', WS_PING_TIMEOUT: '0.5' })
  t.teardown(() => void server.proc.kill('SIGKILL'))
  const live = await runSmoke([`ws://127.0.0.1:${server.port}`], env)
  t.equal(live.code, 0, live.out)
  checkLines(t, live, [])
  t.match(live.out, /\n {2}… \/ws\/health: waiting up to 3\.1 s for the first heartbeat/)
  t.match(live.out, /smoke: all 6 checks passed\n$/)

  const quick = await runSmoke([`ws://127.0.0.1:${server.port}`, '--quick'], env)
  t.equal(quick.code, 0, quick.out)
  t.match(quick.out, /- \/ws\/health heartbeat {3}skipped \(--quick\)\n[\s\S]*smoke: all 5 checks passed \(heartbeat skipped: --quick\)\n$/)
})
