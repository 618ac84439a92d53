// The connection contract of src/transport on a bare Fastify with a test surface: frames handed
// to the handler in order, synchronously while nothing is pending (the hot path: no promise per
// frame), run() work in the same order, the binary policy, the backlog cap, a failure kept on
// its connection, labels to the observer, and the drain waiting for pending work.
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import type { AddressInfo } from 'node:net'
import { loadConfig } from '../../src/config.ts'
import type { Conn, FrameLabel, Handler, Surface, SurfaceOptions } from '../../src/transport/connections.ts'
import { WsTestClient } from '../../src/testing/ws-test-client.ts'
import { waitUntil } from '../helpers/walkers.ts'
import configPlugin from '../../plugins/config.ts'
import websocketPlugin from '../../plugins/websocket.ts'

const SURFACE: SurfaceOptions = {
  surface: 'main',
  prefix: 'ws_client',
  binary: { frame: '{"refused":"binary"}', label: 'ERROR', errorCode: 'VALIDATION' },
  maxQueued: 3
}

/** What the test handler saw, per connection, in the order it happened. */
interface Probe {
  log: string[]
  /** Frames whose handler returned before the frame's turn ended: handled synchronously. */
  sync: number
  /** Resolves the pending `wait:*` frame. */
  release: (() => void) | undefined
  conn: Conn | undefined
}

/**
 * Frames: `wait:X` stays pending until the test releases it, `throw` throws, `reject` rejects,
 * `run:X` queues run() work from inside the handler; anything else is answered at once.
 */
function handler(conn: Conn, probe: Probe): Handler {
  probe.conn = conn
  return {
    message(text) {
      const s = text.toString()
      probe.log.push(`in ${s}`)
      conn.receivedAs('MSG')
      if (s.startsWith('wait:')) return new Promise<void>((resolve) => {
        probe.release = () => {
          conn.send(`done ${s}`, 'MSG_ACK')
          resolve()
        }
      })
      if (s === 'throw') throw new Error('handler threw')
      if (s === 'reject') return Promise.reject(new Error('handler rejected'))
      if (s.startsWith('run:')) conn.run(() => void probe.log.push(`work ${s}`))
      probe.sync++
      conn.send(`echo ${s}`, 'echo')
    },
    drain(text) {
      conn.send(`drained ${text.toString()}`, 'ERROR', 'MESSAGE_FAILED')
    },
    closed(code) {
      probe.log.push(`closed ${code}`)
    }
  }
}

async function serve(t: Test): Promise<{ app: FastifyInstance; url: string; probes: Probe[]; seen: string[] }> {
  const app = Fastify()
  await app.register(configPlugin, { config: loadConfig({ LOG_LEVEL: 'silent', SHUTDOWN_GRACE_MS: '3000' }) })
  await app.register(websocketPlugin)
  const probes: Probe[] = []
  const seen: string[] = []
  app.connections.observer = {
    opened() {},
    frame: (surface: Surface, direction: 'in' | 'out', label: FrameLabel) => void seen.push(`${surface} ${direction} ${label}`),
    error: (code: string) => void seen.push(`error ${code}`),
    closed() {}
  }
  app.get('/test', { websocket: true }, (socket, req) => {
    const probe: Probe = { log: [], sync: 0, release: undefined, conn: undefined }
    probes.push(probe)
    app.connections.add(socket, SURFACE, req.id, (conn) => handler(conn, probe))
  })
  app.get('/bytes', { websocket: true }, (socket, req) => {
    const probe: Probe = { log: [], sync: 0, release: undefined, conn: undefined }
    probes.push(probe)
    app.connections.add(socket, { ...SURFACE, maxQueued: undefined, maxQueuedBytes: 1000 }, req.id, (conn) => handler(conn, probe))
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  return { app, url: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/test`, probes, seen }
}

t.test('frames are handled in order, synchronously while idle, held behind pending work', async (t) => {
  const { url, probes } = await serve(t)
  const c = await WsTestClient.connect(url)
  t.teardown(() => c.terminate())
  c.send('a')
  t.equal(await c.receiveText(), 'echo a')
  c.send('wait:1')
  c.send('b')
  c.send('run:c')
  await c.expectNoMessage(100)
  const probe = probes[0]!
  t.same(probe.log, ['in a', 'in wait:1'], 'frames after a pending one wait for it')
  probe.release!()
  t.equal(await c.receiveText(), 'done wait:1')
  t.equal(await c.receiveText(), 'echo b')
  t.equal(await c.receiveText(), 'echo run:c')
  t.same(probe.log, ['in a', 'in wait:1', 'in b', 'in run:c', 'work run:c'], 'run() work joins the same order')
  t.equal(probe.sync, 3, 'every frame that did not wait was handled without a promise')
})

t.test('run() work queued behind a pending frame waits for it', async (t) => {
  const { url, probes } = await serve(t)
  const c = await WsTestClient.connect(url)
  t.teardown(() => c.terminate())
  c.send('wait:1')
  await c.expectNoMessage(50)
  const probe = probes[0]!
  probe.conn!.run(() => void probe.log.push('work'))
  t.same(probe.log, ['in wait:1'])
  probe.release!()
  await c.receiveText()
  t.same(probe.log, ['in wait:1', 'work'])
})

t.test('binary frames get the surface\'s answer in their turn', async (t) => {
  const { url, probes, seen } = await serve(t)
  const c = await WsTestClient.connect(url)
  t.teardown(() => c.terminate())
  c.send('wait:1')
  c.sendBinary(Buffer.from([1, 2, 3]))
  await c.expectNoMessage(50)
  probes[0]!.release!()
  t.equal(await c.receiveText(), 'done wait:1')
  t.equal(await c.receiveText(), '{"refused":"binary"}')
  t.ok(seen.includes('main in binary') && seen.includes('error VALIDATION'), 'counted as binary in, and its error code')
})

t.test('labels reach the observer from the sender and the handler', async (t) => {
  const { url, seen } = await serve(t)
  const c = await WsTestClient.connect(url)
  t.teardown(() => c.terminate())
  c.send('x')
  await c.receiveText()
  t.same(seen.sort(), ['main in MSG', 'main out echo'])
})

t.test('more frames waiting than the surface allows close the connection with 1008', async (t) => {
  const { url, probes } = await serve(t)
  const c = await WsTestClient.connect(url)
  c.send('wait:1')
  for (let i = 0; i < 3; i++) c.send(`q${i}`)
  t.same(await c.expectClose(1008), { code: 1008, reason: 'too many messages waiting' })
  await waitUntil(() => probes[0]!.log.includes('closed 1008'), 'the server side closed')
  t.same(probes[0]!.log, ['in wait:1', 'closed 1008'], 'the frames past the cap were never handled')
})

t.test('a throw or a rejection closes only its own connection with 1011', async (t) => {
  const { url } = await serve(t)
  const other = await WsTestClient.connect(url)
  t.teardown(() => other.terminate())
  for (const bad of ['throw', 'reject']) {
    const c = await WsTestClient.connect(url)
    c.send(bad)
    c.send('after')
    t.same(await c.expectClose(1011), { code: 1011, reason: 'internal error' }, bad)
  }
  other.send('still here')
  t.equal(await other.receiveText(), 'echo still here')
})

t.test('the drain waits for pending work, answers frames through drain(), then closes with 1001', async (t) => {
  const { app, url, probes } = await serve(t)
  const c = await WsTestClient.connect(url)
  c.send('wait:1')
  await c.expectNoMessage(50)
  const closing = app.connections.closeAll(3000)
  c.send('late')
  await c.expectNoMessage(100)
  probes[0]!.release!()
  t.equal(await c.receiveText(), 'done wait:1')
  t.equal(await c.receiveText(), 'drained late', 'a frame of the drain comes after the work before it')
  t.equal((await c.expectClose(1001)).code, 1001)
  await closing
})

t.test('the backlog is capped in bytes too: what drained no longer counts; past the cap, 1008', async (t) => {
  const { url, probes } = await serve(t)
  const c = await WsTestClient.connect(url.replace(/\/test$/, '/bytes'))
  t.teardown(() => c.terminate())
  const frame = (i: number) => `f${i}`.padEnd(300, '.')
  for (const round of [1, 2]) {
    c.send(`wait:${round}`)
    for (let i = 0; i < 3; i++) c.send(frame(i)) // 900 bytes waiting: under the 1,000
    await waitUntil(() => probes[0]?.release, 'the pending frame')
    await c.expectNoMessage(50)
    probes[0]!.release!()
    probes[0]!.release = undefined
    t.equal(await c.receiveText(), `done wait:${round}`)
    for (let i = 0; i < 3; i++) t.equal(await c.receiveText(), `echo ${frame(i)}`, `round ${round}: frame ${i} handled`)
  }
  c.send('wait:3')
  for (let i = 0; i < 4; i++) c.send(frame(i)) // the fourth makes 1,200
  t.same(await c.expectClose(1008), { code: 1008, reason: 'too many messages waiting' })
})
