// GET /asyncapi.json: a valid AsyncAPI 3 document of every surface, whose examples the server accepts.
import t from 'tap'
import { Parser } from '@asyncapi/parser'
import { startApp } from './helpers/app.ts'
import { signToken, TEST_SECRET } from './helpers/tokens.ts'

type Doc = {
  channels: Record<string, { address: string; description: string; messages: Record<string, { $ref: string }> }>
  operations: Record<string, { action: 'send' | 'receive'; channel: { $ref: string }; messages: { $ref: string }[] }>
  components: { messages: Record<string, { name: string; contentType: string; examples: { payload: unknown }[] }> }
}

t.test('validates with @asyncapi/parser and lists every surface', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const res = await fetch(`${s.http}/asyncapi.json`)
  t.equal(res.status, 200)
  const doc = await res.json() as Doc
  const { diagnostics } = await new Parser().parse(JSON.stringify(doc))
  const errors = diagnostics.filter((d) => d.severity === 0)
  t.same(errors.map((e) => `${e.path.join('.')}: ${e.message}`), [], 'no validation errors')
  const addresses = Object.values(doc.channels).map((c) => c.address)
  for (const a of ['/ws', '/ws/echo', '/ws/health', '/ws/EchoMessage', '/ws/PingPong', '/ws/SecureChat', '/ws/Announce']) t.ok(addresses.includes(a), `has ${a}`)
  t.notOk(addresses.includes('/ws/Greeting'), 'HTTP walkers are not WebSocket channels')
  for (const [k, m] of Object.entries(doc.components.messages)) t.ok(m.examples.length > 0, `${k} has an example`)
})

t.test('each surface accepts its own client examples', async (t) => {
  const s = await startApp({ JWT_SECRET: TEST_SECRET })
  const token = await signToken({ sub: 'docs-user' })
  t.teardown(s.close)
  const doc = await (await fetch(`${s.http}/asyncapi.json`)).json() as Doc
  for (const [id, ch] of Object.entries(doc.channels)) {
    const op = doc.operations[`${id}_receive`]
    if (!op) continue
    for (const ref of op.messages) {
      const key = ref.$ref.split('/').pop()!
      const msg = doc.components.messages[key]!
      for (const { payload } of msg.examples) {
        // Surfaces that require a token get one in the handshake, as the document says.
        const c = await s.connect(ch.address, /Requires a token/.test(ch.description) ? { headers: { Authorization: `Bearer ${token}` } } : {})
        c.send(msg.contentType === 'text/plain' ? String(payload) : JSON.stringify(payload))
        // Accepted: the connection stays open and nothing says the frame was invalid.
        const frames: string[] = []
        for (;;) {
          try { frames.push(await c.receiveText({ timeout: 300 })) } catch { break }
        }
        t.ok(c.isOpen, `${ch.address} ${msg.name}: connection stays open`)
        t.notMatch(frames.join('\n'), /"VALIDATION"|union_tag|"ok":false|"type":"error"/, `${ch.address} ${msg.name}: no error reply`)
        c.terminate()
      }
    }
  }
})

t.test('every example validates against its own schema', async (t) => {
  const { coreSurfaces, walkerSurfaces } = await import('../src/docs/surfaces.ts')
  const { Value } = await import('@sinclair/typebox/value')
  const app = await startApp()
  t.teardown(app.close)
  for (const s of [...coreSurfaces(), ...walkerSurfaces(app.app.walkers.list())]) {
    for (const m of [...s.receive, ...s.send]) {
      for (const ex of m.examples) t.ok(Value.Check(m.schema, ex), `${s.address} ${m.name}: ${JSON.stringify(ex).slice(0, 80)}`)
    }
  }
})
