// The load generator's Socket.IO 4 client, over the same raw TCP connections and pre-built frames
// as the Switchboard load (wire.ts): Engine.IO v4 / Socket.IO v5 on the websocket transport only.
// One WebSocket text frame is one Engine.IO packet: `0{…}` open, `2` ping (answered `3`), `4…`
// message, whose first digit is the Socket.IO packet type: `40` connect, `42[…]` event,
// `42<id>[…]` event wanting an ack, `43<id>[…]` the ack, `44{…}` connect error.
import { connect, maskedFrame, nextText, openMany, type ConnectOptions, type RawConn } from './wire.ts'

/** The handshake that skips HTTP long-polling: straight to the websocket transport. */
export const SIO_PATH = '/socket.io/?EIO=4&transport=websocket'

const PONG = maskedFrame('3')

/** Whether buf[start, end) is an Engine.IO ping; if so it is answered with a pong. */
export function answerPing(conn: RawConn, buf: Buffer, start: number, end: number): boolean {
  if (end - start !== 1 || buf[start] !== 0x32) return false // '2'
  conn.write(PONG)
  return true
}

/**
 * Open a Socket.IO connection: upgrade, read Engine.IO's open packet, connect to the main
 * namespace (`40`, with `auth` as its payload), read the server's `40{"sid":…}`. Afterwards
 * pings are answered and other frames kept in the inbox until a scenario sets its own onText
 * (which must call answerPing itself).
 */
export async function sioConnect(opts: Omit<ConnectOptions, 'path'>, auth?: object): Promise<RawConn> {
  const conn = await connect({ ...opts, path: SIO_PATH })
  await nextText(conn, (t) => t.startsWith('0{'))
  conn.write(maskedFrame(auth ? `40${JSON.stringify(auth)}` : '40'))
  const reply = await nextText(conn, (t) => t.startsWith('40') || t.startsWith('44'))
  if (!reply.startsWith('40{')) throw new Error(`Socket.IO connect refused: ${reply}`)
  const keep = conn.onText
  conn.onText = (c, buf, s, e) => {
    if (!answerPing(c, buf, s, e)) keep(c, buf, s, e)
  }
  return conn
}

/** sioConnect `count` times, `concurrency` at a time, spread over the source addresses (as connectMany). */
export function sioConnectMany(count: number, opts: Omit<ConnectOptions, 'path' | 'localAddress'>, concurrency = 64): Promise<RawConn[]> {
  return openMany(count, concurrency, async (localAddress) => {
    const conn = await sioConnect({ ...opts, localAddress })
    // Idle: keep answering pings, keep nothing else (the inbox would grow with nothing to read it).
    conn.onText = (c, buf, s, e) => void answerPing(c, buf, s, e)
    return conn
  })
}

/**
 * The text frames in buf[from, …) (server frames: unmasked), each passed to `onText`; returns
 * where the first incomplete frame starts. For the connection-rate job, which reads a handful of
 * frames per connection without a RawConn.
 */
export function readTextFrames(buf: Buffer, from: number, onText: (text: string) => void): number {
  let pos = from
  while (buf.length - pos >= 2) {
    let len = buf[pos + 1]! & 0x7f
    let head = 2
    if (len === 126) {
      if (buf.length - pos < 4) break
      len = buf.readUInt16BE(pos + 2)
      head = 4
    } else if (len === 127) {
      if (buf.length - pos < 10) break
      len = buf.readUInt32BE(pos + 2) * 2 ** 32 + buf.readUInt32BE(pos + 6)
      head = 10
    }
    if (buf.length - pos < head + len) break
    if ((buf[pos]! & 0x0f) === 0x1) onText(buf.toString('utf8', pos + head, pos + head + len))
    pos += head + len
  }
  return pos
}

/** The client's namespace connect, pre-built for the connection-rate job. */
export const SIO_CONNECT_FRAME = maskedFrame('40')
