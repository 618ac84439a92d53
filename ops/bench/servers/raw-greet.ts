// Baseline of the handshake layers (handshake-layers.ts): raw-echo.ts's `ws` server that also
// greets every connection with /ws's own WELCOME (welcomeFrame, the service's one pure function
// this server uses), in the same write as its 101 (corked at 'headers', as plugins/websocket.ts
// does): the greeting's own cost, with no framework, registry or heartbeat.
import { WebSocketServer } from 'ws'
import type { IncomingMessage } from 'node:http'
import { welcomeFrame } from '../../../src/protocol/main.ts'
import { announce, benchClientId } from './control.ts'

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, clientTracking: false, maxPayload: 65_536 })
wss.on('headers', (_headers: string[], req: IncomingMessage) => {
  req.socket.cork()
  process.nextTick(() => req.socket.uncork())
})
wss.on('connection', (ws) => {
  ws.on('error', () => ws.terminate())
  ws.send(welcomeFrame(benchClientId()))
  ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }))
})
wss.on('listening', () => announce((wss.address() as { port: number }).port))
