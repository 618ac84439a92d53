// GET /metrics: valid Prometheus text whose counters move with traffic, with bounded labels.
import t from 'tap'
import Fastify from 'fastify'
import { randomUUID } from 'node:crypto'
import { startApp, type TestApp } from './helpers/app.ts'
import { WsTestClient, ofType } from '../src/testing/ws-test-client.ts'
import { loadConfig } from '../src/config.ts'
import configPlugin from '../plugins/config.ts'
import websocketPlugin from '../plugins/websocket.ts'
import metricsPlugin from '../plugins/metrics.ts'
import metricsRoutes from '../routes/metrics.ts'
import { Type } from '@sinclair/typebox'
import { frameLabels, labelsOf } from '../src/metrics/labels.ts'

interface Sample { name: string; labels: Record<string, string>; value: number }
interface Exposition { types: Map<string, string>; samples: Sample[] }

/**
 * A strict reader of the Prometheus text format (0.0.4): HELP and TYPE once per family and
 * before its samples, metric and label names by the grammar, escaped label values, float
 * values, every sample in a declared family, no series twice.
 */
function parseExposition(text: string): Exposition {
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'
  const types = new Map<string, string>()
  const helps = new Set<string>()
  const samples: Sample[] = []
  const seen = new Set<string>()
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline')
  for (const [i, line] of text.slice(0, -1).split('\n').entries()) {
    const where = `line ${i + 1}: ${line}`
    if (line === '') continue
    let m = new RegExp(`^# HELP (${NAME}) (.*)$`).exec(line)
    if (m) {
      if (helps.has(m[1]!)) throw new Error(`second HELP, ${where}`)
      helps.add(m[1]!)
      continue
    }
    m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line)
    if (m) {
      if (types.has(m[1]!)) throw new Error(`second TYPE, ${where}`)
      if (samples.some((s) => s.name === m![1] || s.name.startsWith(`${m![1]}_`))) throw new Error(`TYPE after samples, ${where}`)
      types.set(m[1]!, m[2]!)
      continue
    }
    if (line.startsWith('#')) throw new Error(`unknown comment, ${where}`)
    m = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: -?\\d+)?$`).exec(line)
    if (!m) throw new Error(`not a sample, ${where}`)
    const [, name, rawLabels, rawValue] = m
    const labels: Record<string, string> = {}
    if (rawLabels) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y
      let pos = 0
      while (pos < rawLabels.length) {
        re.lastIndex = pos
        const l = re.exec(rawLabels)
        if (!l) throw new Error(`bad labels, ${where}`)
        labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\')
        pos = re.lastIndex
      }
    }
    const value = parseFloatLikeGo(rawValue!)
    if (value === undefined) throw new Error(`bad value, ${where}`)
    const family = [name!, name!.replace(/_(bucket|sum|count|total|created)$/, '')].find((f) => types.has(f))
    if (!family) throw new Error(`sample without a TYPE, ${where}`)
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`
    if (seen.has(key)) throw new Error(`series twice, ${where}`)
    seen.add(key)
    samples.push({ name: name!, labels, value })
  }
  return { types, samples }
}

/** Prometheus reads values with Go's strconv.ParseFloat: NaN and Inf in any case (prom-client writes "Nan"). */
function parseFloatLikeGo(raw: string): number | undefined {
  const special = /^([+-]?)(inf|infinity|nan)$/i.exec(raw)
  if (special) return special[2]!.toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw)) return undefined
  return Number(raw)
}

async function scrape(s: TestApp): Promise<Exposition & { text: string }> {
  const res = await fetch(`${s.http}/metrics`)
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`)
  const text = await res.text()
  return { text, ...parseExposition(text) }
}

function value(e: Exposition, name: string, labels: Record<string, string> = {}): number {
  const s = e.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v) &&
    Object.keys(s.labels).length === Object.keys(labels).length)
  return s?.value ?? 0
}

t.test('the parser itself rejects what Prometheus rejects', async (t) => {
  t.throws(() => parseExposition('a 1\n'), /without a TYPE/)
  t.throws(() => parseExposition('# TYPE a counter\na{x="1} 1\n'), /bad labels/)
  t.throws(() => parseExposition('# TYPE a gauge\na one\n'), /bad value/)
  t.ok(Number.isNaN(parseExposition('# TYPE a gauge\na Nan\n').samples[0]!.value), 'NaN in any case, as Go parses it')
  t.throws(() => parseExposition('# TYPE a gauge\na 1\na 2\n'), /series twice/)
  t.same(parseExposition('# HELP a x\n# TYPE a gauge\na{b="q\\"z"} 1.5\n').samples, [{ name: 'a', labels: { b: 'q"z' }, value: 1.5 }])
})

t.test('/metrics is Prometheus text, every family present, values as prom-client holds them', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const res = await fetch(`${s.http}/metrics`)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/)
  const e = parseExposition(await res.text())
  for (const [name, type] of [
    ['switchboard_ws_connections', 'gauge'],
    ['switchboard_ws_connections_opened_total', 'counter'],
    ['switchboard_ws_connections_closed_total', 'counter'],
    ['switchboard_ws_messages_total', 'counter'],
    ['switchboard_errors_total', 'counter'],
    ['switchboard_handshakes_refused_total', 'counter'],
    ['switchboard_presence_users', 'gauge'],
    ['switchboard_backplane_up', 'gauge'],
    ['nodejs_eventloop_lag_seconds', 'gauge'],
    ['nodejs_eventloop_lag_p99_seconds', 'gauge'],
    ['process_resident_memory_bytes', 'gauge']
  ] as const) t.equal(e.types.get(name), type, `${name} is a ${type}`)
  t.same(e.samples.filter((x) => x.name === 'switchboard_ws_connections').map((x) => x.labels.surface), ['main', 'echo', 'health', 'walker'])
  t.equal(value(e, 'switchboard_backplane_up'), 1)

  // The same numbers prom-client's own registry reports.
  for (const metric of await s.app.metrics.registry.getMetricsAsJSON()) {
    for (const v of metric.values) {
      t.equal(value(e, metric.name, Object.fromEntries(Object.entries(v.labels).map(([k, x]) => [k, String(x)]))), v.value, `${metric.name} ${JSON.stringify(v.labels)}`)
    }
  }
})

t.test('counters move when traffic flows', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const before = await scrape(s)

  const echo = await s.connect('/ws/echo')
  await echo.receiveJson() // welcome
  echo.send({ type: 'ping' })
  await echo.waitFor(ofType('echo'))
  echo.send('not json')
  await echo.waitFor(ofType('echo_raw'))
  echo.send({ action: 'echo', payload: 'hi' })
  await echo.receiveAllUntilComplete()

  const main = await s.connect('/ws')
  await main.receiveJson() // WELCOME
  main.sendBinary(Buffer.from([1, 2, 3]))
  t.equal((await main.receiveJson()).data.code, 'VALIDATION')
  main.send('hello')
  t.equal(await main.receiveText(), 'hello')

  const during = await scrape(s)
  t.equal(value(during, 'switchboard_ws_connections', { surface: 'echo' }), 1)
  t.equal(value(during, 'switchboard_ws_connections', { surface: 'main' }), 1)
  const delta = (name: string, labels: Record<string, string>) => value(during, name, labels) - value(before, name, labels)
  const msg = (surface: string, direction: string, type: string) => delta('switchboard_ws_messages_total', { surface, direction, type })
  t.equal(delta('switchboard_ws_connections_opened_total', { surface: 'echo' }), 1)
  // surface direction type, each seen once
  const once = ['echo out welcome', 'echo in ping', 'echo out echo', 'echo in text',
    'echo out echo_raw', 'echo in action:echo', 'echo out action:echo', 'echo out action:complete',
    'main out WELCOME', 'main in binary', 'main out ERROR', 'main in text']
  for (const row of once) {
    const [surface, direction, type] = row.split(' ') as [string, string, string]
    t.equal(msg(surface, direction, type), 1, row)
  }
  t.equal(msg('main', 'out', 'raw'), 1, 'a verbatim echo is "raw": the client chose its bytes')
  t.equal(delta('switchboard_errors_total', { code: 'VALIDATION' }), 1, 'the ERROR frame counted by its code')

  t.equal(await WsTestClient.refusal(s.ws('/ws/echo'), { headers: { origin: 'http://evil.example' } }), 403)
  await echo.close()
  await main.close()
  const after = await scrape(s)
  t.equal(value(after, 'switchboard_handshakes_refused_total', { reason: 'origin' }), 1)
  t.equal(value(after, 'switchboard_ws_connections', { surface: 'echo' }), 0, 'the gauge follows closes')
  t.equal(value(after, 'switchboard_ws_connections_closed_total', { surface: 'echo', code: '1000' }), 1)
  t.equal(value(after, 'switchboard_ws_connections_closed_total', { surface: 'main', code: '1000' }), 1)

  // Draining: upgrades are refused with 503, counted as such.
  s.app.lifecycle.beginShutdown()
  t.equal(await WsTestClient.refusal(s.ws('/ws/echo')), 503)
  t.equal(value(await scrape(s), 'switchboard_handshakes_refused_total', { reason: 'draining' }), 1)
})

t.test('presence size follows FastChat identities', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const c = await s.connect('/ws')
  await c.receiveJson()
  c.send({ type: 'HELLO', data: { user_id: randomUUID(), display_name: 'Metrics Alice' } })
  await c.waitFor(ofType('HELLO_ACK'))
  t.equal(value(await scrape(s), 'switchboard_presence_users'), 1)
  await c.close()
  for (let i = 0; i < 50 && s.app.presence.size > 0; i++) await new Promise((r) => setTimeout(r, 20))
  t.equal(value(await scrape(s), 'switchboard_presence_users'), 0)
})

t.test('labels stay bounded: no user id, client id, walker name or client-chosen type', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const userId = randomUUID()
  const main = await s.connect('/ws')
  const { data: { client_id } } = await main.receiveJson()
  main.send({ type: 'HELLO', data: { user_id: userId, display_name: 'Bounded Bob' } })
  await main.waitFor(ofType('HELLO_ACK'))
  main.send({ type: 'user_chosen_type_42', x: 1 })
  await main.waitFor(ofType('echo'))
  main.send('{"type":"ERROR","data":{"code":"FORGED_CODE"')
  t.equal(await main.receiveText(), '{"type":"ERROR","data":{"code":"FORGED_CODE"', 'echoed verbatim')
  const echo = await s.connect('/ws/echo')
  await echo.receiveJson()
  echo.send({ action: 'evil_action_name' })
  await echo.receiveAllUntilComplete()
  const walker = await s.connect('/ws/NoSuchWalkerXyz')
  await walker.expectClose(4004)

  const { text, samples } = await scrape(s)
  for (const leak of [userId, client_id, 'Bounded', 'NoSuchWalkerXyz', 'user_chosen_type_42', 'evil_action_name', 'FORGED_CODE']) {
    t.notOk(text.includes(leak), `${leak} is not in /metrics`)
  }
  const values = (label: string) => [...new Set(samples.filter((x) => x.name.startsWith('switchboard_')).map((x) => x.labels[label]).filter(Boolean))]
  t.ok(values('surface').every((v) => ['main', 'echo', 'health', 'walker'].includes(v!)), `surfaces ${values('surface')}`)
  t.ok(values('type').includes('other'))
  t.ok(values('code').every((v) => /^([A-Z_]+|\d{4}|other)$/.test(v!)), `codes ${values('code')}`)
  t.equal(value({ types: new Map(), samples }, 'switchboard_ws_connections_closed_total', { surface: 'walker', code: '4004' }), 1)
})

t.test('the API other routes call: countMessage, countError', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  s.app.metrics.countMessage('main', 'in', 'HELLO')
  s.app.metrics.countMessage('main', 'in', 'some-user-id')
  s.app.metrics.countMessage('echo', 'out', 'action:pong')
  s.app.metrics.countError('RATE_LIMITED')
  s.app.metrics.countError('ANY_OTHER')
  const e = await scrape(s)
  t.equal(value(e, 'switchboard_ws_messages_total', { surface: 'main', direction: 'in', type: 'HELLO' }), 1)
  t.equal(value(e, 'switchboard_ws_messages_total', { surface: 'main', direction: 'in', type: 'other' }), 1)
  t.equal(value(e, 'switchboard_ws_messages_total', { surface: 'echo', direction: 'out', type: 'action:pong' }), 1)
  t.equal(value(e, 'switchboard_errors_total', { code: 'RATE_LIMITED' }), 1)
  t.equal(value(e, 'switchboard_errors_total', { code: 'other' }), 1)
})

t.test('connections opened and closed: counted as plain numbers, handed to prom-client once per scrape, odd close codes as "other"', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const m = s.app.metrics
  const before = await scrape(s)
  m.connectionOpened('walker')
  m.connectionOpened('walker')
  m.connectionClosed('walker', 1000)
  m.connectionClosed('walker', 3999) // a peer's own code
  const first = await scrape(s)
  t.equal(value(first, 'switchboard_ws_connections_opened_total', { surface: 'walker' }) - value(before, 'switchboard_ws_connections_opened_total', { surface: 'walker' }), 2)
  t.equal(value(first, 'switchboard_ws_connections_closed_total', { surface: 'walker', code: '1000' }), 1)
  t.equal(value(first, 'switchboard_ws_connections_closed_total', { surface: 'walker', code: 'other' }), 1)
  // A second scrape hands over only what was counted since: nothing is added twice.
  m.connectionClosed('walker', 1000)
  const second = await scrape(s)
  t.equal(value(second, 'switchboard_ws_connections_opened_total', { surface: 'walker' }), value(first, 'switchboard_ws_connections_opened_total', { surface: 'walker' }))
  t.equal(value(second, 'switchboard_ws_connections_closed_total', { surface: 'walker', code: '1000' }), 2)
  t.equal(value(second, 'switchboard_ws_connections_closed_total', { surface: 'walker', code: 'other' }), 1)
})

t.test('the type labels are read off the protocol schemas', async (t) => {
  const labels = frameLabels()
  for (const label of ['HELLO', 'MSG', 'MSG_ACK', 'PRESENCE', 'ERROR', 'WELCOME', 'echo', 'echo_raw', 'server_ping', 'heartbeat', 'health_status', 'action:complete', 'action:authentication', 'reply_ok', 'reply_error']) {
    t.ok(labels.includes(label), label)
  }
  t.same(labelsOf(Type.Object({ type: Type.Literal('NEW_TYPE') })), ['NEW_TYPE'], 'a new message type gets its own label')
  t.same(labelsOf(Type.Union([Type.Object({ action: Type.Literal('a') }), Type.Object({ ok: Type.Literal(false) })])), ['action:a', 'reply_error'])
  t.equal(labels.at(-1), 'other')
  t.equal(new Set(labels).size, labels.length, 'no label twice')
})

t.test('a label the server sends that no schema names is counted as "other" and reported once', async (t) => {
  const s = await startApp()
  t.teardown(s.close)
  const reported: string[] = []
  s.app.metrics.onUnknownLabel = (label) => reported.push(label)
  const before = value(await scrape(s), 'switchboard_ws_messages_total', { surface: 'main', direction: 'out', type: 'other' })
  s.app.metrics.countMessage('main', 'out', 'NOT_IN_ANY_SCHEMA')
  s.app.metrics.countMessage('main', 'out', 'NOT_IN_ANY_SCHEMA')
  s.app.metrics.countMessage('main', 'in', 'client_chosen')
  t.equal(value(await scrape(s), 'switchboard_ws_messages_total', { surface: 'main', direction: 'out', type: 'other' }) - before, 2)
  t.same(reported, ['NOT_IN_ANY_SCHEMA'], 'outgoing only, once: a client picks inbound types')
})

t.test('the plugin on a bare Fastify, without presence or a backplane', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(configPlugin, { config: loadConfig({}) })
  await app.register(websocketPlugin)
  await app.register(metricsPlugin)
  await app.register(metricsRoutes)
  const res = await app.inject('/metrics')
  t.equal(res.statusCode, 200)
  const e = parseExposition(res.body)
  t.equal(value(e, 'switchboard_presence_users'), 0)
  t.equal(value(e, 'switchboard_backplane_up'), 0, 'no backplane: not up')
  t.equal(value(e, 'switchboard_ws_connections', { surface: 'main' }), 0)
})
