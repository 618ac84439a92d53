import t from 'tap'
import WebSocket from 'ws'
import { startApp } from './helpers/app.ts'

t.test('/ws greeting and verbatim echo (seed examples)', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const c = await s.connect('/ws')
  const greeting = await c.receiveJson()
  t.equal(greeting.type, 'WELCOME')
  t.match(greeting.data.client_id, /^ws_client_\d{13}_\d{5}$/)
  t.match(greeting.data.server_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  t.same(greeting.data.protocols, ['echo', 'fastchat'])
  t.same(greeting.data.heartbeat, { ping_interval: 15, pong_timeout: 5 })
  t.same(Object.keys(greeting.data).sort(), ['client_id', 'heartbeat', 'protocols', 'server_time'])

  c.send('hello')
  t.equal(await c.receiveText(), 'hello')
  c.send('ping')
  t.equal(await c.receiveText(), 'ping')
  for (const verbatim of ['42', '[1,2]', '"str"', '  {not json', 'héllo ✓ 🎉', '{"unterminated": ']) {
    c.send(verbatim)
    t.equal(await c.receiveText(), verbatim, `echoes ${verbatim} verbatim`)
  }
})

t.test('/ws greeting comes first even when the client sends in the same tick as open', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const frames: string[] = []
  const ws = new WebSocket(s.ws('/ws'))
  ws.on('open', () => ws.send('hello'))
  await new Promise<void>((resolve) => ws.on('message', (d) => {
    frames.push(String(d))
    if (frames.length === 2) resolve()
  }))
  ws.terminate()
  t.equal(JSON.parse(frames[0]!).type, 'WELCOME')
  t.equal(frames[1], 'hello')
})

t.test('/ws ping, echo envelope and binary refusal', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const c = await s.connect('/ws')
  const { data: { client_id } } = await c.receiveJson()

  c.send({ type: 'ping' })
  const pong = await c.receiveJson()
  t.same(Object.keys(pong), ['type', 'timestamp', 'client_id'])
  t.equal(pong.type, 'pong')
  t.equal(pong.client_id, client_id)
  t.ok(Math.abs(pong.timestamp - Date.now() / 1000) < 5, 'timestamp is epoch seconds')

  c.send({ type: 'custom', data: 'test' })
  const echo = await c.receiveJson()
  t.same(Object.keys(echo), ['type', 'data', 'timestamp', 'client_id', 'server_processing_ms'])
  t.equal(echo.type, 'echo')
  t.same(echo.data, { type: 'custom', data: 'test' })
  t.equal(echo.client_id, client_id)
  t.type(echo.server_processing_ms, 'number')
  t.ok(echo.server_processing_ms >= 0)

  c.sendBinary(Buffer.from([1, 2, 3]))
  t.same(await c.receiveJson(), {
    type: 'ERROR', data: { code: 'VALIDATION', message: 'binary frames are not supported', details: {} }
  })
  c.send('still open')
  t.equal(await c.receiveText(), 'still open')
})

t.test('WS_GREETING=false turns the greeting off', async (t) => {
  const s = await startApp({ WS_GREETING: 'false' })
  t.teardown(s.close)
  const c = await s.connect('/ws')
  c.send('first')
  t.equal(await c.receiveText(), 'first')
})

t.test('/ws echo envelope: data is the object as sent, member order and numbers included', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const c = await s.connect('/ws')
  const { data: { client_id } } = await c.receiveJson()
  // A parse and stringify would put "1" and "2" first, write 1.0 as 1, round the big integer
  // and drop the __proto__ member.
  const sent = '{"b":1,"2":"two","a":3,"1":"one","f":1.0,"big":12345678901234567890,"__proto__":{"x":1}}'
  c.send(`  ${sent}\n`)
  const text = await c.receiveText()
  const at = /^\{"type":"echo","data":(.*),"timestamp":([0-9.]+),"client_id":"([^"]+)","server_processing_ms":([0-9.]+)\}$/.exec(text)
  t.ok(at, text)
  t.equal(at![1], sent, 'the object\'s own text, without the whitespace around it')
  t.equal(at![3], client_id)
})
