// The admin console's server side: the sockets of /admin/ws and what goes to them. On connect a
// `hello` with the sampler's window (the charts' history); then every second a `tick` with the new
// sample, this instance's users (filtered as the socket asked) and, with Redis, every instance;
// Redis is waited for REDIS_WAIT_MS at most, then the last answers go (src/admin/lookup.ts).
// The socket may ask for a `filter` and `disconnect` a user. docs/admin.md is the reference.
import type { WebSocket } from 'ws'
import type { FastifyBaseLogger } from 'fastify'
import type { InstanceBoard } from '../backplane/instance-board.ts'
import { SURFACES } from '../metrics/metrics.ts'
import { isPlainObject, parseJson } from '../lib/json.ts'
import type { Sample, Sampler } from './sampler.ts'
import type { Disconnected, Hello, InstanceRow, Instances, RequestError, Tick } from './feed.ts'
import { Lookup } from './lookup.ts'
import { DEFAULT_CLOSE, disconnectUser, listUsers, MAX_REASON_BYTES, validCloseCode, type PartnerLookup, type UserList, type UserSources } from './users.ts'

export interface ConsoleSources extends UserSources {
  instanceId: string
  version: string
  startedAt: number
  /** With Redis: every instance's lease and counts. */
  board: InstanceBoard | undefined
  log: FastifyBaseLogger
}


/** A console reading slower than this is dropped rather than buffered for. */
const MAX_BUFFERED = 4 * 1024 * 1024
/** Frames from the console are small requests; anything bigger is not one of them. */
const MAX_REQUEST_BYTES = 4096
const MAX_FILTER = 100
/** How long a closing console may take to answer the close frame at shutdown. */
const CLOSE_WAIT_MS = 1000
/**
 * How long a tick waits for Redis (the instance list, users' chats) before it goes out with the
 * last answers: well inside the second between ticks, well below Redis's command timeout.
 */
export const REDIS_WAIT_MS = 300

export class AdminError extends Error {}

interface Client {
  filter: string
}

export class AdminConsole {
  private readonly clients = new Map<WebSocket, Client>()
  private closed = false
  private readonly board: Lookup<InstanceRow[]> | undefined
  /** Per listed user: their chats' last answer and the look-up in flight. */
  private readonly chats = new Map<string, Lookup<string[]>>()

  constructor(private readonly sampler: Sampler, private readonly src: ConsoleSources) {
    const board = src.board
    this.board = board && new Lookup(() => board.list())
  }

  get size(): number {
    return this.clients.size
  }

  /** A new console socket (already authenticated): its hello, then ticks until it closes. */
  attach(socket: WebSocket): void {
    if (this.closed) return socket.close(1001, 'server shutting down')
    const client: Client = { filter: '' }
    this.clients.set(socket, client)
    socket.on('close', () => this.clients.delete(socket))
    socket.on('message', (data, isBinary) => this.request(socket, client, data as Buffer, isBinary))
    this.send(socket, JSON.stringify({
      type: 'hello',
      instance: this.src.instanceId,
      version: this.src.version,
      started_at: this.src.startedAt,
      surfaces: SURFACES,
      redis: this.src.board !== undefined,
      close_default: DEFAULT_CLOSE,
      history: this.sampler.history()
    } satisfies Hello))
    void this.tickOne(socket, client)
  }

  /** The sampler took a sample: publish it for the other instances, and tick every console. */
  async onSample(sample: Sample): Promise<void> {
    const board = this.src.board
    if (board) {
      board.publish({
        connections: sample.conns,
        users: this.src.hub.size,
        heap_used: sample.heap_used,
        rss: sample.rss,
        started_at: this.src.startedAt
      }).catch((err: Error) => this.src.log.debug({ err }, 'admin: could not publish this instance\'s stats'))
    }
    if (this.clients.size === 0) return
    // Every sample gets its tick, even while the previous one still waits: Redis is waited for
    // REDIS_WAIT_MS at most (src/admin/lookup.ts), so ticks cannot pile up.
    try {
      const filters = [...new Set([...this.clients.values()].map((c) => c.filter))]
      const [instances, ...lists] = await Promise.all([this.instances(), ...filters.map((f) => this.users(f))])
      const byFilter = new Map(filters.map((f, i) => [f, lists[i]!]))
      for (const [socket, client] of this.clients) {
        const users = byFilter.get(client.filter)
        // A console that changed its filter meanwhile gets its own tick from that request.
        if (users) this.send(socket, JSON.stringify({ type: 'tick', sample, users, instances } satisfies Tick))
      }
    } catch (err) {
      this.src.log.warn({ err }, 'admin: a tick failed')
    }
  }

  /** What the console shows, for GET /admin/api/state. */
  async state(filter = ''): Promise<Record<string, unknown>> {
    const [users, instances] = await Promise.all([this.users(filter), this.instances()])
    return {
      instance: this.src.instanceId,
      version: this.src.version,
      started_at: this.src.startedAt,
      sample: this.sampler.latest() ?? null,
      users,
      instances
    }
  }

  /**
   * Close a user's connections on this instance with an operator's code and reason. A code or
   * reason absent or null takes the default, from the socket and over HTTP alike.
   */
  disconnect(userId: unknown, code?: unknown, reason?: unknown): Disconnected {
    code ??= DEFAULT_CLOSE.code
    reason ??= DEFAULT_CLOSE.reason
    if (typeof userId !== 'string' || userId === '') throw new AdminError('user_id: a non-empty string')
    if (typeof code !== 'number' || !validCloseCode(code)) throw new AdminError('code: 1000, 1001, 1008, 1011, 1012, 1013 or 4000–4999')
    if (typeof reason !== 'string' || Buffer.byteLength(reason) > MAX_REASON_BYTES) throw new AdminError(`reason: a string of at most ${MAX_REASON_BYTES} bytes`)
    const closed = disconnectUser(this.src.hub, userId, code, reason)
    this.src.log.info({ user_id: userId, code, reason, closed }, 'admin: closed a user\'s connections')
    return { user_id: userId, code, reason, closed }
  }

  /** Shutdown: every console gets 1001 and no more ticks; one that does not answer within a second is cut. */
  async close(): Promise<void> {
    this.closed = true
    const sockets = [...this.clients.keys()]
    const gone = sockets.map((socket) => new Promise<void>((resolve) => {
      if (socket.readyState === 3) return resolve()
      socket.once('close', () => resolve())
      socket.close(1001, 'server shutting down')
    }))
    let timer: NodeJS.Timeout | undefined
    await Promise.race([Promise.all(gone), new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))])
    clearTimeout(timer)
    for (const socket of sockets) if (socket.readyState !== 3) socket.terminate()
  }

  /** Every instance, or, when Redis fails or keeps quiet past REDIS_WAIT_MS, why not and the last list. */
  private async instances(): Promise<Instances | undefined> {
    if (!this.board) return undefined
    const read = await this.board.read(REDIS_WAIT_MS)
    if (read.fresh) return { rows: read.value! }
    const error = `redis does not answer: ${read.error}`
    return read.value ? { error, rows: read.value } : { error }
  }

  private async users(filter: string): Promise<UserList> {
    const list = await listUsers(this.src, filter, this.partnersOf)
    this.forgetChats()
    return list
  }

  /** A user's chats from the store, waited for REDIS_WAIT_MS at most (then the last known ones). */
  private readonly partnersOf: PartnerLookup = async (userId) => {
    let lookup = this.chats.get(userId)
    if (!lookup) this.chats.set(userId, (lookup = new Lookup(() => this.src.partners(userId))))
    const read = await lookup.read(REDIS_WAIT_MS)
    return { partners: read.value ?? [], fresh: read.fresh }
  }

  /** Look-ups of users gone from this instance: they are listed no more. */
  private forgetChats(): void {
    for (const userId of this.chats.keys()) if (this.src.hub.sessionsOf(userId).size === 0) this.chats.delete(userId)
  }

  private async tickOne(socket: WebSocket, client: Client): Promise<void> {
    const sample = this.sampler.latest()
    if (!sample) return
    try {
      const [users, instances] = await Promise.all([this.users(client.filter), this.instances()])
      this.send(socket, JSON.stringify({ type: 'tick', sample, users, instances } satisfies Tick))
    } catch (err) {
      this.src.log.warn({ err }, 'admin: a tick failed')
    }
  }

  private request(socket: WebSocket, client: Client, data: Buffer, isBinary: boolean): void {
    const refuse = (message: string) => this.send(socket, JSON.stringify({ type: 'error', message } satisfies RequestError))
    if (isBinary || data.length > MAX_REQUEST_BYTES) return refuse('requests are JSON text of at most 4 KB')
    const parsed = parseJson(data.toString())
    if (!parsed.ok || !isPlainObject(parsed.value)) return refuse('requests are JSON objects')
    const msg = parsed.value
    try {
      switch (msg.type) {
        case 'filter':
          if (typeof msg.q !== 'string' || msg.q.length > MAX_FILTER) throw new AdminError(`q: a string of at most ${MAX_FILTER} characters`)
          client.filter = msg.q
          void this.tickOne(socket, client)
          return
        case 'disconnect':
          this.send(socket, JSON.stringify({ type: 'disconnected', ...this.disconnect(msg.user_id, msg.code, msg.reason) }))
          return
        default:
          throw new AdminError('type: filter or disconnect')
      }
    } catch (err) {
      if (!(err instanceof AdminError)) throw err
      this.send(socket, JSON.stringify({ type: 'error', request: msg.type, message: err.message } satisfies RequestError))
    }
  }

  private send(socket: WebSocket, frame: string): void {
    if (socket.readyState !== 1) return
    if (socket.bufferedAmount > MAX_BUFFERED) {
      socket.terminate()
      return
    }
    socket.send(frame)
  }
}
