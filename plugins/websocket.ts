// Registers @fastify/websocket with the frame limits from config and decorates
// app.connections, the registry every surface opens its sockets through (heartbeat, budgets,
// cleanup). On close it drains: 1001 to every client, bounded by SHUTDOWN_GRACE_MS.
// Handshakes to routes declared with `config: { directUpgrade: true }` skip Fastify's lifecycle
// (src/transport/direct-upgrade.ts says what they still go through, and why).
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import type { IncomingMessage } from 'node:http'
import { ConnectionRegistry } from '../src/transport/connections.ts'
import { corkForTick } from '../src/transport/conn.ts'
import { DirectUpgrades, type DirectHandler } from '../src/transport/direct-upgrade.ts'
import { trustProxyFn } from '../src/lib/trust-proxy.ts'
import { pickProtocol } from '../src/admin/auth.ts'

declare module 'fastify' {
  interface FastifyInstance {
    connections: ConnectionRegistry
  }
  interface FastifyContextConfig {
    /** Handshakes to this WebSocket route skip Fastify's lifecycle (src/transport/direct-upgrade.ts); its handler may read only an UpgradeRequest. */
    directUpgrade?: boolean
  }
}

export default fp(async (app) => {
  const c = app.config
  const registry = new ConnectionRegistry({
    pingIntervalS: c.WS_PING_INTERVAL,
    pingTimeoutS: c.WS_PING_TIMEOUT,
    framesPerSec: c.WS_FRAMES_PER_SEC,
    frameBurst: c.WS_FRAME_BURST,
    sendSoftCap: c.WS_SEND_SOFT_CAP,
    sendHardCap: c.WS_SEND_HARD_CAP
  }, app.log)
  app.decorate('connections', registry)

  // Before @fastify/websocket's own onRoute hook, which replaces a WebSocket route's handler.
  const direct = new DirectUpgrades({
    log: app.log,
    trust: trustProxyFn(c.TRUST_PROXY),
    ignoreTrailingSlash: app.initialConfig.routerOptions?.ignoreTrailingSlash ?? false,
    app
  })
  app.addHook('onRoute', (route) => {
    if (!route.websocket || !route.config?.directUpgrade || route.method === 'HEAD') return
    // What Fastify would do for such a handshake that the direct way does not: refused, not skipped.
    // (A route's log level is not checked: Fastify fills it in from its plugin; direct handshakes log through app.log.)
    const declared = Object.entries({
      'a method other than GET alone': route.method !== 'GET',
      hooks: ['onRequest', 'preParsing', 'preValidation', 'preHandler', 'preSerialization', 'onSend', 'onResponse', 'onError', 'onTimeout', 'onRequestAbort'].some((h) => route[h as keyof typeof route] !== undefined),
      'a schema for its query, headers or params': route.schema?.querystring !== undefined || route.schema?.headers !== undefined || route.schema?.params !== undefined,
      constraints: route.constraints !== undefined
    }).filter(([, has]) => has).map(([what]) => what)
    direct.add(route.url, route.handler as unknown as DirectHandler, declared)
  })

  await app.register(websocket, {
    options: {
      maxPayload: c.WS_MAX_PAYLOAD,
      // The registry tracks sockets itself; ws's own Set would be a second copy.
      clientTracking: false,
      // Compression costs CPU and memory per socket and opens compression side channels.
      perMessageDeflate: false,
      // Never the admin console's token protocol, whatever its place in the offer.
      handleProtocols: pickProtocol
    },
    preClose: async function () {
      await registry.closeAll(c.SHUTDOWN_GRACE_MS)
    },
    errorHandler(err, socket, request) {
      request.log.warn({ err }, 'websocket error')
      socket.terminate()
    }
  })
  const wss = app.websocketServer

  // Speed (issue 17, connection establishment): ws writes the 101 right after 'headers', and the
  // route's greeting follows in the same tick; corked here for the tick, as Conn batches its own
  // frames, they leave in one system call, not two. Pinned by test/transport/upgrade-one-write.test.ts.
  wss.on('headers', (_headers: string[], req: IncomingMessage) => {
    const stream = req.socket as IncomingMessage['socket'] | undefined // absent on app.injectWS
    if (stream && typeof stream.cork === 'function') corkForTick(stream)
  })

  direct.listen(app.server, wss)
  // Admission is another plugin's (absent on a bare app): looked up when ready.
  app.addHook('onReady', async () => {
    direct.admission = app.hasDecorator('admission') ? app.admission : undefined
  })

  // CORS does not govern WebSocket handshakes (browsers send them without preflight; the origin
  // rules are admission's), so @fastify/cors skips their routes (issue 17, establishment).
  app.addHook('onRoute', (route) => {
    if (route.websocket) route.config = { ...route.config, cors: false } as typeof route.config
  })

  app.addHook('onClose', async () => registry.stop())
}, { name: 'websocket', dependencies: ['config'], fastify: '5.x' })
