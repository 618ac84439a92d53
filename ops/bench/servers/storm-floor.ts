// The floor of the presence join storm in delta mode (issue 17, target 4): a raw `ws` server that
// writes exactly the bytes every client must receive — HELLO_ACK, the full PRESENCE list once
// (the same JSON and length as Switchboard's for that many users), then delta PRESENCE frames
// with every later joiner's entry once, coalesced like Switchboard's (at most one frame per
// client per PRESENCE_DEBOUNCE_MS, 50 ms) — and none of the protocol's other work: no
// validation, no presence map, no change log, no budgets, no slow-reader drops.
//
// Serialization is taken out of the floor as far as it goes: every entry's JSON is written once,
// when its user joins, into one append-only buffer (HEAD, then the entries joined by commas; its
// bytes are never overwritten, a full buffer is copied into a larger one). Every frame is that
// buffer's bytes from some entry to the end: the WebSocket header with the PRESENCE envelope in
// front (shared by all frames of one length), the slice, and `]}}`, written corked as one writev
// on ws's socket, no copy in user space. A full list is the slice from the first entry; a delta
// the slice after the entries its client has. (ws.send would take only one contiguous payload:
// each full list would then be copied once more.) HELLO_ACK and the full list leave in one write,
// as Switchboard's do (it corks per tick).
//
// Departures are not sent: the load generator's warm-up crowd leaves before the storm, and when
// the last identified client has gone the list starts again empty.
import type { Socket } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'
import { announce } from './control.ts'

/** Switchboard's PRESENCE_DEBOUNCE_MS default: how often a client may get a delta. */
const DEBOUNCE_MS = 50
const HEAD = Buffer.from('{"type":"PRESENCE","data":{"users":[')
const TAIL = Buffer.from(']}}')

interface Client {
  socket: Socket
  /** The end of the list's bytes this client has (an offset into `list`). */
  upTo: number
  /** When it was last sent a PRESENCE (performance.now()). */
  sentAt: number
}

/** HEAD, then every identified user's entry JSON, comma-separated: [HEAD.length, end). */
let list = Buffer.allocUnsafe(1 << 20)
let end = HEAD.copy(list, 0)
/** Identified clients, in the order they joined. */
const clients = new Set<Client>()
let timer: NodeJS.Timeout | undefined
let lastFlushAt = -Infinity

/** A text frame's header followed by the PRESENCE envelope's head, for a payload of `length` bytes. */
function prefix(length: number): Buffer {
  const header = length < 126 ? 2 : length < 65_536 ? 4 : 10
  const b = Buffer.allocUnsafe(header + HEAD.length)
  b[0] = 0x81
  if (header === 2) {
    b[1] = length
  } else if (header === 4) {
    b[1] = 126
    b.writeUInt16BE(length, 2)
  } else {
    b[1] = 127
    b.writeUInt32BE(0, 2)
    b.writeUInt32BE(length, 6)
  }
  HEAD.copy(b, header)
  return b
}

/** The entries from `from` (a client's `upTo`) to the end, as a PRESENCE frame's three pieces. */
function pieces(from: number): [Buffer, Buffer] {
  const start = from === HEAD.length ? from : from + 1 // past the comma after what it has
  return [prefix(HEAD.length + end - start + TAIL.length), list.subarray(start, end)]
}

function write(socket: Socket, [head, body]: [Buffer, Buffer]): void {
  socket.cork()
  socket.write(head)
  socket.write(body)
  socket.write(TAIL)
  socket.uncork()
}

function append(entry: string): void {
  const bytes = Buffer.byteLength(entry) + 1
  if (end + bytes > list.length) {
    // Frames still queued keep the old buffer: it is never written to again.
    const bigger = Buffer.allocUnsafe(Math.max(2 * list.length, end + bytes))
    list.copy(bigger, 0, 0, end)
    list = bigger
  }
  if (end > HEAD.length) list[end++] = 0x2c // ','
  end += list.write(entry, end)
}

/**
 * Every client sent nothing for DEBOUNCE_MS gets the entries after the ones it has (as
 * Switchboard, a joiner's first delta waits that long after its full list); clients with the
 * same `upTo` (those that took the last flush's) share the pieces.
 */
function flush(): void {
  timer = undefined
  const now = (lastFlushAt = performance.now())
  let retryAt = Infinity
  let from = -1
  let shared: [Buffer, Buffer] | undefined
  for (const c of clients) {
    if (c.upTo === end) continue
    if (c.sentAt + DEBOUNCE_MS > now) {
      retryAt = Math.min(retryAt, c.sentAt + DEBOUNCE_MS)
      continue
    }
    if (c.upTo !== from) {
      from = c.upTo
      shared = pieces(from)
    }
    write(c.socket, shared!)
    c.upTo = end
    c.sentAt = now
  }
  if (retryAt !== Infinity) schedule(retryAt)
}

function schedule(due: number): void {
  timer ??= setTimeout(flush, Math.max(0, due - performance.now()))
}

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, clientTracking: false, maxPayload: 65_536 })
wss.on('connection', (ws: WebSocket & { _socket: Socket }) => {
  let client: Client | undefined
  ws.on('error', () => ws.terminate())
  ws.on('close', () => {
    if (!client) return
    clients.delete(client)
    if (clients.size > 0) return
    list = Buffer.allocUnsafe(list.length) // the old one may still be queued to closing sockets
    end = HEAD.copy(list, 0)
  })
  ws.on('message', (data) => {
    if (client) return
    const { user_id, display_name } = (JSON.parse(String(data)) as { data: { user_id: string; display_name: string } }).data
    append(JSON.stringify({ user_id, display_name, online: true }))
    const socket = ws._socket
    client = { socket, upTo: end, sentAt: performance.now() }
    const ack = Buffer.from(`  {"type":"HELLO_ACK","data":{"user_id":${JSON.stringify(user_id)},"status":"connected"}}`)
    ack[0] = 0x81
    ack[1] = ack.length - 2 // < 126: a uuid's HELLO_ACK is 84 bytes
    socket.cork()
    socket.write(ack)
    write(socket, pieces(HEAD.length))
    socket.uncork()
    clients.add(client)
    schedule(lastFlushAt + DEBOUNCE_MS)
  })
})
wss.on('listening', () => announce((wss.address() as { port: number }).port))
