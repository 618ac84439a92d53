// A WebSocket client of raw bytes for the transport tests: a real HTTP upgrade over a TCP
// socket, masked frames built by hand, and the server's frames parsed from the bytes as they
// came, headers included (the length field each used, whether the payload was masked).
import { connect, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'

export interface Frame {
  fin: boolean
  opcode: number
  /** Bytes of the length field after the 7-bit one: 0, 2 or 8. */
  extended: number
  payload: Buffer
}

/** A client of raw bytes: it sends masked frames and parses what comes back, headers included. */
export class RawClient {
  private buf = Buffer.alloc(0)
  private waiting: (() => void) | undefined
  private constructor(private readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d])
      this.waiting?.()
    })
  }

  /** The 101's header lines. */
  upgrade = ''

  /** Offers permessage-deflate, as browsers do: the server must decline it (Conn writes frames itself only then). */
  static async open(port: number, path: string): Promise<RawClient> {
    const sock = connect(port, '127.0.0.1')
    await new Promise((resolve) => sock.once('connect', resolve))
    const c = new RawClient(sock)
    sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
      'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n')
    await c.until(() => c.buf.indexOf('\r\n\r\n') >= 0)
    const end = c.buf.indexOf('\r\n\r\n')
    c.upgrade = c.buf.subarray(0, end).toString()
    if (!c.upgrade.startsWith('HTTP/1.1 101')) throw new Error(`no upgrade: ${c.buf}`)
    c.buf = c.buf.subarray(end + 4)
    return c
  }

  /** One masked client frame's bytes. */
  static frame(opcode: number, payload: Buffer): Buffer {
    const n = payload.length
    const head = n < 126 ? Buffer.from([0x80 | opcode, 0x80 | n]) : n < 65_536 ? Buffer.from([0x80 | opcode, 0x80 | 126, n >> 8, n & 255]) : Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | 127, 0, 0, 0, 0]), Buffer.from([n >>> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255])])
    const mask = randomBytes(4)
    const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!))
    return Buffer.concat([head, mask, body])
  }

  write(bytes: Buffer): void {
    this.sock.write(bytes)
  }

  /** The next server frame, parsed from the bytes as they came. */
  async next(): Promise<Frame> {
    let f: { frame: Frame; size: number } | undefined
    await this.until(() => (f = parse(this.buf)) !== undefined)
    this.buf = this.buf.subarray(f!.size)
    return f!.frame
  }

  close(): void {
    this.sock.destroy()
  }

  private async until(ok: () => boolean): Promise<void> {
    const deadline = Date.now() + 5000
    while (!ok()) {
      if (Date.now() > deadline) throw new Error('timed out waiting for bytes')
      await new Promise<void>((resolve) => {
        this.waiting = resolve
        setTimeout(resolve, 50)
      })
    }
  }
}

function parse(b: Buffer): { frame: Frame; size: number } | undefined {
  if (b.length < 2) return undefined
  if (b[1]! & 0x80) throw new Error('a server frame must not be masked')
  const len7 = b[1]! & 0x7f
  const extended = len7 === 126 ? 2 : len7 === 127 ? 8 : 0
  if (b.length < 2 + extended) return undefined
  const n = extended === 0 ? len7 : extended === 2 ? b.readUInt16BE(2) : Number(b.readBigUInt64BE(2))
  const start = 2 + extended
  if (b.length < start + n) return undefined
  return { frame: { fin: (b[0]! & 0x80) !== 0, opcode: b[0]! & 0x0f, extended, payload: Buffer.from(b.subarray(start, start + n)) }, size: start + n }
}
