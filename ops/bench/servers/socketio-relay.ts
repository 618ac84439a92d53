// The peer (issue 17, target 5): a Socket.IO 4 chat relay as its documentation would have one
// written, websocket transport only (no long-polling, no upgrade), default options otherwise
// (no per-message deflate, the `ws` engine, the in-memory adapter). A client connects to the
// main namespace with `auth: { user }` and joins the room of its user; `msg` {to, content,
// message_id} with an acknowledgement callback is emitted to room `to` as {from, content,
// message_id} and acknowledged with {status: 'delivered'}. No validation beyond the types, no
// sanitizing, no dedupe, no rate limit: it does less than Switchboard's MSG, on purpose the
// framework's own cost. Connections without a user (idle, connection-rate) only connect.
import { createServer } from 'node:http'
import { Server } from 'socket.io'
import { announce, installMemoryHook } from './control.ts'

interface Msg {
  to?: unknown
  content?: unknown
  message_id?: unknown
}

const http = createServer()
const io = new Server(http, { transports: ['websocket'], serveClient: false })

io.on('connection', (socket) => {
  const user = (socket.handshake.auth as { user?: unknown }).user
  if (typeof user !== 'string') return
  void socket.join(user)
  socket.on('msg', (data: Msg, ack?: (reply: { status: string }) => void) => {
    if (typeof data?.to !== 'string' || typeof data.content !== 'string' || typeof ack !== 'function') return
    socket.to(data.to).emit('msg', { from: user, content: data.content, message_id: data.message_id })
    ack({ status: 'delivered' })
  })
})

http.listen(0, '127.0.0.1', () => {
  installMemoryHook()
  announce((http.address() as { port: number }).port)
})
