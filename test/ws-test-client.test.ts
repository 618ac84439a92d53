// The exported test client's own behaviour: clear timeouts, close expectations, refusals.
import t from 'tap'
import { startApp } from './helpers/app.ts'
import { WsTestClient, ofType } from '../src/testing/ws-test-client.ts'

t.test('receiveJson times out with a message naming what was awaited', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const c = await s.connect('/ws/echo')
  await c.receiveJson()
  const started = Date.now()
  await t.rejects(c.receiveJson({ timeout: 150 }), { name: 'TimeoutError', message: /^timed out after 150 ms waiting for a frame on ws:\/\/127\.0\.0\.1:\d+\/ws\/echo$/ })
  t.ok(Date.now() - started >= 140)
  await t.rejects(c.receiveJson({ timeout: 50 }), { name: 'TimeoutError' })
})

t.test('receiveUntil reports what arrived meanwhile; waitFor skips', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const c = await s.connect('/ws/echo')
  c.send({ type: 'a' })
  await t.rejects(c.receiveUntil(ofType('never'), { timeout: 200 }), { message: /received meanwhile: .*"welcome".*"echo"/ })
  c.send({ type: 'b' })
  t.same((await c.waitFor((m: { original?: { type: string } }) => m.original?.type === 'b')).original, { type: 'b' })
})

t.test('expectClose checks the code; expectNoMessage fails on a frame', async (t) => {
  const s = await startApp({ WS_MAX_PAYLOAD: '100' })
  t.teardown(s.close)
  const c = await s.connect('/ws/echo')
  await t.rejects(c.expectNoMessage(500), { message: /expected no message within 500 ms, got: \{"type":"welcome"/ })
  await t.rejects(c.expectClose(1000, { timeout: 100 }), { message: /to close with 1000 within 100 ms; it stayed open/ })
  c.send('x'.repeat(200))
  await t.rejects(c.expectClose(1000), { message: 'expected close code 1000, got 1009 ()' })
  await t.rejects(c.receiveJson(), { message: /closed \(1009 \) while waiting for a frame/ })
})

t.test('refusal returns the status; assertAuthenticated fails without authentication 200', async (t) => {
  const s = await startApp({ ALLOWED_ORIGINS: 'https://ok.example' })
  t.teardown(s.close)
  t.equal(await WsTestClient.refusal(s.ws('/ws'), { headers: { Origin: 'https://no.example' } }), 403)
  await t.rejects(WsTestClient.refusal(s.ws('/ws')), { message: /expected .* to refuse the handshake/ })
  const c = await s.connect('/ws/echo')
  await t.rejects(c.assertAuthenticated({ timeout: 200 }), { name: 'TimeoutError' })
})
