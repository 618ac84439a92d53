// Registers @fastify/websocket with the frame limits from config and decorates
// app.connections, the registry every surface opens its sockets through (heartbeat, budgets,
// cleanup). On close it drains: 1001 to every client, bounded by SHUTDOWN_GRACE_MS.
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import type { IncomingMessage } from 'node:http'
import { ConnectionRegistry } from '../src/transport/connections.ts'
import { corkForTick } from '../src/transport/conn.ts'

declare module 'fastify' {
  interface FastifyInstance {
    connections: ConnectionRegistry
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

  await app.register(websocket, {
    options: {
      maxPayload: c.WS_MAX_PAYLOAD,
      // The registry tracks sockets itself; ws's own Set would be a second copy.
      clientTracking: false,
      // Compression costs CPU and memory per socket and opens compression side channels.
      perMessageDeflate: false
    },
    preClose: async function () {
      await registry.closeAll(c.SHUTDOWN_GRACE_MS)
    },
    errorHandler(err, socket, request) {
      request.log.warn({ err }, 'websocket error')
      socket.terminate()
    }
  })

  // Speed (issue 17, connection establishment): ws writes the 101 right after 'headers', and the
  // route's greeting follows in the same tick; corked here for the tick, as Conn batches its own
  // frames, they leave in one system call, not two. Pinned by test/transport/upgrade-one-write.test.ts.
  app.websocketServer.on('headers', (_headers: string[], req: IncomingMessage) => {
    const stream = req.socket as IncomingMessage['socket'] | undefined // absent on app.injectWS
    if (stream && typeof stream.cork === 'function') corkForTick(stream)
  })

  // CORS does not govern WebSocket handshakes (browsers send them without preflight; the origin
  // rules are admission's), so @fastify/cors skips their routes (issue 17, establishment).
  app.addHook('onRoute', (route) => {
    if (route.websocket) route.config = { ...route.config, cors: false } as typeof route.config
  })

  app.addHook('onClose', async () => registry.stop())
}, { name: 'websocket', dependencies: ['config'], fastify: '5.x' })
