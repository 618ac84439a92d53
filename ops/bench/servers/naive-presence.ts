// Baseline for the presence join storm: the naive server — on every HELLO (and every leave) the
// whole list is sent to every identified connection, at once, no coalescing and no deltas. The list is
// serialized once per join (kinder to it than re-serializing per receiver); frames have the
// same shape as Switchboard's PRESENCE so the load generator checks both the same way.
import { WebSocketServer, type WebSocket } from 'ws'
import { announce } from './control.ts'

let users: { user_id: string; display_name: string; online: true }[] = []
const identified = new Map<WebSocket, string>()

function broadcast(): void {
  const frame = JSON.stringify({ type: 'PRESENCE', data: { users } })
  for (const client of identified.keys()) client.send(frame)
}

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, clientTracking: false, maxPayload: 65_536 })
wss.on('connection', (ws) => {
  ws.on('error', () => ws.terminate())
  ws.on('close', () => {
    const userId = identified.get(ws)
    if (userId === undefined) return
    identified.delete(ws)
    users = users.filter((u) => u.user_id !== userId)
    broadcast()
  })
  ws.on('message', (data) => {
    let msg: { type?: string; data?: { user_id?: string; display_name?: string } }
    try {
      msg = JSON.parse(String(data))
    } catch {
      return
    }
    if (msg.type !== 'HELLO' || typeof msg.data?.user_id !== 'string' || identified.has(ws)) return
    users.push({ user_id: msg.data.user_id, display_name: String(msg.data.display_name), online: true })
    identified.set(ws, msg.data.user_id)
    ws.send(JSON.stringify({ type: 'HELLO_ACK', data: { user_id: msg.data.user_id, status: 'connected' } }))
    broadcast()
  })
})
wss.on('listening', () => announce((wss.address() as { port: number }).port))
