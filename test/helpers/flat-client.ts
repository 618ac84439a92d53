// A test client that behaves as the FastChat app's frontend does on the wire, written from the
// description of its dialect (SPEC section 10 and FASTCHAT-APP-DIALECT.md beside it), not from
// its code: each tab is its own user; HELLO goes out the moment the socket opens; OPEN_CHAT, MSG
// and TYPING wait in a queue until HELLO_ACK and then go out in one tick; `{"type":"PING"}` every
// 15 s from open, outside the queue; every MSG received is confirmed with a MSG_ACK; PRESENCE is
// applied by its `action`; CHAT_OPENED selects its target; a close other than 1000 reconnects
// after min(1000·1.2^n, 15000) ms with the same HELLO, keeping the queue.
import { randomUUID } from 'node:crypto'
import type WebSocket from 'ws'
import type { WsTestClient } from '../../src/testing/ws-test-client.ts'

/* eslint-disable @typescript-eslint/no-explicit-any -- frames are asserted field by field */
export type FlatFrame = any

export interface FlatUser {
  user_id: string
  display_name: string
}

export interface FlatTabOptions {
  /** Opens the socket (a Deployment's connect('/ws'), say); called again on every reconnect. */
  connect: () => Promise<WsTestClient>
  display_name: string
  user_id?: string
  /** The app's heartbeat period. */
  pingMs?: number
}

const QUEUED = new Set(['OPEN_CHAT', 'MSG', 'TYPING'])

export class FlatTab {
  readonly user_id: string
  readonly display_name: string
  readonly session_id = randomUUID()
  /** Every frame received, parsed, in order, across reconnects. */
  readonly frames: FlatFrame[] = []
  /** Every frame this tab sent, in order. */
  readonly sent: FlatFrame[] = []
  /** The online list as the app's presence store keeps it (never this tab's own user). */
  readonly online = new Map<string, FlatUser>()
  /** Messages as the app files them: by sender. */
  readonly messages: { sender_id: string; sender_name: string; content: string; message_id: string; timestamp: string }[] = []
  readonly typing = new Map<string, boolean>()
  /** ERRORs the app would surface (RATE_LIMITED it drops silently). */
  readonly errors: FlatFrame[] = []
  selected: { user_id: string; display_name: string; chat_id: string } | undefined
  connected = false
  pongs = 0
  opens = 0
  reconnects = 0
  private queue: FlatFrame[] = []
  private client: WsTestClient | undefined
  private ping: NodeJS.Timeout | undefined
  private retry: NodeJS.Timeout | undefined
  private attempts = 0
  private stopped = false
  private waiters: (() => void)[] = []

  constructor(private readonly opts: FlatTabOptions) {
    this.user_id = opts.user_id ?? randomUUID()
    this.display_name = opts.display_name
  }

  static async open(opts: FlatTabOptions): Promise<FlatTab> {
    const tab = new FlatTab(opts)
    await tab.connect()
    return tab
  }

  get socket(): WebSocket | undefined {
    return this.client?.ws
  }

  openChat(target: FlatUser): void {
    this.enqueue({ type: 'OPEN_CHAT', target_user_id: target.user_id, target_display_name: target.display_name })
  }

  /** What the app sends for a message: the trimmed content and nothing else. */
  say(content: string): void {
    this.enqueue({ type: 'MSG', content: content.trim() })
  }

  setTyping(isTyping: boolean): void {
    this.enqueue({ type: 'TYPING', is_typing: isTyping })
  }

  /** A frame as it is, outside the queue (for frames the app does not send). */
  sendRaw(frame: unknown): void {
    this.sent.push(frame)
    this.client!.send(frame)
  }

  /** Resolves once `predicate` holds, checked after every frame; rejects after `timeoutMs`. */
  until(predicate: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
    if (predicate()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check)
        reject(new Error(`${this.display_name}: timed out after ${timeoutMs} ms waiting for ${what}; last frames: ${JSON.stringify(this.frames.slice(-5))}`))
      }, timeoutMs)
      const check = () => {
        if (!predicate()) return
        clearTimeout(timer)
        this.waiters = this.waiters.filter((w) => w !== check)
        resolve()
      }
      this.waiters.push(check)
    })
  }

  /** The first frame received from index `from` on that matches. */
  async next(type: string, from: number, timeoutMs = 3000): Promise<FlatFrame> {
    const find = () => this.frames.slice(from).find((f) => f.type === type)
    await this.until(() => find() !== undefined, `a ${type} frame`, timeoutMs)
    return find()
  }

  /** The app's disconnect(): close 1000, no reconnect. */
  async close(): Promise<void> {
    this.stopped = true
    clearTimeout(this.retry)
    clearInterval(this.ping)
    if (this.client?.isOpen) await this.client.close(1000)
  }

  private async connect(): Promise<void> {
    const client = await this.opts.connect()
    this.client = client
    this.opens++
    this.attempts = 0
    client.ws.on('message', (data: Buffer) => this.received(data.toString()))
    client.ws.on('close', (code: number) => this.onClose(code))
    this.sendNow({ type: 'HELLO', display_name: this.display_name, user_id: this.user_id, session_id: this.session_id })
    clearInterval(this.ping)
    this.ping = setInterval(() => this.sendNow({ type: 'PING' }), this.opts.pingMs ?? 15_000)
  }

  private onClose(code: number): void {
    this.connected = false
    clearInterval(this.ping)
    if (this.stopped || code === 1000) return
    const delay = Math.min(1000 * 1.2 ** this.attempts++, 15_000)
    this.retry = setTimeout(() => {
      this.reconnects++
      this.connect().catch(() => this.onClose(1006))
    }, delay)
  }

  private enqueue(frame: FlatFrame): void {
    if (this.connected) this.sendNow(frame)
    else this.queue.push(frame)
  }

  private sendNow(frame: FlatFrame): void {
    if (!this.client?.isOpen) {
      if (QUEUED.has(frame.type)) this.queue.push(frame)
      return
    }
    this.sent.push(frame)
    this.client.send(frame)
  }

  private received(text: string): void {
    let f: FlatFrame
    try {
      f = JSON.parse(text)
    } catch {
      return
    }
    this.frames.push(f)
    switch (f.type) {
      case 'HELLO_ACK': {
        this.connected = true
        const queued = this.queue
        this.queue = []
        for (const q of queued) this.sendNow(q)
        break
      }
      case 'PRESENCE':
        this.presence(f)
        break
      case 'CHAT_OPENED':
        if (f.chat_id && f.target_user_id) this.selected = { user_id: f.target_user_id, display_name: f.target_display_name, chat_id: f.chat_id }
        break
      case 'MSG':
        if (!f.sender_id || f.content === undefined) break
        if (this.messages.some((m) => m.message_id === f.message_id)) break
        this.messages.push({ sender_id: f.sender_id, sender_name: f.sender_name, content: f.content, message_id: f.message_id, timestamp: f.timestamp })
        this.sendNow({ type: 'MSG_ACK', message_id: f.message_id, status: 'received', timestamp: new Date().toISOString() })
        break
      case 'TYPING':
        if (f.user_id) this.typing.set(f.user_id, f.is_typing)
        break
      case 'PONG':
        this.pongs++
        break
      case 'PING':
        this.sendNow({ type: 'PONG' })
        break
      case 'ERROR':
        if (f.error_code !== 'RATE_LIMITED') this.errors.push(f)
        break
    }
    for (const w of [...this.waiters]) w()
  }

  /** The app's presence store: connect adds and removes by `online`, disconnect removes, anything else replaces. */
  private presence(f: FlatFrame): void {
    const users: (FlatUser & { online: boolean })[] = Array.isArray(f.users) ? f.users : []
    if (f.action === 'connect') {
      for (const u of users) {
        if (u.user_id === this.user_id) continue
        if (u.online) this.online.set(u.user_id, { user_id: u.user_id, display_name: u.display_name })
        else this.online.delete(u.user_id)
      }
    } else if (f.action === 'disconnect') {
      for (const u of users) this.online.delete(u.user_id)
    } else {
      this.online.clear()
      for (const u of users) if (u.user_id !== this.user_id && u.online !== false) this.online.set(u.user_id, { user_id: u.user_id, display_name: u.display_name })
    }
  }
}
