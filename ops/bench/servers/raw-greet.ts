// Baseline of the handshake layers (handshake-layers.ts): raw-echo.ts's `ws` server that also
// greets every connection with a frame shaped and sized like Switchboard's WELCOME, in the same
// write as its 101 (corked at 'headers', as plugins/websocket.ts does): the greeting's own cost,
// with no framework, registry or heartbeat.
import { WebSocketServer } from 'ws'
import type { IncomingMessage } from 'node:http'
import { announce } from './control.ts'

const HEARTBEAT = { ping_interval: 15, pong_timeout: 5 }
let n = 0

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, clientTracking: false, maxPayload: 65_536 })
wss.on('headers', (_headers: string[], req: IncomingMessage) => {
  req.socket.cork()
  process.nextTick(() => req.socket.uncork())
})
wss.on('connection', (ws) => {
  ws.on('error', () => ws.terminate())
  const clientId = `ws_client_${Date.now()}_${String(n++ % 100_000).padStart(5, '0')}`
  ws.send(JSON.stringify({ type: 'WELCOME', data: { client_id: clientId, server_time: new Date().toISOString(), protocols: ['echo', 'fastchat'], heartbeat: HEARTBEAT } }))
  ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }))
})
wss.on('listening', () => announce((wss.address() as { port: number }).port))
