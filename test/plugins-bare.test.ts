// Each plugin of plugins/ on a bare Fastify with nothing but what it declares in its
// fastify-plugin `dependencies` (dependencies that need more are stood in for by plugins of the
// same name that decorate only their own decorator): its decorator works, and leaving out any
// one declared dependency fails with Fastify's missing-dependency error. Then the backplane,
// rate limits and walker fan-out over a real Redis, shared by two bare apps.
import t from 'tap'
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyPluginCallback } from 'fastify'
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import type { AddressInfo } from 'node:net'
import { randomUUID } from 'node:crypto'
import { loadConfig, type Config } from '../src/config.ts'
import { MemoryBackplane } from '../src/backplane/memory.ts'
import { Channels } from '../src/backplane/redis-scripts.ts'
import { ConnectionRegistry } from '../src/transport/connections.ts'
import { WsTestClient } from '../src/testing/ws-test-client.ts'
import configPlugin from '../plugins/config.ts'
import lifecyclePlugin, { Lifecycle } from '../plugins/lifecycle.ts'
import websocketPlugin from '../plugins/websocket.ts'
import admissionPlugin from '../plugins/admission.ts'
import authPlugin from '../plugins/auth.ts'
import backplanePlugin from '../plugins/backplane.ts'
import openapiPlugin from '../plugins/openapi.ts'
import walkersPlugin from '../plugins/walkers.ts'
import rateLimitPlugin from '../plugins/rate-limit.ts'
import walkerBroadcastPlugin from '../plugins/walker-broadcast.ts'
import metricsPlugin from '../plugins/metrics.ts'
import presencePlugin from '../plugins/presence.ts'
import chatPlugin from '../plugins/chat.ts'
import historyPlugin from '../plugins/history.ts'
import { TokenVerifier } from '../src/auth/tokens.ts'
import { Presence } from '../src/chat/presence.ts'
import { LocalHub } from '../src/chat/hub.ts'
import { RateLimits } from '../src/chat/rate-limits.ts'
import { WindowCounter } from '../src/lib/window-counter.ts'
import { startRedis } from './helpers/redis.ts'
import { signToken, TEST_SECRET } from './helpers/tokens.ts'
import { waitUntil } from './helpers/walkers.ts'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- plugins with and without options
type AnyPlugin = FastifyPluginAsync<any> | FastifyPluginCallback<any>

/** What fastify-plugin records on a plugin. */
const meta = (plugin: AnyPlugin) => (plugin as unknown as Record<symbol, { name: string; dependencies?: string[] }>)[Symbol.for('plugin-meta')]!

/** Each dependency as a plugin that needs nothing itself. */
const standIns = (config: Config): Record<string, [AnyPlugin, object?]> => ({
  config: [configPlugin, { config }],
  lifecycle: [fp(async (app: FastifyInstance) => {
    app.decorate('lifecycle', new Lifecycle())
  }, { name: 'lifecycle' })],
  // @fastify/websocket itself (request.ws, upgrade handling), without the registry's config.
  websocket: [fp(async (app: FastifyInstance) => {
    await app.register(websocket)
    const registry = new ConnectionRegistry({ pingIntervalS: 30, pingTimeoutS: 10, framesPerSec: 100, frameBurst: 100, sendSoftCap: 1 << 20, sendHardCap: 1 << 22 }, app.log)
    app.decorate('connections', registry)
    app.addHook('onClose', async () => registry.stop())
  }, { name: 'websocket' })],
  auth: [fp(async (app: FastifyInstance) => {
    app.decorate('auth', new TokenVerifier(config))
  }, { name: 'auth' })],
  // Presence and rate limits over their own in-memory store: they need no other stand-in.
  presence: [fp(async (app: FastifyInstance) => {
    app.decorate('presence', new Presence(new MemoryBackplane(), { debounceMs: 10 }, new LocalHub()))
  }, { name: 'presence' })],
  'rate-limit': [fp(async (app: FastifyInstance) => {
    app.decorate('rateLimits', new RateLimits({ msg: new WindowCounter(10, 60_000), typing: new WindowCounter(10, 60_000) }))
  }, { name: 'rate-limit' })],
  history: [fp(async (app: FastifyInstance) => {
    app.decorate('history', undefined)
  }, { name: 'history' })],
  backplane: [fp(async (app: FastifyInstance) => {
    const backplane = new MemoryBackplane()
    app.decorate('backplane', backplane)
    app.addHook('onClose', async () => backplane.close())
  }, { name: 'backplane' })]
})

/**
 * `plugin` on a fresh Fastify after its declared dependencies, except `without`; loaded by
 * ready() or listen(). Synchronous: an async function would await the thenable Fastify, boot it.
 */
function bare(plugin: AnyPlugin, opts: { env?: Record<string, string | number | boolean>; without?: string; pluginOpts?: object } = {}): FastifyInstance {
  const app = Fastify({ logger: false })
  const config = loadConfig({ LOG_LEVEL: 'warn', ...opts.env })
  const available = standIns(config)
  for (const dep of meta(plugin).dependencies ?? []) {
    if (dep === opts.without) continue
    const standIn = available[dep]
    if (!standIn) throw new Error(`no stand-in for '${dep}'`)
    app.register(standIn[0] as FastifyPluginAsync, standIn[1] ?? {})
  }
  app.register(plugin as FastifyPluginAsync, opts.pluginOpts ?? {})
  return app
}

/** The dependencies each plugin declares: what it really uses, and only that. */
const declared: [AnyPlugin, string[], object?][] = [
  [configPlugin, [], { config: loadConfig({}) }],
  [lifecyclePlugin, ['config']],
  [websocketPlugin, ['config']],
  [admissionPlugin, ['config', 'lifecycle', 'websocket']],
  [authPlugin, ['config']],
  [backplanePlugin, ['config']],
  [openapiPlugin, []],
  [walkersPlugin, ['config']],
  [rateLimitPlugin, ['config', 'backplane']],
  [walkerBroadcastPlugin, ['backplane']],
  [metricsPlugin, ['config', 'websocket']],
  [presencePlugin, ['config', 'backplane']],
  [historyPlugin, ['config']],
  [chatPlugin, ['config', 'auth', 'backplane', 'presence', 'rate-limit', 'history']]
]

t.test('every plugin declares its dependencies, and fails to load without any one of them', async (t) => {
  for (const [plugin, deps, pluginOpts] of declared) {
    const { name, dependencies = [] } = meta(plugin)
    t.same(dependencies, deps, `${name} declares ${deps.join(', ') || 'nothing'}`)
    const app = bare(plugin, { pluginOpts })
    await t.resolves(async () => void (await app.ready()), `${name} loads with only its dependencies`)
    await app.close()
    for (const dep of dependencies) {
      const without = bare(plugin, { without: dep, pluginOpts })
      await t.rejects(async () => void (await without.ready()), { code: 'FST_ERR_PLUGIN_DEPENDENCY_NOT_REGISTERED', message: `The dependency '${dep}' of plugin '${name}' is not registered` })
      await without.close().catch(() => {}) // a boot that failed rejects close() with the same error
    }
  }
})

t.test('config decorates the Config it was given', async (t) => {
  const config = loadConfig({ CHAT_MSG_PER_MIN: 7 })
  const app = bare(configPlugin, { pluginOpts: { config } })
  await app.ready()
  t.teardown(() => app.close())
  t.equal(app.config, config)
})

t.test('lifecycle marks the shutdown when close begins', async (t) => {
  const app = bare(lifecyclePlugin)
  await app.ready()
  t.equal(app.lifecycle.shuttingDown, false)
  t.ok(app.lifecycle.uptimeSeconds >= 0)
  await app.close()
  t.equal(app.lifecycle.shuttingDown, true)
})

t.test('websocket serves upgrades and decorates the connection registry from config', async (t) => {
  const app = bare(websocketPlugin, { env: { WS_PING_INTERVAL: 40 } })
  app.register(async (scope) => {
    scope.get('/ws', { websocket: true }, (socket) => socket.send(JSON.stringify({ hello: true })))
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  t.type(app.connections, ConnectionRegistry)
  t.equal(app.connections.limits.pingIntervalS, 40)
  const c = await WsTestClient.connect(`ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/ws`)
  t.teardown(() => c.terminate())
  t.same(await c.receiveJson(), { hello: true })
})

t.test('admission refuses foreign origins, counts slots and answers 503 while draining', async (t) => {
  const app = bare(admissionPlugin)
  app.register(async (scope) => {
    scope.get('/ws', { websocket: true }, (socket) => socket.send('{}'))
    scope.get('/plain', async () => ({ ok: true }))
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const url = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/ws`
  t.equal(await WsTestClient.refusal(url, { headers: { origin: 'http://evil.example' } }), 403)
  const c = await WsTestClient.connect(url)
  t.teardown(() => c.terminate())
  await c.receiveJson()
  t.equal(app.admission.caps.size, 1, 'the open socket holds a slot')
  app.lifecycle.beginShutdown()
  const res = await app.inject({ url: '/plain' })
  t.equal(res.statusCode, 503)
})

t.test('auth verifies tokens with the configured key', async (t) => {
  const app = bare(authPlugin, { env: { JWT_SECRET: TEST_SECRET } })
  await app.ready()
  t.teardown(() => app.close())
  t.equal(app.auth.enabled, true)
  t.equal((await app.auth.verify(await signToken({ sub: 'alice', name: 'Alice' })))?.name, 'Alice')
  t.equal(await app.auth.verify('not a token'), null)
})

t.test('backplane is in memory without REDIS_URL and releases its instance on close', async (t) => {
  const app = bare(backplanePlugin)
  await app.ready()
  const backplane = app.backplane as MemoryBackplane
  t.type(backplane, MemoryBackplane)
  await backplane.attach({ presence() {}, deliver: () => 0 })
  await app.close()
  t.equal(backplane.hub.instances.size, 0)
})

t.test('openapi collects the schemas of routes added after it', async (t) => {
  const app = bare(openapiPlugin)
  app.register(async (scope) => {
    scope.get('/thing', { schema: { response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } } } } }, async () => ({ ok: true }))
  })
  await app.ready()
  t.teardown(() => app.close())
  const doc = app.swagger() as { info: { title: string }; paths: Record<string, unknown> }
  t.equal(doc.info.title, 'Switchboard')
  t.ok(doc.paths['/thing'])
})

t.test('walkers loads WALKERS_DIR (the examples by default)', async (t) => {
  const app = bare(walkersPlugin)
  await app.ready()
  t.teardown(() => app.close())
  t.ok(app.walkers.size > 0, `${app.walkers.size} walkers`)
})

t.test('rate-limit: per user and per kind from config, synchronous on the memory backplane', async (t) => {
  const app = bare(rateLimitPlugin, { env: { CHAT_MSG_PER_MIN: 2, CHAT_TYPING_PER_MIN: 1 } })
  await app.ready()
  t.teardown(() => app.close())
  const first = app.rateLimits.consume('msg', 'u')
  t.equal(first, 0, 'a plain number, not a promise')
  t.equal(app.rateLimits.consume('msg', 'u'), 0)
  const wait = app.rateLimits.consume('msg', 'u')
  t.ok(typeof wait === 'number' && wait > 59_000 && wait <= 60_000, `the third waits about a minute (${String(wait)} ms)`)
  t.equal(app.rateLimits.consume('msg', 'v'), 0, 'another user has their own budget')
  t.equal(app.rateLimits.consume('typing', 'u'), 0, 'typing has its own budget')
  t.ok((app.rateLimits.consume('typing', 'u') as number) > 0)
})

t.test('walker-broadcast delivers to this instance\'s subscribers before publish returns', async (t) => {
  const app = bare(walkerBroadcastPlugin)
  await app.ready()
  t.teardown(() => app.close())
  const got: string[] = []
  const other: string[] = []
  const unsubscribe = app.walkerBroadcast.subscribe('Count', (f) => got.push(f))
  app.walkerBroadcast.subscribe('Other', (f) => other.push(f))
  app.walkerBroadcast.publish('Count', 'one')
  t.same(got, ['one'], 'synchronously')
  unsubscribe()
  app.walkerBroadcast.publish('Count', 'two')
  t.same([got, other], [['one'], []], 'nothing after unsubscribing, nothing to other walkers')
})

t.test('over Redis: two bare apps share rate limits and walker broadcasts', async (t) => {
  const redis = await startRedis()
  t.teardown(redis.close)
  const start = async () => {
    const app = Fastify({ logger: false })
    await app.register(configPlugin, { config: loadConfig({ LOG_LEVEL: 'warn', REDIS_URL: redis.url, CHAT_MSG_PER_MIN: 3 }) })
    await app.register(backplanePlugin)
    await app.register(rateLimitPlugin)
    await app.register(walkerBroadcastPlugin)
    await app.ready()
    return app
  }
  const [a, b] = [await start(), await start()]
  t.teardown(async () => {
    await a.close()
    await b.close()
  })
  t.ok(a.backplane.healthy && b.backplane.healthy)

  const user = randomUUID()
  t.same([await a.rateLimits.consume('msg', user), await b.rateLimits.consume('msg', user), await a.rateLimits.consume('msg', user)], [0, 0, 0])
  t.ok((await b.rateLimits.consume('msg', user)) > 0, 'the fourth, on the other app, is over CHAT_MSG_PER_MIN')
  const cmd = redis.client()
  t.ok(await cmd.exists(`sb:rl:chat_msg:${user}`), 'counted under the same key as ever')

  const onA: string[] = []
  const onB: string[] = []
  a.walkerBroadcast.subscribe('Count', (f) => onA.push(f))
  b.walkerBroadcast.subscribe('Count', (f) => onB.push(f))
  // SUBSCRIBE goes out in the background: wait until Redis has both before publishing.
  const deadline = Date.now() + 5000
  while (((await cmd.pubsub('NUMSUB', `${Channels.walker}Count`)) as [string, number])[1] < 2) {
    if (Date.now() > deadline) throw new Error('the walker channel never had both subscribers')
    await new Promise((r) => setTimeout(r, 20))
  }
  a.walkerBroadcast.publish('Count', 'from a')
  b.walkerBroadcast.publish('Count', 'from b')
  await waitUntil(() => onA.length === 2 && onB.length === 2, 'both frames on both apps')
  t.same(onA, ['from a', 'from b'], 'its own at once, the other\'s through Redis, each once')
  t.same(onB, ['from b', 'from a'])
})
