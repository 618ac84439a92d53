// The FastChat client (SPEC 3, 7 and 9): keeps one user connected to /ws through drops, resending
// unacknowledged messages with their ids, which the server dedupes (docs/client.md). With
// `history`, it also keeps the user's claim, pages chat logs and catches up after a reconnect.
// No DOM or Node API (the WebSocket constructor is injected) and only types from the server: a
// small bundle. The types come from protocol/wire.ts, which is free of TypeBox, so the package's
// declarations (packages/client) stand alone.
import type {
  ChatOpened, Chats, ChatSummary, ClientHistory, ClientMessage, ErrorMessage, HelloAck, PresenceEntry, PresenceList, Pong,
  ServerHistory, ServerMsg, ServerMsgAck, ServerTyping, StoredMsg, Welcome
} from '../protocol/wire.ts'
import type { ErrorCode } from '../protocol/error-codes.ts'
import { isPlainObject } from '../lib/is-plain-object.ts'
import { isUuidV4, uuidv4 } from '../lib/uuid.ts'
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.ts'
import { Emitter } from './emitter.ts'
import { PresenceMap } from './presence.ts'

/** What the client needs of a WebSocket: the browser's and `ws`'s both fit. */
export interface WebSocketLike {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  // `any`: the DOM's and `ws`'s event types differ; the client reads only data, code and reason.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  addEventListener(type: 'open' | 'message' | 'close' | 'error', listener: (event: any) => void): void
  /** `ws` only: drop the TCP connection without a closing handshake. */
  terminate?(): void
}
export type WebSocketConstructor = new (url: string) => WebSocketLike

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed'

export interface Identity {
  user_id: string
  display_name: string
}

export interface FastChatClientOptions {
  /** ws:// or wss:// URL of `/ws`. */
  url: string
  /** `globalThis.WebSocket` in browsers, `ws`'s default export in Node. */
  WebSocket: WebSocketConstructor
  /** 'delta' asks the server for changed entries only after the first full list. Default 'full'. */
  presence?: 'full' | 'delta'
  /** PING every … ms (default 15000, SPEC section 3). */
  pingIntervalMs?: number
  /** Reconnect when no PONG came … ms after a PING (default 5000). */
  pongTimeoutMs?: number
  /** Give up on a handshake that has not opened after … ms and retry (default 10000). */
  connectTimeoutMs?: number
  /** Reconnect delays (default base 500 ms, factor 2, cap 30 s), with full jitter. */
  backoff?: Partial<BackoffOptions>
  /** Reconnect attempts in a row before giving up (state `closed`). Default unlimited. */
  maxRetries?: number
  /** Source of randomness for the jitter (tests pin it). */
  random?: () => number
  /**
   * After each HELLO_ACK, how long messages and chats queued while disconnected, and messages to
   * the peers of chats open before a reconnect, wait for their peer to come back online (the peer
   * may be reconnecting too) before USER_NOT_FOUND. Default 15000.
   */
  peerGraceMs?: number
  /** Confirm every incoming message with MSG_ACK, so its sender sees `received`. Default true. */
  autoReceipt?: boolean
  /** A JWT for HELLO's `data.token`, read again on every (re)connect so it can be refreshed. */
  token?: string | (() => string | undefined)
  /** Frames larger than this are refused locally: the server would close the connection (WS_MAX_PAYLOAD). */
  maxFrameBytes?: number
  /** Called with what the client is doing (connects, drops, resends); off by default. */
  debug?: (event: string, details?: unknown) => void
  /**
   * Opt into stored history (SPEC section 9, capability "history"): messages to offline users
   * are stored (`stored` status), CHATS lists this user's chats, history() pages a chat's log,
   * and after a reconnect the client catches up on the chats it knows. Default false.
   */
  history?: boolean
  /**
   * History: the claim this user_id was given by its first history HELLO (the `claim` event),
   * sent as HELLO's `data.claim`. A function is read on every (re)connect. A claim the server
   * issues to this client is used from then on when the function returns nothing.
   */
  claim?: string | (() => string | undefined)
  /**
   * History: after a reconnect, fetch what each known chat gained meanwhile (HISTORY after_seq)
   * and report it as `message` events. Default true.
   */
  catchUp?: boolean
}

/** A refusal: the server's ERROR code, or CLOSED when the client was closed first. */
export class FastChatError extends Error {
  override name = 'FastChatError'
  constructor(
    readonly code: ErrorCode | 'CLOSED',
    message: string,
    readonly details: Record<string, unknown> = {}
  ) {
    super(message)
  }
}

export type MessageStatus = 'pending' | 'stored' | 'delivered' | 'received' | 'failed'
/** Where a message stands in a chat's log: what history connections learn in acks and HISTORY. */
export type StoredStatus = StoredMsg['status']

export interface StatusChange {
  message_id: string
  to: string
  status: MessageStatus
  error?: FastChatError
  /** History: the message's chat and place in its log, once the server stored it. */
  chat_id?: string
  seq?: number
  /** History (`stored` / `delivered` acks): the content as stored, after the server's sanitizing: show this. */
  content?: string
}

export interface StateChange {
  state: ConnectionState
  previous: ConnectionState
  /** Why the connection went, when it did. */
  reason?: string
}

export interface ReconnectScheduled {
  /** 1 for the first retry after a drop. */
  attempt: number
  delayMs: number
  reason: string
}

/** The `presence` event: everyone online now and what moved since the last one. */
export interface PresenceUpdate {
  /** Everyone online now, the receiver included (a copy). */
  users: Map<string, PresenceEntry>
  /** Who came (online:true), went (online:false) or was renamed since the last event. */
  changes: PresenceEntry[]
  /** The server sent the whole list (always the first after each HELLO_ACK). */
  full: boolean
}

export interface SendResult {
  message_id: string
  /** `stored`: the recipient is offline (history connections); `delivered` / `received` otherwise. */
  status: StoredStatus
  /** History: the chat, the message's seq in its log and its content as stored. */
  chat_id?: string
  seq?: number
  content?: string
}

/** A HISTORY request (SPEC section 9): `before_seq` pages backwards, `after_seq` catches up; not both. */
export interface HistoryQuery {
  before_seq?: number
  after_seq?: number
  /** 1–100, default 50. */
  limit?: number
}

/** A HISTORY answer: a page of a chat's log, oldest first. */
export type HistoryPage = ServerHistory['data']
export type { ChatSummary }

/**
 * The `message` event: a MSG's data, or a message the catch-up after a reconnect found in the
 * log, which also carries its `status` (`received` when this user already confirmed it elsewhere).
 */
export type IncomingMessage = ServerMsg['data'] & { status?: StoredStatus }

/**
 * The `chat_reset` event: a chat's log started again (its epoch changed) or is gone (expired, or
 * lost with a store: CHATS no longer lists it, `epoch` undefined). Its seqs mean nothing now.
 */
export interface ChatReset {
  chat_id: string
  target_user_id?: string
  /** The new log's epoch; undefined when the chat has no log any more. */
  epoch?: string
  /** The epoch the client knew, if it knew one. */
  previous?: string
}

/** The `caught_up` event: the catch-up of one chat after a reconnect is done. */
export interface CaughtUp {
  chat_id: string
  target_user_id?: string
  /** The seq the client had seen up to. */
  after_seq: number
  last_seq: number
  /** New messages reported as `message` events. */
  count: number
  /** The log no longer keeps some of the messages after `after_seq` (retention): they are gone for good. */
  missed: boolean
}

/** What the client knows of a chat's log (`chatLog()`). */
export interface ChatLogState {
  chat_id: string
  target_user_id?: string
  epoch?: string
  /** Every message up to this seq was reported (or was in the log before the client first heard of the chat). */
  seq: number
}

export interface SendOptions {
  /** Reuse an id to retry a message safely; default a new UUID. */
  message_id?: string
}

export interface FastChatEvents {
  // Each server frame, by type, with its data exactly as received.
  WELCOME: Welcome['data']
  HELLO_ACK: HelloAck['data']
  PRESENCE: PresenceList['data']
  CHAT_OPENED: ChatOpened['data']
  MSG: ServerMsg['data']
  MSG_ACK: ServerMsgAck['data']
  TYPING: ServerTyping['data']
  PONG: Pong['data']
  ERROR: ErrorMessage['data']
  CHATS: Chats['data']
  HISTORY: ServerHistory['data']
  // What the client makes of them.
  state: StateChange
  reconnect: ReconnectScheduled
  presence: PresenceUpdate
  /**
   * Each incoming message once: a resend after a lost ack is not reported again. With history,
   * so are messages of other connections of this user (`from` is this user) and what the
   * catch-up after a reconnect found; a message already in a history() answer is not reported.
   */
  message: IncomingMessage
  /**
   * The progress of a message this client sent. With history, `delivered` and `received` are
   * watermarks (older messages of the chat move too, oldest first), and acks naming a chat for
   * messages this user sent elsewhere or before (a reload) are reported too.
   */
  status: StatusChange
  /** History: the server issued this user a claim; keep it and pass it as the `claim` option next time. */
  claim: { user_id: string; claim: string }
  /** History: this user's chats (CHATS), most recent activity first, after every HELLO_ACK. */
  chats: ChatSummary[]
  /** History: a chat's log started again (new epoch). */
  chat_reset: ChatReset
  /** History: a chat's catch-up after a reconnect is done. */
  caught_up: CaughtUp
}

interface Deferred<T> {
  resolve(value: T): void
  reject(err: FastChatError): void
  /** Created or interrupted while not identified: waits for its peer during the grace period. */
  deferred: boolean
}

interface HistoryRequest extends Deferred<HistoryPage> {
  chat_id: string
  query: HistoryQuery
  /** The connection (epoch) it was written to; 0 = not yet on the current one. */
  sentOn: number
  /** The client's own catch-up: dropped with its connection (the next CHATS starts it again). */
  internal: boolean
}

interface ChatLog {
  chat_id: string
  peer?: string
  epoch?: string
  /** Every seq up to this one was seen, or was in the log before the client heard of the chat. */
  seq: number
  /** Seen seqs above `seq`, waiting for the gap below them to close. */
  ahead: Set<number>
  /** The last_seq the latest CHATS announced. */
  announced: number
}

/** A sent message after its first ack: for the acks that follow (delivered, received). */
interface Acked {
  to: string
  status: StoredStatus
  chat_id?: string
  seq?: number
}

interface Outgoing extends Deferred<SendResult> {
  message_id: string
  to: string
  content: string
  /** The connection (epoch) it was last written to; 0 = not on the current one. */
  sentOn: number
  retries: number
}

type Timer = ReturnType<typeof setTimeout>

const OPEN = 1
/** CHAT_NOT_OPENED / MESSAGE_FAILED are retried this many times before the send fails. */
const MAX_MESSAGE_RETRIES = 3
/**
 * Messages written and not yet answered on one connection: a long queue flushed in one go after
 * a reconnect stays inside the server's frame burst (WS_FRAME_BURST, 200) instead of being
 * closed with 1008; the rest follow as answers come back.
 */
const MAX_IN_FLIGHT = 100
/** Message ids remembered (incoming for dedupe, delivered for receipts); the oldest go first. */
const REMEMBERED_IDS = 10_000
/** HISTORY pages asked for by the catch-up (the server's maximum). */
const CATCH_UP_PAGE = 100
/** Seen seqs kept above a gap in a chat's log; past this the gap is given up on. */
const MAX_AHEAD = 1000
/** Refused history HELLOs on reconnect retried with the claim function's answer before giving up. */
const MAX_CLAIM_REFUSALS = 3
/** CHATS lists at most this many chats (SPEC section 9). */
const CHATS_LIMIT = 200
const RANK: Record<MessageStatus, number> = { pending: 0, failed: 0, stored: 1, delivered: 2, received: 3 }

export class FastChatClient extends Emitter<FastChatEvents> {
  private readonly opts: Required<Omit<FastChatClientOptions, 'token' | 'debug' | 'backoff' | 'claim'>> & { backoff: BackoffOptions }
  private readonly token: FastChatClientOptions['token']
  private readonly claimOption: FastChatClientOptions['claim']
  /** The claim the server issued to this client. */
  private issuedClaim: string | undefined
  /** History HELLOs refused in a row on reconnect (see onHelloRefused). */
  private claimRefusals = 0
  private readonly debug: NonNullable<FastChatClientOptions['debug']>
  private _state: ConnectionState = 'closed'
  /** connect() was called and close() was not. */
  private running = false
  /** close() was called (or retries ran out) and connect() was not called since. */
  private stopped = false
  private ws: WebSocketLike | undefined
  /** Counts sockets; a message remembers the one it was written to. */
  private epoch = 0
  private attempt = 0
  private identity: Identity | undefined
  /** The server accepted HELLO once: a later refusal (on reconnect) is fatal. */
  private accepted = false
  private helloSent = false
  private identified = false
  private readonly helloWaiters: Deferred<HelloAck['data']>[] = []
  private readonly people = new PresenceMap()
  private presenceKnown = false
  private fullPresenceNext = true
  /** Peers with a chat, and their names: reopened after every reconnect. */
  private readonly chats = new Map<string, string | undefined>()
  /** Chats confirmed open on the current connection. */
  private readonly ready = new Set<string>()
  /** OPEN_CHAT sent on the current connection, answer pending, oldest first. */
  private readonly opening: string[] = []
  /** Peers the server called USER_NOT_FOUND during the grace period: wait for PRESENCE. */
  private readonly missing = new Set<string>()
  /**
   * Chat peers when the connection dropped: after a server restart everyone reconnects at once,
   * so a message sent just after our reconnect may find its peer not back yet. During the
   * grace period such a peer is waited for, as queued messages are.
   */
  private rejoining = new Set<string>()
  private readonly openWaiters = new Map<string, Deferred<ChatOpened['data']>[]>()
  private readonly outbox: Outgoing[] = []
  /** Incoming `from\nmessage_id`, to drop duplicates. */
  private readonly seen = new Map<string, true>()
  /** Acknowledged message ids, for the `delivered` and `received` that follow. */
  private readonly acknowledged = new Map<string, Acked>()
  /** History: what is known of each chat's log, by chat_id. */
  private readonly logs = new Map<string, ChatLog>()
  /** History: HISTORY requests not yet answered, oldest first. */
  private readonly historyRequests: HistoryRequest[] = []
  /** History: chats whose catch-up is running, and a token telling runs apart. */
  private readonly catchingUp = new Map<string, object>()
  /** History: the newest confirmation per chat asked for while not connected. */
  private readonly unconfirmed = new Map<string, string>()
  /** Confirmations without a chat (messages not stored) asked for while not connected, each sent after the next HELLO_ACK. */
  private readonly unconfirmedIds = new Map<string, true>()
  private settleUntil = 0
  private typingBlockedUntil = 0
  private timers: { reconnect?: Timer; connect?: Timer; ping?: ReturnType<typeof setInterval>; pong?: Timer; settle?: Timer; catchUp?: Timer } = {}

  constructor(options: FastChatClientOptions) {
    super()
    // A bad URL is a programming error: say so now instead of retrying it forever.
    if (!/^wss?:\/\/./i.test(options.url)) throw new TypeError(`FastChatClient: url must be ws:// or wss://, got ${JSON.stringify(options.url)}`)
    this.opts = {
      url: options.url,
      WebSocket: options.WebSocket,
      presence: options.presence ?? 'full',
      pingIntervalMs: options.pingIntervalMs ?? 15_000,
      pongTimeoutMs: options.pongTimeoutMs ?? 5_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      maxRetries: options.maxRetries ?? Infinity,
      random: options.random ?? Math.random,
      peerGraceMs: options.peerGraceMs ?? 15_000,
      autoReceipt: options.autoReceipt ?? true,
      maxFrameBytes: options.maxFrameBytes ?? 65_536,
      history: options.history ?? false,
      catchUp: options.catchUp ?? true,
      backoff: { ...DEFAULT_BACKOFF, ...options.backoff }
    }
    this.token = options.token
    this.claimOption = options.claim
    this.debug = options.debug ?? (() => {})
  }

  get state(): ConnectionState {
    return this._state
  }

  /** The identity given to hello(), once the server accepted it. */
  get user(): Identity | undefined {
    return this.accepted ? this.identity : undefined
  }

  /** Who is online (a copy), the receiver included. */
  get presence(): Map<string, PresenceEntry> {
    return new Map(this.people.users)
  }

  /** History: the claim the server issued to this client (also the `claim` event), if it issued one. */
  get claim(): string | undefined {
    return this.issuedClaim
  }

  /** History: what the client knows of a chat's log (a copy), or undefined. */
  chatLog(chatId: string): ChatLogState | undefined {
    const log = this.logs.get(chatId)
    if (!log) return undefined
    const state: ChatLogState = { chat_id: log.chat_id, seq: log.seq }
    if (log.peer !== undefined) state.target_user_id = log.peer
    if (log.epoch !== undefined) state.epoch = log.epoch
    return state
  }

  /** Messages sent and not yet acknowledged, oldest first. */
  get pending(): { message_id: string; to: string; content: string }[] {
    return this.outbox.map(({ message_id, to, content }) => ({ message_id, to, content }))
  }

  // ------------------------------------------------------------------ public API

  /** Start connecting; reconnects by itself until close(). */
  connect(): void {
    if (this.running) return
    this.running = true
    this.stopped = false
    this.attempt = 0
    this.openSocket('connecting')
  }

  /**
   * Identify as `identity` (SPEC "HELLO"); connects if needed. Resolves on HELLO_ACK, rejects on
   * the server's ERROR (VALIDATION, UNAUTHORIZED). The identity is sent again on every reconnect.
   */
  hello(identity: Identity): Promise<HelloAck['data']> {
    if (!isUuidV4(identity.user_id)) return Promise.reject(new FastChatError('VALIDATION', 'user_id must be a UUID v4'))
    if (this.identity && (this.identity.user_id !== identity.user_id || this.identity.display_name !== identity.display_name)) {
      return Promise.reject(new FastChatError('VALIDATION', 'already identified: close this client and start another to change identity'))
    }
    if (this.identified) return Promise.resolve({ user_id: identity.user_id, status: 'connected' })
    this.identity = { user_id: identity.user_id, display_name: identity.display_name }
    const promise = this.defer(this.helloWaiters)
    if (!this.running) this.connect()
    else if (this.ws?.readyState === OPEN && !this.helloSent) this.sendHello()
    return promise
  }

  /**
   * Open (or re-confirm) the chat with `userId`. Resolves with CHAT_OPENED; rejects with
   * USER_NOT_FOUND when the user is offline. The chat is reopened after every reconnect.
   */
  openChat(userId: string, displayName?: string): Promise<ChatOpened['data']> {
    const invalid = this.checkPeer(userId, 'target_user_id')
    if (invalid) return Promise.reject(invalid)
    if (this.stopped) return Promise.reject(closedError())
    this.chats.set(userId, displayName ?? this.chats.get(userId) ?? this.people.users.get(userId)?.display_name)
    let waiters = this.openWaiters.get(userId)
    if (!waiters) this.openWaiters.set(userId, (waiters = []))
    const promise = this.defer(waiters)
    // Already open here: ask again anyway, the answer carries the chat's details.
    if (this.identified && this.ready.has(userId) && !this.opening.includes(userId)) this.requestOpen(userId)
    else this.reconcile()
    return promise
  }

  /**
   * Send `content` to `to`, opening the chat first if needed. Resolves when the server acknowledges
   * it delivered (or the recipient confirmed it received); rejects with the server's ERROR
   * (RATE_LIMITED, VALIDATION, USER_NOT_FOUND…) or CLOSED. While disconnected the message waits
   * and is sent after reconnecting, with the same message_id.
   */
  send(to: string, content: string, options: SendOptions = {}): Promise<SendResult> {
    const invalid = this.checkPeer(to, 'to')
    if (invalid) return Promise.reject(invalid)
    if (this.stopped) return Promise.reject(closedError())
    if (content.trim() === '') return Promise.reject(new FastChatError('VALIDATION', 'message is empty', { errors: [{ path: '/data/content', message: 'must not be empty' }] }))
    const message_id = options.message_id ?? uuidv4()
    if (this.outbox.some((e) => e.message_id === message_id)) {
      return Promise.reject(new FastChatError('VALIDATION', `message ${message_id} is already being sent`, { message_id }))
    }
    const frame = JSON.stringify({ type: 'MSG', data: { to, content, message_id } } satisfies ClientMessage)
    if (new TextEncoder().encode(frame).length > this.opts.maxFrameBytes) {
      return Promise.reject(new FastChatError('VALIDATION', 'message is too large', { message_id }))
    }
    if (!this.chats.has(to)) this.chats.set(to, this.people.users.get(to)?.display_name)
    return new Promise<SendResult>((resolve, reject) => {
      this.outbox.push({ message_id, to, content, sentOn: 0, retries: 0, deferred: !this.identified, resolve, reject })
      this.emit('status', { message_id, to, status: 'pending' })
      this.reconcile()
    })
  }

  /**
   * Tell `to` (or every open chat) whether this user is typing. Dropped, returning false, when not
   * connected, when the chat is not open on this connection, or while the server's typing rate
   * limit is in force: typing is a hint, never worth queueing.
   */
  typing(isTyping: boolean, to?: string): boolean {
    if (!this.identified || Date.now() < this.typingBlockedUntil) return false
    if (to !== undefined && !this.ready.has(to)) return false
    return this.transmit({ type: 'TYPING', data: to === undefined ? { is_typing: isTyping } : { is_typing: isTyping, to } })
  }

  /**
   * History: a page of the chat's log (SPEC section 9, HISTORY), oldest first. Without a query,
   * the newest 50; `before_seq` pages backwards, `after_seq` forwards. Answers are matched by
   * chat_id in request order; a request interrupted by a reconnect is asked again. Rejects with
   * CHAT_NOT_OPENED (not a participant, unknown chat), RATE_LIMITED (HISTORY counts against the
   * MSG limit), VALIDATION or CLOSED. Its messages are not reported again as `message` events.
   */
  history(chatId: string, query: HistoryQuery = {}): Promise<HistoryPage> {
    if (!this.opts.history) return Promise.reject(new FastChatError('VALIDATION', 'history is off: create the client with { history: true }'))
    if (this.stopped) return Promise.reject(closedError())
    const invalid = checkHistoryQuery(chatId, query)
    if (invalid) return Promise.reject(new FastChatError('VALIDATION', `invalid HISTORY: ${invalid}`))
    return this.requestHistory(chatId, query, false)
  }

  /**
   * Confirm an incoming message (MSG_ACK), so its sender sees `received`; with history pass its
   * chat_id: the receipt is stored, clears the chat's unread count, and covers every earlier
   * message of the chat to this user. Returns whether it was sent now; otherwise it is sent
   * after the next HELLO_ACK (with a chat_id the newest per chat, without one each; the server
   * relays a receipt within 10 minutes of the message). `autoReceipt` does this for every
   * message as it arrives.
   */
  confirm(messageId: string, chatId?: string): boolean {
    if (this.stopped) return false
    const data = chatId === undefined ? { message_id: messageId } : { message_id: messageId, chat_id: chatId }
    if (this.identified && this.transmit({ type: 'MSG_ACK', data })) return true
    if (chatId !== undefined) this.unconfirmed.set(chatId, messageId)
    else remember(this.unconfirmedIds, messageId, true)
    return false
  }

  /** Skip the backoff wait (the page calls this when the browser says it is online again). */
  reconnectNow(): void {
    if (!this.running || this.timers.reconnect === undefined) return
    clearTimeout(this.timers.reconnect)
    this.timers.reconnect = undefined
    this.openSocket('reconnecting')
  }

  /** Close for good: timers stop, pending promises reject with CLOSED. */
  close(): void {
    this.shutDown('closed by the client')
  }

  // ------------------------------------------------------------------ connection

  private openSocket(state: 'connecting' | 'reconnecting'): void {
    this.setState(state)
    const epoch = ++this.epoch
    let sock: WebSocketLike
    try {
      sock = new this.opts.WebSocket(this.opts.url)
    } catch (err) {
      this.debug('connect failed', err)
      this.scheduleReconnect(`cannot connect: ${(err as Error).message}`)
      return
    }
    this.ws = sock
    this.debug('connecting', { url: this.opts.url, epoch })
    this.timers.connect = setTimeout(() => this.drop(sock, 'connect timeout'), this.opts.connectTimeoutMs)
    sock.addEventListener('open', () => this.onOpen(sock))
    sock.addEventListener('message', (ev: { data: unknown }) => this.onFrame(sock, ev.data))
    sock.addEventListener('close', (ev: { code: number; reason: string }) => this.drop(sock, `closed ${ev.code}${ev.reason ? ` (${ev.reason})` : ''}`))
    sock.addEventListener('error', () => this.drop(sock, 'socket error'))
  }

  private onOpen(sock: WebSocketLike): void {
    if (sock !== this.ws) return
    clearTimeout(this.timers.connect)
    this.startHeartbeat(sock)
    if (this.identity) this.sendHello()
    else this.setState('open')
  }

  private sendHello(): void {
    const identity = this.identity!
    const data: { user_id: string; display_name: string; capabilities?: string[]; token?: string; claim?: string } = { ...identity }
    const capabilities: string[] = []
    if (this.opts.presence === 'delta') capabilities.push('presence_delta')
    if (this.opts.history) capabilities.push('history')
    if (capabilities.length) data.capabilities = capabilities
    const token = typeof this.token === 'function' ? this.token() : this.token
    if (token) data.token = token
    if (this.opts.history) {
      const given = typeof this.claimOption === 'function' ? this.claimOption() : undefined
      const claim = given ?? this.issuedClaim ?? (typeof this.claimOption === 'string' ? this.claimOption : undefined)
      if (claim) data.claim = claim
    }
    this.fullPresenceNext = true
    this.helloSent = this.transmit({ type: 'HELLO', data })
  }

  /** The socket is gone (closed, failed, silent): forget what was per-connection and retry. */
  private drop(sock: WebSocketLike, reason: string): void {
    if (sock !== this.ws) return
    this.ws = undefined
    abandon(sock)
    this.resetConnection()
    this.debug('dropped', { reason, pending: this.outbox.length })
    if (this.running) this.scheduleReconnect(reason)
  }

  private resetConnection(): void {
    for (const key of ['connect', 'pong', 'settle'] as const) clearTimeout(this.timers[key])
    clearInterval(this.timers.ping)
    this.timers.pong = undefined
    this.identified = false
    this.helloSent = false
    this.ready.clear()
    this.opening.length = 0
    this.missing.clear()
    // The list is kept for display, but who is online now is unknown until the next PRESENCE.
    this.presenceKnown = false
    // Everything still waiting is resent on the next connection, and may wait there for its peer.
    for (const e of this.outbox) {
      e.sentOn = 0
      e.deferred = true
    }
    for (const waiters of this.openWaiters.values()) for (const w of waiters) w.deferred = true
    this.rejoining = new Set(this.chats.keys())
    // The application's HISTORY requests are asked again; the catch-up starts over with the next CHATS.
    clearTimeout(this.timers.catchUp)
    this.timers.catchUp = undefined
    this.catchingUp.clear()
    const lost = new FastChatError('CLOSED', 'the connection dropped')
    for (let i = this.historyRequests.length - 1; i >= 0; i--) {
      const r = this.historyRequests[i]!
      r.sentOn = 0
      if (!r.internal) continue
      this.historyRequests.splice(i, 1)
      r.reject(lost)
    }
  }

  private scheduleReconnect(reason: string): void {
    if (this.attempt >= this.opts.maxRetries) {
      this.shutDown(`gave up after ${this.attempt} attempts: ${reason}`)
      return
    }
    const delayMs = backoffDelay(this.attempt, this.opts.backoff, this.opts.random)
    this.attempt++
    this.setState('reconnecting', reason)
    this.emit('reconnect', { attempt: this.attempt, delayMs, reason })
    this.timers.reconnect = setTimeout(() => {
      this.timers.reconnect = undefined
      this.openSocket('reconnecting')
    }, delayMs)
  }

  private shutDown(reason: string): void {
    this.running = false
    this.stopped = true
    clearTimeout(this.timers.reconnect)
    this.timers.reconnect = undefined
    const sock = this.ws
    this.ws = undefined
    if (sock) abandon(sock, true)
    this.resetConnection()
    this.setState('closed', reason)
    const err = closedError(reason)
    for (const w of this.helloWaiters.splice(0)) w.reject(err)
    for (const waiters of this.openWaiters.values()) for (const w of waiters) w.reject(err)
    this.openWaiters.clear()
    for (const e of this.outbox.splice(0)) this.fail(e, err)
    for (const r of this.historyRequests.splice(0)) r.reject(err)
  }

  private setState(state: ConnectionState, reason?: string): void {
    const previous = this._state
    if (state === 'open') this.attempt = 0
    if (state === previous) return
    this._state = state
    this.debug('state', { state, previous, reason })
    this.emit('state', reason === undefined ? { state, previous } : { state, previous, reason })
  }

  // ------------------------------------------------------------------ heartbeat

  /** PING every interval; no PONG within the timeout means the path is dead, whatever TCP thinks. */
  private startHeartbeat(sock: WebSocketLike): void {
    clearInterval(this.timers.ping)
    this.timers.ping = setInterval(() => {
      if (sock !== this.ws) return
      this.transmit({ type: 'PING', data: {} })
      this.timers.pong ??= setTimeout(() => this.drop(sock, 'heartbeat timeout: no PONG'), this.opts.pongTimeoutMs)
    }, this.opts.pingIntervalMs)
  }

  // ------------------------------------------------------------------ frames in

  private onFrame(sock: WebSocketLike, raw: unknown): void {
    if (sock !== this.ws || typeof raw !== 'string') return
    let msg: unknown
    try {
      msg = JSON.parse(raw)
    } catch {
      return // plain text on /ws is the echo dialect, not ours
    }
    if (!isPlainObject(msg) || typeof msg.type !== 'string' || !isPlainObject(msg.data)) return
    const data = msg.data
    switch (msg.type) {
      case 'WELCOME': return this.emit('WELCOME', data as Welcome['data'])
      case 'HELLO_ACK': return this.onHelloAck(data as HelloAck['data'])
      case 'PRESENCE': return this.onPresence(data as PresenceList['data'])
      case 'CHAT_OPENED': return this.onChatOpened(data as ChatOpened['data'])
      case 'MSG': return this.onMessage(data as ServerMsg['data'])
      case 'MSG_ACK':
        this.onAck(data as ServerMsgAck['data'])
        return this.flush()
      case 'TYPING': return this.emit('TYPING', data as ServerTyping['data'])
      case 'PONG':
        clearTimeout(this.timers.pong)
        this.timers.pong = undefined
        return this.emit('PONG', data as Pong['data'])
      case 'ERROR':
        this.onError(data as ErrorMessage['data'])
        return this.flush()
      case 'CHATS': return this.onChats(data as Chats['data'])
      case 'HISTORY': return this.onHistory(data as ServerHistory['data'])
    }
  }

  private onHelloAck(data: HelloAck['data']): void {
    this.claimRefusals = 0
    this.identified = true
    this.accepted = true
    this.helloSent = false
    this.settleUntil = Date.now() + this.opts.peerGraceMs
    clearTimeout(this.timers.settle)
    // When the grace ends, whatever still waits for an absent peer gets the server's verdict.
    // The timer ends the grace itself: timers may fire a millisecond before Date.now() reaches
    // settleUntil, and a reconcile that still saw the grace running would hold for ever.
    this.timers.settle = setTimeout(() => {
      this.settleUntil = 0
      this.reconcile()
    }, this.opts.peerGraceMs)
    this.setState('open')
    this.emit('HELLO_ACK', data)
    if (typeof data.claim === 'string' && data.claim !== '') {
      this.issuedClaim = data.claim
      this.emit('claim', { user_id: this.identity!.user_id, claim: data.claim })
    }
    for (const w of this.helloWaiters.splice(0)) w.resolve(data)
    for (const [chatId, messageId] of this.unconfirmed) this.transmit({ type: 'MSG_ACK', data: { message_id: messageId, chat_id: chatId } })
    this.unconfirmed.clear()
    for (const messageId of this.unconfirmedIds.keys()) this.transmit({ type: 'MSG_ACK', data: { message_id: messageId } })
    this.unconfirmedIds.clear()
    this.reconcile()
    this.flushHistory()
  }

  private onPresence(data: PresenceList['data']): void {
    const full = this.fullPresenceNext || this.opts.presence === 'full'
    this.fullPresenceNext = false
    this.presenceKnown = true
    const changes = full ? this.people.applyFull(data.users) : this.people.applyDelta(data.users)
    for (const c of changes) if (c.online) this.missing.delete(c.user_id)
    this.emit('PRESENCE', data)
    this.emit('presence', { users: this.presence, changes, full })
    this.reconcile()
  }

  private onChatOpened(data: ChatOpened['data']): void {
    const peer = data.target_user_id
    if (typeof data.last_seq === 'number') this.noteChat(data.chat_id, peer, data.last_seq)
    this.chats.set(peer, data.target_display_name)
    this.ready.add(peer)
    this.missing.delete(peer)
    removeFirst(this.opening, peer)
    this.emit('CHAT_OPENED', data)
    const waiters = this.openWaiters.get(peer)
    this.openWaiters.delete(peer)
    for (const w of waiters ?? []) w.resolve(data)
    this.flush()
  }

  private onMessage(data: ServerMsg['data']): void {
    this.emit('MSG', data)
    const me = this.identity?.user_id
    // The server delivered it, so the chat is open: messages to that peer can go at once.
    // (from === me: one of this user's other connections sent it.)
    const peer = data.from === me ? data.to : data.from
    this.ready.add(peer)
    if (!this.chats.has(peer)) this.chats.set(peer, this.people.users.get(peer)?.display_name)
    if (typeof data.chat_id === 'string' && typeof data.seq === 'number') this.noteSeq(this.noteChat(data.chat_id, peer, data.seq - 1), data.seq)
    if (this.opts.autoReceipt && data.from !== me && data.to === me) {
      this.transmit({ type: 'MSG_ACK', data: typeof data.chat_id === 'string' ? { message_id: data.message_id, chat_id: data.chat_id } : { message_id: data.message_id } })
    }
    this.flush()
    // A sender that lost an ack resends with the same id; after a server restart the server's
    // dedupe is gone, so the receiving side drops the duplicate too.
    const key = `${data.from}\n${data.message_id}`
    if (this.seen.has(key)) return
    remember(this.seen, key, true)
    this.emit('message', data)
  }

  private onAck(data: ServerMsgAck['data']): void {
    this.emit('MSG_ACK', data)
    this.acked(data)
  }

  /** A sent message's progress, from an ack or (settledFromLog) from the log itself. */
  private acked(data: ServerMsgAck['data']): void {
    const place = typeof data.chat_id === 'string' && typeof data.seq === 'number' ? { chat_id: data.chat_id, seq: data.seq } : undefined
    const i = this.outbox.findIndex((e) => e.message_id === data.message_id)
    const e = i >= 0 ? this.outbox.splice(i, 1)[0] : undefined
    // `received` also settles a send whose `delivered` was lost with a connection.
    if (e) {
      const details: Pick<SendResult, 'chat_id' | 'seq' | 'content'> = {}
      if (place) {
        Object.assign(details, place)
        this.noteSeq(this.noteChat(place.chat_id, e.to, place.seq - 1), place.seq)
      }
      if (typeof data.content === 'string') details.content = data.content
      // The catch-up after a reconnect finds it in the log: it is not news to this client.
      if (this.identity) remember(this.seen, `${this.identity.user_id}\n${e.message_id}`, true)
      remember(this.acknowledged, e.message_id, { to: e.to, status: data.status, ...place })
      e.resolve({ message_id: e.message_id, status: data.status, ...details })
      this.emit('status', { message_id: e.message_id, to: e.to, status: data.status, ...details })
      if (place && data.status !== 'stored') this.watermark(place.chat_id, place.seq, data.status)
      if (data.status === 'received') this.acknowledged.delete(e.message_id)
      return
    }
    let known = this.acknowledged.get(data.message_id)
    // An ack naming its chat for a message this client did not send: this user sent it from
    // another connection, or before a reload. Its progress is news all the same.
    const peer = place && this.logs.get(place.chat_id)?.peer
    if (!known && place && peer !== undefined) {
      known = { to: peer, status: 'stored', ...place }
      remember(this.acknowledged, data.message_id, known)
    }
    if (!known || data.status === 'stored') return
    if (known.chat_id !== undefined && known.seq !== undefined) this.watermark(known.chat_id, known.seq, data.status)
    this.advance(data.message_id, known, data.status)
  }

  /** A sent message moved on (delivered, received): report it once, never backwards. */
  private advance(messageId: string, known: Acked, status: StoredStatus): void {
    if (RANK[status] <= RANK[known.status]) return
    known.status = status
    if (status === 'received') this.acknowledged.delete(messageId)
    const change: StatusChange = { message_id: messageId, to: known.to, status }
    if (known.chat_id !== undefined) change.chat_id = known.chat_id
    if (known.seq !== undefined) change.seq = known.seq
    this.emit('status', change)
  }

  /**
   * Receipts are watermarks (SPEC 9): the reader gets a chat's messages in seq order, so
   * `delivered` or `received` for seq n holds for every earlier message of the chat too.
   */
  private watermark(chatId: string, seq: number, status: StoredStatus): void {
    const older = [...this.acknowledged]
      .filter(([, a]) => a.chat_id === chatId && a.seq !== undefined && a.seq < seq && RANK[a.status] < RANK[status])
      .sort(([, a], [, b]) => a.seq! - b.seq!)
    for (const [id, a] of older) this.advance(id, a, status)
  }

  /**
   * An ERROR, matched to what caused it: details.message_id names a MSG; before HELLO_ACK it
   * answers the HELLO; details.target_user_id an OPEN_CHAT; otherwise request order (the
   * server answers a connection's frames in order) or, for typing, its rate limit.
   */
  private onError(data: ErrorMessage['data']): void {
    this.emit('ERROR', data)
    const details = isPlainObject(data.details) ? data.details : {}
    const err = new FastChatError(data.code, data.message, details)
    const messageId = details.message_id
    if (typeof messageId === 'string') {
      const e = this.outbox.find((m) => m.message_id === messageId)
      if (e) this.onMessageError(e, err)
      return
    }
    if (this.helloSent && !this.identified) return this.onHelloRefused(err)
    const request = this.historyErrorFor(data, details)
    if (request) {
      removeFirst(this.historyRequests, request)
      request.reject(err)
      return
    }
    if (data.code === 'USER_NOT_FOUND' && typeof details.target_user_id === 'string') return this.onOpenRefused(details.target_user_id, err)
    if (data.message.startsWith('invalid OPEN_CHAT') && this.opening[0] !== undefined) return this.onOpenRefused(this.opening[0], err)
    if (data.message.startsWith('invalid MSG')) {
      const e = this.outbox.find((m) => m.sentOn === this.epoch)
      if (e) this.settleFailed(e, err)
      return
    }
    if (data.code === 'RATE_LIMITED') {
      // The only limited frame without a message_id is TYPING: stay quiet until the limit passes.
      const wait = typeof details.retry_after_ms === 'number' ? details.retry_after_ms : 60_000
      this.typingBlockedUntil = Date.now() + wait
      return
    }
    if (data.code === 'CHAT_NOT_OPENED' && typeof details.to === 'string') {
      this.ready.delete(details.to)
      this.reconcile()
    }
  }

  private onHelloRefused(err: FastChatError): void {
    this.helloSent = false
    for (const w of this.helloWaiters.splice(0)) w.reject(err)
    if (this.accepted && err.code === 'UNAUTHORIZED' && this.opts.history && typeof this.claimOption === 'function' && ++this.claimRefusals <= MAX_CLAIM_REFUSALS) {
      // A store that lost its claims issues a new one to whichever tab of this user comes back
      // first; the others are refused until the application's claim function returns that one.
      this.issuedClaim = undefined
      if (this.ws) this.drop(this.ws, `HELLO refused: ${err.code} ${err.message}`)
      return
    }
    if (this.accepted) {
      // It was accepted before: the token expired or rules changed; retrying cannot help.
      this.shutDown(`HELLO refused on reconnect: ${err.code} ${err.message}`)
      return
    }
    this.identity = undefined // the application may call hello() again with other values
    this.setState('open')
  }

  private onOpenRefused(peer: string, err: FastChatError): void {
    removeFirst(this.opening, peer)
    // No automatic reopen until PRESENCE shows the peer again.
    this.missing.add(peer)
    if (err.code === 'USER_NOT_FOUND' && this.holding(peer)) return
    const waiters = this.openWaiters.get(peer)
    this.openWaiters.delete(peer)
    for (const w of waiters ?? []) w.reject(err)
    for (const e of this.outbox.filter((m) => m.to === peer)) this.settleFailed(e, err)
  }

  private onMessageError(e: Outgoing, err: FastChatError): void {
    switch (err.code) {
      case 'CHAT_NOT_OPENED': // the chat was forgotten (both were offline): reopen, then resend
        this.ready.delete(e.to)
        return this.retry(e, err)
      case 'MESSAGE_FAILED': // SPEC: retry with the same message_id
        return this.retry(e, err)
      case 'USER_NOT_FOUND':
        if (this.holding(e.to)) {
          this.ready.delete(e.to)
          this.missing.add(e.to)
          e.sentOn = 0
          return
        }
        return this.settleFailed(e, err)
      default:
        return this.settleFailed(e, err)
    }
  }

  private retry(e: Outgoing, err: FastChatError): void {
    if (++e.retries > MAX_MESSAGE_RETRIES) return this.settleFailed(e, err)
    e.sentOn = 0
    this.reconcile()
  }

  private settleFailed(e: Outgoing, err: FastChatError): void {
    const i = this.outbox.indexOf(e)
    if (i >= 0) this.outbox.splice(i, 1)
    this.fail(e, err)
  }

  private fail(e: Outgoing, err: FastChatError): void {
    e.reject(err)
    this.emit('status', { message_id: e.message_id, to: e.to, status: 'failed', error: err })
  }

  // ------------------------------------------------------------------ frames out

  /**
   * Bring the connection in line with what the application wants: open the chats that are
   * wanted and not open here, then write the messages waiting for them, in order.
   */
  private reconcile(): void {
    if (!this.identified) return
    const peers = new Set([...this.chats.keys(), ...this.openWaiters.keys(), ...this.outbox.map((e) => e.to)])
    for (const peer of peers) {
      if (this.ready.has(peer) || this.opening.includes(peer)) continue
      const online = this.presenceKnown && this.people.users.has(peer)
      const wanted = this.openWaiters.has(peer) || this.outbox.some((e) => e.to === peer)
      if (!wanted) {
        // A remembered chat: reopen it quietly once its peer is around.
        if (online && !this.missing.has(peer)) this.requestOpen(peer)
        continue
      }
      // Queued across a reconnect and the peer is not back yet: it may be reconnecting too.
      // History connections may open a chat with a known offline user, so they ask first and
      // wait only once the server said USER_NOT_FOUND.
      const absent = this.opts.history ? this.missing.has(peer) : !online || this.missing.has(peer)
      if (absent && this.holding(peer)) continue
      this.requestOpen(peer)
    }
    this.flush()
  }

  private flush(): void {
    let inFlight = this.outbox.filter((e) => e.sentOn === this.epoch).length
    for (const e of this.outbox) {
      if (inFlight >= MAX_IN_FLIGHT) return
      if (e.sentOn === this.epoch || !this.ready.has(e.to)) continue
      if (!this.transmit({ type: 'MSG', data: { to: e.to, content: e.content, message_id: e.message_id } })) return
      e.sentOn = this.epoch
      inFlight++
      if (e.deferred) this.debug('resent', { message_id: e.message_id })
    }
  }

  private requestOpen(peer: string): void {
    const name = this.chats.get(peer) ?? this.people.users.get(peer)?.display_name
    const data = name === undefined ? { target_user_id: peer } : { target_user_id: peer, target_display_name: name }
    if (this.transmit({ type: 'OPEN_CHAT', data })) this.opening.push(peer)
  }

  /** Requests for `peer` queued across a reconnect wait for it until the grace period ends. */
  private holding(peer: string): boolean {
    if (Date.now() >= this.settleUntil) return false
    if (this.rejoining.has(peer)) return true
    return this.outbox.some((e) => e.to === peer && e.deferred) || (this.openWaiters.get(peer)?.some((w) => w.deferred) ?? false)
  }

  private transmit(msg: ClientMessage): boolean {
    const sock = this.ws
    if (!sock || sock.readyState !== OPEN) return false
    try {
      sock.send(JSON.stringify(msg))
      return true
    } catch (err) {
      this.debug('send failed', err)
      return false
    }
  }

  // ------------------------------------------------------------------ history

  private requestHistory(chatId: string, query: HistoryQuery, internal: boolean): Promise<HistoryPage> {
    return new Promise<HistoryPage>((resolve, reject) => {
      this.historyRequests.push({ chat_id: chatId, query: { ...query }, sentOn: 0, internal, deferred: false, resolve, reject })
      this.flushHistory()
    })
  }

  private flushHistory(): void {
    if (!this.identified) return
    for (const r of this.historyRequests) {
      if (r.sentOn === this.epoch) continue
      if (!this.transmit({ type: 'HISTORY', data: { chat_id: r.chat_id, ...r.query } })) return
      r.sentOn = this.epoch
    }
  }

  /** The HISTORY request an ERROR answers, if it answers one: the server answers a connection's frames in order. */
  private historyErrorFor(data: ErrorMessage['data'], details: Record<string, unknown>): HistoryRequest | undefined {
    const sent = this.historyRequests.filter((r) => r.sentOn === this.epoch)
    if (sent.length === 0) return undefined
    if (typeof details.chat_id === 'string') return sent.find((r) => r.chat_id === details.chat_id)
    if (data.message.startsWith('invalid HISTORY')) return sent[0]
    // TYPING's CHAT_NOT_OPENED names `to`, its RATE_LIMITED says typing; a MSG's has a message_id.
    if (data.code === 'CHAT_NOT_OPENED' && details.to === undefined) return sent[0]
    if (data.code === 'RATE_LIMITED' && !/typing/i.test(data.message)) return sent[0]
    return undefined
  }

  /** What the client knows of a chat's log, made when first heard of: everything up to `horizon` was there before. */
  private noteChat(chatId: string, peer: string | undefined, horizon: number): ChatLog {
    let log = this.logs.get(chatId)
    if (!log) {
      log = { chat_id: chatId, peer, seq: Math.max(0, horizon), ahead: new Set(), announced: 0 }
      this.logs.set(chatId, log)
    } else if (peer !== undefined) {
      log.peer = peer
    }
    return log
  }

  /** A message of the log was seen: the seen-up-to mark moves over every closed gap. */
  private noteSeq(log: ChatLog, seq: number): void {
    if (seq <= log.seq) return
    log.ahead.add(seq)
    while (log.ahead.delete(log.seq + 1)) log.seq++
    if (log.ahead.size > MAX_AHEAD) {
      log.seq = Math.max(...log.ahead)
      log.ahead.clear()
    }
  }

  /** The log started again (or is gone, epoch undefined): forget its seq and tell the application. */
  private resetLog(log: ChatLog, epoch: string | undefined, lastSeq: number): void {
    const previous = log.epoch
    log.epoch = epoch
    log.seq = lastSeq
    log.ahead.clear()
    if (epoch === undefined) this.logs.delete(log.chat_id)
    // Sent messages placed in the old log: their seqs mean nothing in the new one, whose
    // watermarks would otherwise mark them delivered or received.
    for (const [id, a] of this.acknowledged) if (a.chat_id === log.chat_id) this.acknowledged.delete(id)
    const reset: ChatReset = { chat_id: log.chat_id }
    if (epoch !== undefined) reset.epoch = epoch
    if (log.peer !== undefined) reset.target_user_id = log.peer
    if (previous !== undefined) reset.previous = previous
    this.debug('chat reset', reset)
    this.emit('chat_reset', reset)
  }

  /**
   * A log's epoch as the server states it: a different one means it started again. So does a
   * log shorter than what was seen, when `length` may be trusted: CHATS comes before any
   * message of its connection, while a HISTORY answer may be older than a MSG that overtook it.
   */
  private checkEpoch(log: ChatLog, epoch: string, lastSeq: number, length: boolean): boolean {
    if ((log.epoch !== undefined && log.epoch !== epoch) || (length && lastSeq < log.seq)) {
      this.resetLog(log, epoch, lastSeq)
      return false
    }
    log.epoch = epoch
    return true
  }

  private onChats(data: Chats['data']): void {
    this.emit('CHATS', data)
    // A chat with stored messages that CHATS no longer lists has no log now (expired, or a store
    // that lost it); unless the list is full and it was merely cut off.
    if (data.chats.length < CHATS_LIMIT) {
      const listed = new Set(data.chats.map((c) => c.chat_id))
      for (const log of [...this.logs.values()]) if (!listed.has(log.chat_id) && (log.seq > 0 || log.ahead.size > 0)) this.resetLog(log, undefined, 0)
    }
    for (const c of data.chats) {
      const known = this.logs.has(c.chat_id)
      const log = this.noteChat(c.chat_id, c.target_user_id, c.last_seq)
      log.announced = c.last_seq
      if (!known) {
        log.epoch = c.epoch
        continue
      }
      if (this.checkEpoch(log, c.epoch, c.last_seq, true) && c.last_seq > log.seq && this.opts.catchUp) this.catchUp(log)
    }
    this.emit('chats', data.chats)
  }

  private onHistory(data: ServerHistory['data']): void {
    this.emit('HISTORY', data)
    const i = this.historyRequests.findIndex((r) => r.sentOn === this.epoch && r.chat_id === data.chat_id)
    const request = i >= 0 ? this.historyRequests.splice(i, 1)[0] : undefined
    const log = this.logs.get(data.chat_id)
    if (!log) this.noteChat(data.chat_id, undefined, data.last_seq).epoch = data.epoch
    else this.checkEpoch(log, data.epoch, data.last_seq, false)
    if (!request?.internal) {
      // The application has these now: a copy arriving later (a backlog MSG) is not news.
      const current = this.logs.get(data.chat_id)!
      for (const m of data.messages) {
        remember(this.seen, `${m.from}\n${m.message_id}`, true)
        this.noteSeq(current, m.seq)
        if (m.from === this.identity?.user_id) this.settledFromLog(data.chat_id, m)
      }
    }
    request?.resolve(data)
  }

  /**
   * After a reconnect, fetch what a chat gained since the last seq this client saw and report
   * it as `message` events (messages of this user's other connections, messages handed to
   * another tab); the server pushes only what no connection of this user got.
   */
  private catchUp(log: ChatLog): void {
    if (this.catchingUp.has(log.chat_id)) return
    const run = {}
    this.catchingUp.set(log.chat_id, run)
    const after = log.seq
    const epoch = log.epoch
    let count = 0
    let missed = false
    const step = (afterSeq: number, first: boolean): void => {
      this.requestHistory(log.chat_id, { after_seq: afterSeq, limit: CATCH_UP_PAGE }, true).then((page) => {
        if (this.catchingUp.get(log.chat_id) !== run) return
        if (page.epoch !== epoch) {
          // The log started again meanwhile (chat_reset was emitted): its seqs are not ours to follow.
          this.catchingUp.delete(log.chat_id)
          return
        }
        if (first) missed = afterSeq < page.first_seq - 1
        let confirm: StoredMsg | undefined
        for (const m of page.messages) {
          if (!this.replay(page.chat_id, m)) continue
          count++
          if (m.from !== this.identity?.user_id && m.status !== 'received') confirm = m
        }
        // One receipt covers every earlier message of the chat (a watermark).
        if (confirm && this.opts.autoReceipt) this.transmit({ type: 'MSG_ACK', data: { message_id: confirm.message_id, chat_id: page.chat_id } })
        const last = page.messages.at(-1)
        if (page.has_more && last) return step(last.seq, false)
        this.catchingUp.delete(log.chat_id)
        const done: CaughtUp = { chat_id: log.chat_id, after_seq: after, last_seq: page.last_seq, count, missed }
        if (log.peer !== undefined) done.target_user_id = log.peer
        this.emit('caught_up', done)
      }, (err: FastChatError) => {
        if (this.catchingUp.get(log.chat_id) !== run) return
        this.catchingUp.delete(log.chat_id)
        this.debug('catch-up failed', { chat_id: log.chat_id, code: err.code })
        // HISTORY shares the MSG rate limit: try again when it allows.
        if (err.code === 'RATE_LIMITED' && this.identified && this.timers.catchUp === undefined) {
          const wait = typeof err.details.retry_after_ms === 'number' ? err.details.retry_after_ms : 60_000
          this.timers.catchUp = setTimeout(() => {
            this.timers.catchUp = undefined
            for (const l of this.logs.values()) if (l.announced > l.seq) this.catchUp(l)
          }, wait)
        }
      })
    }
    step(after, true)
  }

  /**
   * A message of this user found in a page of a chat's log (the application's or the catch-up's)
   * while it is still waiting for its ack (the ack was lost with a connection): it is sent, with
   * the status the log gives it, and is not resent (a resend could only be refused, by the rate
   * limit say, and show a sent message as failed). True when it was waiting.
   */
  private settledFromLog(chatId: string, m: StoredMsg): boolean {
    // The same id and the same recipient: ids are the application's own, and two chats may hold one.
    if (!this.outbox.some((e) => e.message_id === m.message_id && e.to === m.to)) return false
    // Not onAck: no MSG_ACK frame came, so the application's raw-frame event does not fire.
    this.acked({ message_id: m.message_id, status: m.status, chat_id: chatId, seq: m.seq, content: m.content })
    return true
  }

  /** A message the catch-up found: reported unless this client has it already. */
  private replay(chatId: string, m: StoredMsg): boolean {
    const log = this.logs.get(chatId)
    if (log) this.noteSeq(log, m.seq)
    const me = this.identity?.user_id
    if (m.from === me && this.settledFromLog(chatId, m)) return false
    const key = `${m.from}\n${m.message_id}`
    if (this.seen.has(key)) return false
    remember(this.seen, key, true)
    this.emit('message', { from: m.from, to: m.to, content: m.content, message_id: m.message_id, timestamp: m.timestamp, chat_id: chatId, seq: m.seq, status: m.status })
    return true
  }

  // ------------------------------------------------------------------ helpers

  private defer<T>(list: Deferred<T>[]): Promise<T> {
    return new Promise<T>((resolve, reject) => list.push({ resolve, reject, deferred: !this.identified }))
  }

  private checkPeer(userId: string, field: string): FastChatError | undefined {
    if (!isUuidV4(userId)) return new FastChatError('VALIDATION', `${field} must be a UUID v4`, { errors: [{ path: `/data/${field}`, message: 'must be a UUID v4' }] })
    if (userId === this.identity?.user_id) return new FastChatError('VALIDATION', 'cannot chat with yourself', { errors: [{ path: `/data/${field}`, message: 'cannot chat with yourself' }] })
    return undefined
  }
}

/** A HISTORY request the server would refuse (SPEC 9's schema), said before spending a rate-limit token on it. */
function checkHistoryQuery(chatId: string, q: HistoryQuery): string | undefined {
  if (typeof chatId !== 'string' || chatId.length < 1 || chatId.length > 64) return 'chat_id must be 1–64 characters'
  const data: Partial<ClientHistory['data']> = q
  if (data.before_seq !== undefined && data.after_seq !== undefined) return 'before_seq and after_seq: not both'
  if (data.before_seq !== undefined && !(Number.isSafeInteger(data.before_seq) && data.before_seq >= 1)) return 'before_seq must be an integer ≥ 1'
  if (data.after_seq !== undefined && !(Number.isSafeInteger(data.after_seq) && data.after_seq >= 0)) return 'after_seq must be an integer ≥ 0'
  if (data.limit !== undefined && !(Number.isInteger(data.limit) && data.limit >= 1 && data.limit <= 100)) return 'limit must be an integer 1–100'
  return undefined
}

function closedError(reason = 'the client was closed'): FastChatError {
  return new FastChatError('CLOSED', reason)
}

/** Stop listening to a socket and let it go without waiting for a closing handshake. */
function abandon(sock: WebSocketLike, polite = false): void {
  try {
    if (!polite && sock.terminate) sock.terminate()
    else sock.close(1000)
  } catch {
    // Closing a socket that never opened may throw in some runtimes; it is gone either way.
  }
}

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.set(key, value)
  if (map.size > REMEMBERED_IDS) map.delete(map.keys().next().value!)
}

function removeFirst<T>(list: T[], value: T): void {
  const i = list.indexOf(value)
  if (i >= 0) list.splice(i, 1)
}
