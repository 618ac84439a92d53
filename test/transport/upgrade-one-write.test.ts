// Pins the handshake speed trick of plugins/websocket.ts: the 101 and a surface's greeting leave
// in one system call. The real process runs under strace, which records every write and writev
// with its bytes; the call that carries the 101 must carry the WELCOME too. Without the trick ws
// writes the 101 alone and the greeting follows in a second call. It also pins the trick both
// share (corkForTick, src/transport/conn.ts): the replies to frames read in one TCP chunk leave
// in one call, not one per frame.
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { WsTestClient } from '../../src/testing/ws-test-client.ts'
import { RawClient } from '../helpers/raw-ws.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const hasStrace = spawnSync('strace', ['-V']).status === 0
function straceSkip(): string | false {
  if (hasStrace || process.env.CI) return false // CI installs it (.ci/apt-packages)
  const reason = 'strace not found: install it (apt-get install strace)'
  process.stderr.write(`\n*** SKIPPING: ${reason} ***\n\n`)
  return reason
}

t.test('/ws, /ws/echo and /ws/health: the 101 and the greeting in one system call', { skip: straceSkip() }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'one-write-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const trace = join(dir, 'trace.txt')
  const proc = spawn('strace', [
    '-f', '--seccomp-bpf', '-e', 'trace=write,writev,sendmsg', '-s', '400', '-o', trace,
    process.execPath, '--import', 'tsx', 'src/server.ts'
  ], { cwd: root, env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', HISTORY_STORE: 'memory' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  // Its own process group: strace and the server it traces go together.
  t.teardown(() => process.kill(-proc.pid!, 'SIGKILL'))
  let out = ''
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 30_000)
    proc.stdout!.on('data', (d) => {
      out += d
      const m = /Server listening at http:\/\/[^:]+:(\d+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(Number(m[1]))
      }
    })
    proc.stderr!.on('data', (d) => (out += d))
  })

  const greetings = { '/ws': '"type":"WELCOME"', '/ws/echo': '"type":"welcome"', '/ws/health': '"type":"health_status"' }
  for (const path of Object.keys(greetings)) {
    const c = await WsTestClient.connect(`ws://127.0.0.1:${port}${path}`)
    await c.receiveText()
    c.close()
  }
  // Three plain-text frames in one TCP write: their three verbatim echoes in one call.
  const words = ['first-frame-of-three', 'second-frame-of-three', 'third-frame-of-three']
  const raw = await RawClient.open(port, '/ws')
  t.teardown(() => raw.close())
  await raw.next() // the WELCOME
  raw.write(Buffer.concat(words.map((w) => RawClient.frame(0x1, Buffer.from(w)))))
  for (const w of words) {
    const echo = (await raw.next()).payload.toString()
    if (echo !== w) throw new Error(`expected the echo of ${w}, got ${echo}`)
  }

  const lines = readFileSync(trace, 'utf8').split('\n')
  const echoes = lines.filter((l) => words.some((w) => l.includes(w)))
  t.equal(echoes.length, 1, `/ws: the three echoes of one chunk in one call (${echoes.length} calls carry them)`)
  t.ok(words.every((w) => echoes[0]?.includes(w)), 'that call carries all three')

  const calls = lines.filter((l) => l.includes('HTTP/1.1 101'))
  t.equal(calls.length, 4, 'one call per handshake carries a 101')
  for (const [path, greeting] of Object.entries(greetings)) {
    // strace prints a writev's buffers in one line, as escaped strings.
    const call = calls.find((l) => l.includes(greeting.replaceAll('"', '\\"')))
    t.ok(call, `${path}: the call with the 101 also carries its greeting (${greeting})`)
    t.match(call ?? '', /writev\(/, `${path}: as one writev`)
  }
})
