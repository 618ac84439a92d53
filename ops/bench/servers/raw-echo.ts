// Baseline: a minimal raw `ws` echo server — no framework, no heartbeat, no budgets.
import { WebSocketServer } from 'ws'
import { announce, installMemoryHook } from './control.ts'

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, clientTracking: false, maxPayload: 65_536 })
wss.on('connection', (ws) => {
  ws.on('error', () => ws.terminate())
  ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }))
})
wss.on('listening', () => {
  installMemoryHook()
  announce((wss.address() as { port: number }).port)
})
