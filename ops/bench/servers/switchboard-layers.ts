// The service as switchboard.ts runs it, plus two WebSocket routes that stop part of the way
// through what /ws does with a handshake, so handshake-layers.ts can price each layer:
//   /bench/bare      the direct upgrade (admission, client address, request id, ws) and a
//                    WELCOME-shaped greeting sent with ws.send (its id from a counter,
//                    benchClientId, as raw-greet.ts makes it): no Conn, no registry
//   /bench/registry  the same, opened through the connection registry (Conn, its id, heartbeat
//                    wheel, listeners, metrics, the close path) with a handler that does nothing,
//                    the greeting sent by Conn
// /ws adds the chat session on top. Bench-only routes, in the bench's own entry, never in the service.
import type { WebSocket } from 'ws'
import { loadConfig } from '../../../src/config.ts'
import { buildApp } from '../../../src/app.ts'
import { welcomeFrame } from '../../../src/protocol/main.ts'
import type { SurfaceOptions } from '../../../src/transport/connections.ts'
import type { UpgradeRequest } from '../../../src/transport/direct-upgrade.ts'
import { announce, benchClientId } from './control.ts'

const SURFACE: SurfaceOptions = { surface: 'main', prefix: 'ws_client', binary: { frame: '{"type":"ERROR"}', label: 'ERROR' } }
const NOTHING = { message() {} }

const config = loadConfig({ ...process.env, PORT: '0', HOST: '127.0.0.1' })
const app = await buildApp(config)
app.get('/bench/bare', { websocket: true, config: { directUpgrade: true } }, (socket: WebSocket) => {
  socket.on('error', () => socket.terminate())
  socket.send(welcomeFrame(benchClientId()))
})
app.get('/bench/registry', { websocket: true, config: { directUpgrade: true } }, (socket: WebSocket, req: UpgradeRequest) => {
  const conn = app.connections.add(socket, SURFACE, req.id, () => NOTHING)
  conn.send(welcomeFrame(conn.id), 'WELCOME')
})
await app.listen({ port: 0, host: '127.0.0.1' })
const address = app.server.address()
announce(typeof address === 'object' && address ? address.port : 0)
