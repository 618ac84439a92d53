// Reconnect storm: 5,000 clients on a real server process, the process restarts (SIGTERM, a new
// one on the same port), and all 5,000 reconnect at once. The new process must admit every one
// without crashing, and its event loop must stay responsive: lag is read from /metrics
// (prom-client's monitorEventLoopDelay, max and p99 since the previous scrape). Clients come from
// 127.0.0.2–127.0.0.9, 625 each, under the default MAX_CONNECTIONS_PER_IP (1000).
// About 10 s here, so it runs in every `npm test` (STORM_CLIENTS overrides the count).
import t from 'tap'
import { startServer, type ServerProcess } from '../helpers/process.ts'
import { WsTestClient } from '../../src/testing/ws-test-client.ts'

const CLIENTS = Number(process.env.STORM_CLIENTS ?? 5000)
const ADDRESSES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`)
/**
 * Bounds for a shared two-core machine; measured values are printed and recorded in
 * docs/security.md. The max is the cold process's first burst of handshakes and scales with the
 * machine (0.26–0.36 s on one, 1.2–1.3 s alone and 2.0 s inside the whole run on a slower one, the
 * tree before and after alike); the p99 is what a connection sees.
 */
const MAX_LAG_S = 4
const P99_LAG_S = 0.5
const ADMIT_WITHIN_MS = 60_000

async function lag(server: ServerProcess): Promise<{ max: number; p99: number }> {
  const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text()
  const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1])
  return { max: read('nodejs_eventloop_lag_max_seconds'), p99: read('nodejs_eventloop_lag_p99_seconds') }
}

/** Connect `n` clients to /ws at once, spread over the source addresses; resolves when each has its WELCOME. */
async function connectAll(port: number, n: number): Promise<WsTestClient[]> {
  return Promise.all(Array.from({ length: n }, async (_, i) => {
    const c = await WsTestClient.connect(`ws://127.0.0.1:${port}/ws`, { localAddress: ADDRESSES[i % ADDRESSES.length], timeoutMs: ADMIT_WITHIN_MS })
    const welcome = await c.receiveJson({ timeout: ADMIT_WITHIN_MS })
    if (welcome.type !== 'WELCOME') throw new Error(`expected WELCOME, got ${JSON.stringify(welcome)}`)
    return c
  }))
}

t.test(`reconnect storm: ${CLIENTS} clients reconnect at once after a restart`, async (t) => {
  const env = { SHUTDOWN_GRACE_MS: '5000', LOG_LEVEL: 'info' }
  const first = await startServer(env)
  t.teardown(() => first.proc.kill('SIGKILL'))
  // The first population arrives in batches, as users do over time.
  const clients: WsTestClient[] = []
  for (let i = 0; i < CLIENTS; i += 500) clients.push(...await connectAll(first.port, Math.min(500, CLIENTS - i)))
  t.equal(clients.length, CLIENTS, `${CLIENTS} clients connected`)

  first.proc.kill('SIGTERM')
  const closes = await Promise.all(clients.map((c) => c.expectClose(undefined, { timeout: 15_000 })))
  t.same([...new Set(closes.map((c) => c.code))], [1001], 'every client saw 1001')
  t.equal((await first.exited).code, 0)

  const second = await startServer({ ...env, PORT: String(first.port) })
  t.teardown(() => second.proc.kill('SIGKILL'))
  await lag(second) // resets the lag histogram: the next reading covers the storm only
  const started = Date.now()
  const again = await connectAll(second.port, CLIENTS)
  const tookMs = Date.now() - started
  const during = await lag(second)
  t.equal(again.length, CLIENTS, `all ${CLIENTS} admitted again in ${tookMs} ms`)
  t.ok(tookMs < ADMIT_WITHIN_MS, `within ${ADMIT_WITHIN_MS} ms`)
  t.ok(during.max < MAX_LAG_S, `event-loop lag during the storm: max ${(during.max * 1000).toFixed(0)} ms (bound ${MAX_LAG_S * 1000} ms)`)
  t.ok(during.p99 < P99_LAG_S, `event-loop lag during the storm: p99 ${(during.p99 * 1000).toFixed(0)} ms (bound ${P99_LAG_S * 1000} ms)`)

  const health = await (await fetch(`http://127.0.0.1:${second.port}/health`)).json()
  t.equal(health.connections, CLIENTS, '/health counts them all')
  const probe = again[again.length - 1]!
  probe.send({ type: 'ping' })
  t.equal((await probe.receiveJson({ timeout: 5000 })).type, 'pong', 'and they are served')
  t.equal(second.proc.exitCode, null, 'the server is running')
  t.comment(`storm: ${CLIENTS} clients re-admitted in ${tookMs} ms; event-loop lag max ${(during.max * 1000).toFixed(1)} ms, p99 ${(during.p99 * 1000).toFixed(1)} ms`)

  for (const c of again) c.terminate()
  second.proc.kill('SIGTERM')
  await second.exited
})
