// Baseline for the FastChat relay: a minimal raw `ws` relay. Connections are paired by
// `?pair=<n>`; every frame is forwarded verbatim to the partner and answered with a fixed ack.
// No parse, no validation, no presence, no dedupe: the floor of what a relay with acks costs.
import { WebSocketServer, type WebSocket } from 'ws'
import { announce } from './control.ts'

const ACK = Buffer.from('{"type":"MSG_ACK","data":{"status":"delivered"}}')
const waiting = new Map<string, WebSocket>()
const partner = new WeakMap<WebSocket, WebSocket>()

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, clientTracking: false, maxPayload: 65_536 })
wss.on('connection', (ws, req) => {
  ws.on('error', () => ws.terminate())
  const pair = new URL(req.url ?? '/', 'http://x').searchParams.get('pair') ?? ''
  const first = waiting.get(pair)
  if (first) {
    waiting.delete(pair)
    partner.set(first, ws)
    partner.set(ws, first)
  } else {
    waiting.set(pair, ws)
  }
  ws.on('message', (data) => {
    const to = partner.get(ws)
    if (!to) return
    to.send(data as Buffer, { binary: false })
    ws.send(ACK, { binary: false })
  })
})
wss.on('listening', () => announce((wss.address() as { port: number }).port))
