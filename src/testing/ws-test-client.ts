// A WebSocket test client for Switchboard surfaces, walkers and consumers, in the spirit of
// Channels' WebsocketCommunicator: connect, send, and await exact frames with timeouts that fail
// with a message saying what was awaited and what arrived instead. Exported for users' tests.
import WebSocket from 'ws'

export interface ConnectOptions {
  headers?: Record<string, string>
  /** How long to wait for the handshake. */
  timeoutMs?: number
  /** Answer protocol pings automatically (a real client does); false simulates a dead peer. */
  autoPong?: boolean
  /** Source address to connect from (e.g. 127.0.0.2: another client IP on loopback). */
  localAddress?: string
}

export interface CloseInfo {
  code: number
  reason: string
}

export class TimeoutError extends Error {
  override name = 'TimeoutError'
}

type Frame = { data: Buffer; isBinary: boolean }

const DEFAULT_TIMEOUT = 2000

export class WsTestClient {
  private readonly frames: Frame[] = []
  private waiter: (() => void) | undefined
  private closeInfo: CloseInfo | undefined
  readonly closed: Promise<CloseInfo>

  private constructor(readonly ws: WebSocket, readonly url: string) {
    ws.on('message', (data: Buffer, isBinary) => {
      this.frames.push({ data, isBinary })
      this.wake()
    })
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() }
        this.wake()
        resolve(this.closeInfo)
      })
    })
    ws.on('error', () => {}) // surfaced through `closed` and the awaiting calls
  }

  /** Open a connection; rejects with the HTTP status when the handshake is refused. */
  static connect(url: string, opts: ConnectOptions = {}): Promise<WsTestClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, {
        headers: opts.headers,
        autoPong: opts.autoPong ?? true,
        handshakeTimeout: opts.timeoutMs ?? 5000,
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {})
      })
      const client = new WsTestClient(ws, url)
      ws.once('open', () => resolve(client))
      ws.once('unexpected-response', (req, res) => {
        reject(Object.assign(new Error(`handshake refused with HTTP ${res.statusCode}`), { statusCode: res.statusCode }))
        res.resume()
        req.destroy()
      })
      ws.once('error', reject)
    })
  }

  /** The HTTP status a refused handshake got (403, 429, 503…); throws if it was accepted. */
  static async refusal(url: string, opts: ConnectOptions = {}): Promise<number> {
    try {
      const c = await WsTestClient.connect(url, opts)
      c.ws.terminate()
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode
      if (status) return status
      throw err
    }
    throw new Error(`expected ${url} to refuse the handshake, but it was accepted`)
  }

  /** Send a string as-is, anything else as JSON. */
  send(message: unknown): void {
    this.ws.send(typeof message === 'string' || Buffer.isBuffer(message) ? message : JSON.stringify(message), { binary: false })
  }

  sendBinary(data: Buffer): void {
    this.ws.send(data, { binary: true })
  }

  /** The next frame as text. */
  async receiveText(opts: { timeout?: number } = {}): Promise<string> {
    return (await this.nextFrame(opts.timeout ?? DEFAULT_TIMEOUT, 'a frame')).data.toString()
  }

  /** The next frame, parsed as JSON. */
  async receiveJson<T = any>(opts: { timeout?: number } = {}): Promise<T> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const text = await this.receiveText(opts)
    try {
      return JSON.parse(text) as T
    } catch {
      throw new Error(`expected a JSON frame from ${this.url}, got: ${text.slice(0, 200)}`)
    }
  }

  /**
   * Frames (as JSON) up to and including the first one `predicate` accepts. The timeout covers
   * the whole wait.
   */
  async receiveUntil<T = any>(predicate: (msg: T) => boolean, opts: { timeout?: number } = {}): Promise<T[]> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const timeout = opts.timeout ?? DEFAULT_TIMEOUT
    const deadline = Date.now() + timeout
    const seen: T[] = []
    for (;;) {
      const left = deadline - Date.now()
      const frame = await this.nextFrame(Math.max(1, left), 'a frame matching the predicate', seen)
      const msg = JSON.parse(frame.data.toString()) as T
      seen.push(msg)
      if (predicate(msg)) return seen
    }
  }

  /** The first frame (as JSON) that `predicate` accepts, skipping others. */
  async waitFor<T = any>(predicate: (msg: T) => boolean, opts: { timeout?: number } = {}): Promise<T> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const frames = await this.receiveUntil(predicate, opts)
    return frames[frames.length - 1]!
  }

  /** Action dialect: every frame before the next `{"action":"complete"}`. */
  async receiveAllUntilComplete(opts: { timeout?: number } = {}): Promise<unknown[]> {
    const frames = await this.receiveUntil<{ action?: string }>((m) => m.action === 'complete', opts)
    return frames.slice(0, -1)
  }

  /** Action dialect: the authentication frame said 200. */
  async assertAuthenticated(opts: { timeout?: number } = {}): Promise<void> {
    const msg = await this.waitFor<{ action?: string; payload?: { status_code?: number } }>((m) => m.action === 'authentication', opts)
    if (msg.payload?.status_code !== 200) {
      throw new Error(`expected authentication with status_code 200, got ${JSON.stringify(msg)}`)
    }
  }

  /** Resolves if nothing arrives for `ms`; rejects with the frame if something does. */
  async expectNoMessage(ms = 200): Promise<void> {
    try {
      const frame = await this.nextFrame(ms, 'silence')
      throw new Error(`expected no message within ${ms} ms, got: ${frame.data.toString().slice(0, 200)}`)
    } catch (err) {
      if (err instanceof TimeoutError) return
      throw err
    }
  }

  /** Wait for the server to close the connection, optionally with a given code. */
  async expectClose(code?: number, opts: { timeout?: number } = {}): Promise<CloseInfo> {
    const timeout = opts.timeout ?? DEFAULT_TIMEOUT
    let timer: NodeJS.Timeout | undefined
    const info = await Promise.race([
      this.closed,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TimeoutError(`expected ${this.url} to close${code ? ` with ${code}` : ''} within ${timeout} ms; it stayed open`)), timeout)
      })
    ]).finally(() => clearTimeout(timer))
    if (code !== undefined && info.code !== code) {
      throw new Error(`expected close code ${code}, got ${info.code} (${info.reason})`)
    }
    return info
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN
  }

  /** Frames received and not yet consumed. */
  get pending(): number {
    return this.frames.length
  }

  close(code = 1000, reason = ''): Promise<CloseInfo> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(code, reason)
    return this.closed
  }

  terminate(): void {
    this.ws.terminate()
  }

  private wake(): void {
    const w = this.waiter
    this.waiter = undefined
    w?.()
  }

  private async nextFrame(timeout: number, what: string, seen: unknown[] = []): Promise<Frame> {
    const deadline = Date.now() + timeout
    for (;;) {
      const frame = this.frames.shift()
      if (frame) return frame
      if (this.closeInfo) {
        throw new Error(`connection to ${this.url} closed (${this.closeInfo.code} ${this.closeInfo.reason}) while waiting for ${what}`)
      }
      const left = deadline - Date.now()
      if (left <= 0) {
        const got = seen.length ? `; received meanwhile: ${JSON.stringify(seen).slice(0, 300)}` : ''
        throw new TimeoutError(`timed out after ${timeout} ms waiting for ${what} on ${this.url}${got}`)
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiter = () => {
          clearTimeout(timer)
          resolve()
        }
      })
    }
  }
}

/** Predicate for receiveUntil/waitFor: a frame whose `type` is `type`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const ofType = (type: string) => (m: any): boolean => m?.type === type
