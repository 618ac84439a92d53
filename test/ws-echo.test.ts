import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { startApp } from './helpers/app.ts'

t.test('/ws/echo welcome with default config', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const c = await s.connect('/ws/echo')
  const w = await c.receiveJson()
  t.same(Object.keys(w), ['type', 'endpoint', 'client_id', 'server_time', 'config'])
  t.equal(w.type, 'welcome')
  t.equal(w.endpoint, '/ws/echo')
  t.match(w.client_id, /^echo_client_\d{13}_\d{5}$/)
  t.ok(Math.abs(w.server_time - Date.now() / 1000) < 5, 'server_time in epoch seconds')
  t.same(w.config, { ping_interval: 30, ping_timeout: 10 })
})

t.test('/ws/echo echoes in order, large and deep payloads unchanged', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const c = await s.connect('/ws/echo')
  const { client_id } = await c.receiveJson()
  for (let i = 0; i < 5; i++) c.send({ type: 'test', seq: i })
  for (let i = 0; i < 5; i++) {
    const e = await c.receiveJson()
    t.same(Object.keys(e), ['type', 'original', 'server_timestamp', 'client_id', 'latency_info'])
    t.same(e.original, { type: 'test', seq: i }, `message ${i} in order`)
    t.equal(e.client_id, client_id)
    t.same(Object.keys(e.latency_info), ['received_at', 'connection_age_ms'])
  }

  const big = { type: 'big', data: 'x'.repeat(10 * 1024) }
  c.send(big)
  t.same((await c.receiveJson()).original, big, '10 KB payload comes back equal')

  let deep: unknown = { leaf: true }
  for (let i = 0; i < 100; i++) deep = { n: deep }
  c.send(deep)
  t.same((await c.receiveJson()).original, deep, 'JSON nested 100 deep comes back equal')

  c.send({ type: 'ping' })
  t.same((await c.receiveJson()).original, { type: 'ping' }, 'ping is echoed like any JSON')
  c.send([1, 'two'])
  t.same((await c.receiveJson()).original, [1, 'two'], 'non-object JSON is echoed too')
})

t.test('/ws/echo connection age, echo_raw and silent pong', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const c = await s.connect('/ws/echo')
  const { client_id } = await c.receiveJson()
  await sleep(120)
  c.send({ type: 'age' })
  const e = await c.receiveJson()
  t.ok(e.latency_info.connection_age_ms > 100, `connection_age_ms ${e.latency_info.connection_age_ms} > 100`)

  c.send('plain text message')
  const raw = await c.receiveJson()
  t.same(Object.keys(raw), ['type', 'data', 'server_timestamp', 'client_id'])
  t.equal(raw.type, 'echo_raw')
  t.equal(raw.data, 'plain text message')
  t.equal(raw.client_id, client_id)

  c.send({ type: 'pong' })
  await c.expectNoMessage(300)
  c.send({ type: 'after' })
  t.same((await c.receiveJson()).original, { type: 'after' })
})

t.test('/ws/echo sends server_ping every WS_PING_INTERVAL (fractional seconds)', async (t) => {
  const s = await startApp({ WS_PING_INTERVAL: '0.4', WS_PING_TIMEOUT: '0.2' })
  t.teardown(s.close)
  const c = await s.connect('/ws/echo')
  const { client_id, config } = await c.receiveJson()
  t.same(config, { ping_interval: 0.4, ping_timeout: 0.2 })
  const started = Date.now()
  const p1 = await c.receiveJson({ timeout: 1500 })
  const p2 = await c.receiveJson({ timeout: 1500 })
  t.same(Object.keys(p1), ['type', 'timestamp', 'client_id'])
  t.equal(p1.type, 'server_ping')
  t.equal(p1.client_id, client_id)
  t.equal(p2.type, 'server_ping')
  t.ok(Date.now() - started >= 600, 'two pings take about two intervals')
  t.ok(p2.timestamp > p1.timestamp)
})

t.test('/ws/echo original is the JSON as sent, member order and numbers included', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const c = await s.connect('/ws/echo')
  const { client_id } = await c.receiveJson()
  for (const sent of [
    '{"b":1,"2":"two","a":3,"1":"one","f":1.0,"big":12345678901234567890,"__proto__":{"x":1}}',
    '[1.50,-0,{"9":9,"8":8}]',
    '12345678901234567890'
  ]) {
    c.send(`\ufeff ${sent}\r\n`) // a BOM and whitespace around it are not part of the JSON
    const text = await c.receiveText()
    const at = /^\{"type":"echo","original":(.*),"server_timestamp":([0-9.]+),"client_id":"([^"]+)","latency_info":\{"received_at":([0-9.]+),"connection_age_ms":([0-9.]+)\}\}$/.exec(text)
    t.ok(at, text)
    t.equal(at![1], sent, `${sent}: as sent`)
    t.equal(at![3], client_id)
  }
})
