// The sustained connection through nginx: 70 s, longer than nginx's 60 s default timeouts, with
// WS_PING_INTERVAL at its default (30 s) and ws.conf as shipped. It takes 70 s, so it runs in CI
// (CI=true) or with LONG_TESTS=1, and is skipped, with that reason, otherwise.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { startApp } from './helpers/app.ts'
import { nginxSkipReason, startNginx } from './helpers/nginx.ts'
import { WsTestClient, ofType } from '../src/testing/ws-test-client.ts'

const HOLD_MS = 70_000
const long = process.env.CI === 'true' || process.env.LONG_TESTS === '1'
const skip = nginxSkipReason() || (long ? false : 'takes 70 s: runs when CI=true or LONG_TESTS=1')
if (skip) t.comment(`skipping: ${skip}`)

t.setTimeout(HOLD_MS + 40_000)

t.test('a connection stays open 70 s through nginx with the default ping interval', { skip }, async (t) => {
  const a = await startApp() // WS_PING_INTERVAL and WS_PING_TIMEOUT at their defaults
  const b = await startApp()
  t.teardown(async () => {
    await Promise.all([a.close(), b.close()])
  })
  t.equal(a.app.config.WS_PING_INTERVAL, 30)
  const nginx = await startNginx([a.port, b.port])
  t.teardown(nginx.stop)

  const health = await WsTestClient.connect(nginx.ws('/ws/health'))
  const echo = await WsTestClient.connect(nginx.ws('/ws/echo'))
  t.teardown(() => {
    health.terminate()
    echo.terminate()
  })
  t.equal((await health.receiveJson()).status, 'connected')
  t.equal((await echo.receiveJson()).type, 'welcome')
  const started = Date.now() // after the server opened both, so its connection age is at least ours

  // Heartbeats at about 30 s and 60 s; nothing else is sent in either direction meanwhile.
  const beats: { ping_number: number; at: number }[] = []
  for (let i = 0; i < 2; i++) {
    const beat = await health.waitFor(ofType('heartbeat'), { timeout: 40_000 })
    beats.push({ ping_number: beat.ping_number, at: Date.now() - started })
  }
  t.same(beats.map((b) => b.ping_number), [1, 2])
  const left = HOLD_MS - (Date.now() - started)
  if (left > 0) await sleep(left)
  t.ok(health.isOpen && echo.isOpen, `both open after ${Date.now() - started} ms`)
  t.comment(`heartbeats at ${beats.map((b) => `${(b.at / 1000).toFixed(1)} s`).join(', ')}; held ${((Date.now() - started) / 1000).toFixed(1)} s`)

  health.send({ type: 'get_status' })
  const status = await health.waitFor(ofType('health_status'))
  t.equal(status.status, 'healthy')
  t.ok(status.connection_age_seconds >= HOLD_MS / 1000, `connection_age_seconds ${status.connection_age_seconds}`)
  t.ok(status.ping_count >= 2)
  echo.send({ type: 'still-there' })
  t.same((await echo.waitFor(ofType('echo'))).original, { type: 'still-there' })

  t.same(await health.close(), { code: 1000, reason: '' }, 'closed cleanly with 1000, not 1006')
  t.same(await echo.close(), { code: 1000, reason: '' })
})
