// The admin console's server side: the sockets of /admin/ws and what goes to them. On connect a
// `hello` with the sampler's window (the charts' history); then every second a `tick` with the new
// sample, this instance's users (filtered as the socket asked) and, with Redis, every instance.
// The socket may ask for a `filter` and `disconnect` a user. docs/admin.md is the reference.
import type { WebSocket } from 'ws'
import type { FastifyBaseLogger } from 'fastify'
import type { InstanceBoard } from '../backplane/instance-board.ts'
import { SURFACES } from '../metrics/metrics.ts'
import { isPlainObject, parseJson } from '../lib/json.ts'
import type { Sample, Sampler } from './sampler.ts'
import type { Disconnected, Hello, Instances, RequestError, Tick } from './feed.ts'
import { DEFAULT_CLOSE, disconnectUser, listUsers, MAX_REASON_BYTES, validCloseCode, type UserList, type UserSources } from './users.ts'

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

export class AdminError extends Error {}

interface Client {
  filter: string
}

export class AdminConsole {
  private readonly clients = new Map<WebSocket, Client>()
  private ticking = false
  private closed = false

  constructor(private readonly sampler: Sampler, private readonly src: ConsoleSources) {}

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
    if (this.clients.size === 0 || this.ticking) return
    this.ticking = true
    try {
      const instances = await this.instances()
      const lists = new Map<string, UserList>()
      for (const [socket, client] of this.clients) {
        let users = lists.get(client.filter)
        if (!users) lists.set(client.filter, (users = await listUsers(this.src, client.filter)))
        this.send(socket, JSON.stringify({ type: 'tick', sample, users, instances } satisfies Tick))
      }
    } catch (err) {
      this.src.log.warn({ err }, 'admin: a tick failed')
    } finally {
      this.ticking = false
    }
  }

  /** What the console shows, for GET /admin/api/state. */
  async state(filter = ''): Promise<Record<string, unknown>> {
    return {
      instance: this.src.instanceId,
      version: this.src.version,
      started_at: this.src.startedAt,
      sample: this.sampler.latest() ?? null,
      users: await listUsers(this.src, filter),
      instances: await this.instances()
    }
  }

  /** Close a user's connections on this instance with an operator's code and reason. */
  disconnect(userId: unknown, code: unknown = DEFAULT_CLOSE.code, reason: unknown = DEFAULT_CLOSE.reason): Disconnected {
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

  private async instances(): Promise<Instances | undefined> {
    if (!this.src.board) return undefined
    try {
      return { rows: await this.src.board.list() }
    } catch (err) {
      return { error: `redis does not answer: ${(err as Error).message}` }
    }
  }

  private async tickOne(socket: WebSocket, client: Client): Promise<void> {
    const sample = this.sampler.latest()
    if (!sample) return
    try {
      const [users, instances] = await Promise.all([listUsers(this.src, client.filter), this.instances()])
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
          this.send(socket, JSON.stringify({ type: 'disconnected', ...this.disconnect(msg.user_id, msg.code ?? DEFAULT_CLOSE.code, msg.reason ?? DEFAULT_CLOSE.reason) }))
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
