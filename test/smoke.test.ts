// ops/ws_smoke.sh and the Node CLI behind it (src/cli/smoke.ts), run as operators run them:
// against a healthy real process, one whose /ws/health heartbeat stalls, one that is not there,
// and through the websocat/wscat branch. The nginx suite runs it through the proxy as well.
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

// websocat and wscat are not installed here. These stand-ins speak the same command lines the
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
