// The handshake-layers bench's servers (ops/bench/handshake-layers.ts) measure what they claim:
// every layer greets with a WELCOME of the same shape and byte length as /ws's own, so the steps
// between layers are the layers' work and not a different greeting; and the registry layer's
// connection is in the registry (it shows in /metrics as an open /ws-surface connection).
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import { Value } from '@sinclair/typebox/value'
import { Welcome } from '../src/protocol/main.ts'

const root = fileURLToPath(new URL('..', import.meta.url))

/** A bench server (ops/bench/servers) on a free port; killed when the test ends, however it ends. */
async function benchServer(t: Test, name: string, env: Record<string, string> = {}): Promise<number> {
  const proc = spawn(process.execPath, ['--import', 'tsx', `ops/bench/servers/${name}.ts`], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'warn', HISTORY_STORE: 'memory', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { proc.kill('SIGKILL') })
  let out = ''
  proc.stderr!.on('data', (d) => (out += d))
  return new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 20 s:\n${out}`)), 20_000)
    t.teardown(() => clearTimeout(timer))
    proc.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${name} exited (${code}) before it was ready:\n${out}`))
    })
    proc.stdout!.on('data', (d) => {
      out += d
      const m = /BENCH_READY (\{.*\})/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve((JSON.parse(m[1]!) as { port: number }).port)
      }
    })
  })
}

/** The first frame a handshake to `path` gets (the socket is left open); fails on a close or after 5 s. */
function greeting(t: Test, port: number, path: string): Promise<{ text: string; ws: WebSocket }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`)
  t.teardown(() => ws.terminate())
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${path}: no greeting within 5 s`)), 5000)
    ws.once('message', (data) => {
      clearTimeout(timer)
      resolve({ text: String(data), ws })
    })
    ws.once('close', (code) => {
      clearTimeout(timer)
      reject(new Error(`${path}: closed (${code}) before a greeting`))
    })
    ws.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
  })
}

t.test('every layer greets like /ws: a valid WELCOME of the same length', async (t) => {
  const [raw, layers] = await Promise.all([benchServer(t, 'raw-greet'), benchServer(t, 'switchboard-layers')])
  const frames = {
    'raw-greet /': await greeting(t, raw, '/'),
    '/bench/bare': await greeting(t, layers, '/bench/bare'),
    '/bench/registry': await greeting(t, layers, '/bench/registry'),
    '/ws': await greeting(t, layers, '/ws')
  }
  const length = frames['/ws'].text.length
  for (const [where, { text }] of Object.entries(frames)) {
    const msg = JSON.parse(text) as unknown
    t.ok(Value.Check(Welcome, msg), `${where}: a WELCOME by /ws's schema: ${text}`)
    t.match((msg as Welcome).data.client_id, /^ws_client_\d{13}_\d{5}$/, `${where}: an id shaped like /ws's`)
    t.equal(text.length, length, `${where}: as long as /ws's WELCOME`)
  }

  // The registry layer's connection is registered (counted as an open connection of the main
  // surface); the bare layer's is not. /ws's socket and the registry layer's are still open.
  const metrics = await (await fetch(`http://127.0.0.1:${layers}/metrics`)).text()
  t.match(metrics, /switchboard_ws_connections\{surface="main"\} 2\n/, 'two registered: /bench/registry and /ws, not /bench/bare')
})
