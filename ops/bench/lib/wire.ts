// The load generator's side of the wire: a real HTTP upgrade over a plain TCP socket, then
// pre-built masked frames written as bytes and server frames read with a minimal parser. The
// `ws` client does per-frame work (masking, events, Buffers) that on a 2-core machine would
// make the client, not the server, the bottleneck.
import net from 'node:net'
import { randomBytes } from 'node:crypto'

export const OP_TEXT = 0x1
export const OP_CLOSE = 0x8
export const OP_PING = 0x9
export const OP_PONG = 0xa

/** One client frame (FIN, masked) carrying `payload`. Build once, write many times. */
export function maskedFrame(payload: Buffer | string, opcode = OP_TEXT): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload
  const len = data.length
  const head = len < 126 ? 2 : len < 65_536 ? 4 : 10
  const frame = Buffer.allocUnsafe(head + 4 + len)
  frame[0] = 0x80 | opcode
  if (len < 126) {
    frame[1] = 0x80 | len
  } else if (len < 65_536) {
    frame[1] = 0x80 | 126
    frame.writeUInt16BE(len, 2)
  } else {
    frame[1] = 0x80 | 127
    frame.writeUInt32BE(Math.floor(len / 2 ** 32), 2)
    frame.writeUInt32BE(len >>> 0, 6)
  }
  const mask = randomBytes(4)
  mask.copy(frame, head)
  for (let i = 0; i < len; i++) frame[head + 4 + i] = data[i]! ^ mask[i & 3]!
  return frame
}

/** `frame` repeated `n` times in one buffer: a batch of k frames is one subarray, one write. */
export function repeated(frame: Buffer, n: number): Buffer {
  return Buffer.concat(Array.from({ length: n }, () => frame))
}

/** Called for every text frame; the payload is buf[start, end). */
export type TextHandler = (conn: RawConn, buf: Buffer, start: number, end: number) => void

const CRLF2 = Buffer.from('\r\n\r\n')

/** The source addresses client sockets are spread over (one address has ~28k ephemeral ports). */
export const SOURCE_ADDRESSES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9']

export interface ConnectOptions {
  port: number
  path: string
  host?: string
  localAddress?: string
  /** Extra request headers, e.g. `Origin`. */
  headers?: Record<string, string>
}

export function handshakeRequest(opts: ConnectOptions): string {
  const host = opts.host ?? '127.0.0.1'
  const extra = Object.entries(opts.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('')
  return `GET ${opts.path} HTTP/1.1\r\nHost: ${host}:${opts.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`
}

/** A client WebSocket over a plain TCP socket, after a real handshake. */
export class RawConn {
  /** Bytes received after the handshake (frame headers included). */
  bytesIn = 0
  closed = false
  /** Text frames kept for setup steps (nextText) until a scenario installs its own handler. */
  readonly inbox: string[] = []
  onText: TextHandler = (_conn, buf, start, end) => {
    if (this.inbox.length < 256) this.inbox.push(buf.toString('utf8', start, end))
  }
  /** After each TCP chunk's frames were handled: the place to write a batch. */
  onChunkEnd: ((conn: RawConn) => void) | undefined
  /** Scratch space for the scenario driving this connection. */
  state: unknown
  private parts: Buffer[] = []
  private partsLen = 0
  private need = 0

  constructor(readonly socket: net.Socket) {
    socket.on('close', () => {
      this.closed = true
    })
  }

  write(data: Buffer): void {
    if (!this.closed) this.socket.write(data)
  }

  /** Abortive close (RST): no TIME_WAIT left on either side, nothing more to read. */
  reset(): void {
    this.closed = true
    this.socket.resetAndDestroy()
  }

  destroy(): void {
    this.closed = true
    this.socket.destroy()
  }

  /** Feed bytes that followed the handshake response, then everything the socket reads. */
  start(rest: Buffer): void {
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk))
    if (rest.length) this.onData(rest)
  }

  private onData(input: Buffer): void {
    this.bytesIn += input.length
    let chunk = input
    if (this.partsLen > 0) {
      this.parts.push(input)
      this.partsLen += input.length
      if (this.partsLen < this.need) return
      chunk = Buffer.concat(this.parts, this.partsLen)
      this.parts = []
      this.partsLen = 0
    }
    const n = chunk.length
    let pos = 0
    while (n - pos >= 2) {
      const b0 = chunk[pos]!
      let len = chunk[pos + 1]! & 0x7f // server frames are never masked
      let head = 2
      if (len === 126) {
        if (n - pos < 4) break
        len = chunk.readUInt16BE(pos + 2)
        head = 4
      } else if (len === 127) {
        if (n - pos < 10) break
        len = chunk.readUInt32BE(pos + 2) * 2 ** 32 + chunk.readUInt32BE(pos + 6)
        head = 10
      }
      if (n - pos < head + len) break
      const start = pos + head
      const end = start + len
      const op = b0 & 0x0f
      if (op === OP_TEXT) this.onText(this, chunk, start, end)
      else if (op === OP_PING) this.write(maskedFrame(chunk.subarray(start, end), OP_PONG))
      else if (op === OP_CLOSE) this.closed = true
      pos = end
    }
    if (pos < n) {
      const rest = chunk.subarray(pos)
      this.parts = [rest]
      this.partsLen = rest.length
      this.need = frameSize(rest) ?? rest.length + 1
    }
    this.onChunkEnd?.(this)
  }
}

/** Header plus payload length of the frame starting `buf`, or undefined while the header is short. */
function frameSize(buf: Buffer): number | undefined {
  if (buf.length < 2) return undefined
  const len = buf[1]! & 0x7f
  if (len < 126) return 2 + len
  if (len === 126) return buf.length < 4 ? undefined : 4 + buf.readUInt16BE(2)
  return buf.length < 10 ? undefined : 10 + buf.readUInt32BE(2) * 2 ** 32 + buf.readUInt32BE(6)
}

export class HandshakeError extends Error {}

/** Connect and upgrade; resolves once the 101 arrived. Frames after it go to `conn.onText`. */
export function connect(opts: ConnectOptions, timeoutMs = 30_000): Promise<RawConn> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port: opts.port, host: opts.host ?? '127.0.0.1', localAddress: opts.localAddress })
    socket.setNoDelay(true)
    let head: Buffer = Buffer.alloc(0)
    const timer = setTimeout(() => fail(new HandshakeError(`handshake timed out after ${timeoutMs} ms`)), timeoutMs)
    const fail = (err: Error) => {
      clearTimeout(timer)
      socket.destroy()
      reject(err)
    }
    const onData = (chunk: Buffer) => {
      head = head.length ? Buffer.concat([head, chunk]) : chunk
      const at = head.indexOf(CRLF2)
      if (at === -1) return
      socket.off('data', onData)
      socket.off('error', fail)
      clearTimeout(timer)
      const status = head.toString('latin1', 0, Math.min(at, 64))
      if (!status.startsWith('HTTP/1.1 101')) {
        socket.destroy()
        reject(new HandshakeError(`handshake refused: ${status.split('\r\n')[0]}`))
        return
      }
      const conn = new RawConn(socket)
      // Errors after the upgrade (a reset during teardown) only end the connection.
      socket.on('error', () => {
        conn.closed = true
      })
      conn.start(head.subarray(at + 4))
      resolve(conn)
    }
    socket.on('data', onData)
    socket.on('error', fail)
    socket.on('connect', () => socket.write(handshakeRequest(opts)))
  })
}

/** Open `count` connections, `concurrency` handshakes at a time, spread over the source addresses. */
export function connectMany(count: number, opts: Omit<ConnectOptions, 'localAddress'>, concurrency = 64, setup?: (conn: RawConn, i: number) => void): Promise<RawConn[]> {
  return openMany(count, concurrency, async (localAddress, i) => {
    const conn = await connect({ ...opts, localAddress })
    setup?.(conn, i)
    return conn
  })
}

/** `count` connections made by `open`, `concurrency` at a time, spread over the source addresses. */
export async function openMany(count: number, concurrency: number, open: (localAddress: string, i: number) => Promise<RawConn>): Promise<RawConn[]> {
  const conns = new Array<RawConn>(count)
  let next = 0
  const worker = async () => {
    while (next < count) {
      const i = next++
      conns[i] = await open(SOURCE_ADDRESSES[i % SOURCE_ADDRESSES.length]!, i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
  return conns
}

/** Whether buf[start, end) begins with `prefix`. */
export function startsWith(buf: Buffer, start: number, end: number, prefix: Buffer): boolean {
  if (end - start < prefix.length) return false
  return buf.compare(prefix, 0, prefix.length, start, start + prefix.length) === 0
}

/**
 * Resolve with the first text frame on `conn` that `match` accepts, skipping the ones before it
 * (setup phases only: it works while the connection keeps its default, inbox-filling handler).
 */
export function nextText(conn: RawConn, match: (text: string) => boolean, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs
    const check = () => {
      while (conn.inbox.length) {
        const text = conn.inbox.shift()!
        if (match(text)) return resolve(text)
      }
      if (conn.closed) return reject(new Error('connection closed while waiting for a frame'))
      if (Date.now() > deadline) return reject(new Error(`no matching frame within ${timeoutMs} ms`))
      setTimeout(check, 2)
    }
    check()
  })
}
