// The two connections an instance keeps to the Redis the instances share: `cmd` for commands
// and PUBLISH, `sub` in subscriber mode (Redis allows nothing else on a subscribed connection).
// Both fail fast while Redis is away (no offline queue, no retries, a command timeout), so an
// outage costs errors the callers turn into local fallbacks, never a growing queue. The link
// knows whether both are up, owns the set of channels this instance wants and subscribes them
// again whenever `sub` comes back, and routes incoming messages by channel prefix.
import { within } from '../lib/awaitable.ts'
import { Redis, type RedisOptions } from 'ioredis'
import type { MessageBus } from './fanout.ts'

/** The pino methods the backplane logs through (app.log fits); no Fastify in here. */
export interface BackplaneLog {
  debug(obj: object, msg: string): void
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

export interface RedisLinkOptions {
  url: string
  log: BackplaneLog
  /** A command with no reply after this long fails (a hung or partitioned Redis). */
  commandTimeoutMs?: number
}

type Route = { prefix: string; handler: (rest: string, message: string) => void }

/** Reconnect quickly (Redis coming back should be noticed within a second) without spinning. */
const retryDelay = (attempt: number) => Math.min(100 * attempt, 1000)

/**
 * Every connection of the service to Redis: while Redis is away a command fails at once instead
 * of waiting in memory (callers fall back to this instance's own state, or tell their client to
 * retry), and nothing replays stale work later. Connected explicitly (lazyConnect).
 */
export function failFastOptions(commandTimeoutMs = 1000): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: commandTimeoutMs,
    connectTimeout: 2000,
    retryStrategy: retryDelay
  }
}

export class RedisLink implements MessageBus {
  readonly cmd: Redis
  readonly sub: Redis
  /** Channels this instance wants, subscribed or not: the source of truth after a reconnect. */
  private readonly wanted = new Set<string>()
  private readonly routes: Route[] = []
  private readonly upListeners = new Set<() => void>()
  private readonly downListeners = new Set<() => void>()
  /** `sub` is ready and every wanted channel was subscribed again after its last (re)connect. */
  private subscribed = false
  private isUp = false
  private closing = false
  private readonly log: BackplaneLog

  constructor(opts: RedisLinkOptions) {
    this.log = opts.log
    const common = failFastOptions(opts.commandTimeoutMs)
    this.cmd = new Redis(opts.url, { ...common, connectionName: 'switchboard' })
    // ioredis re-subscribes only channels whose SUBSCRIBE it saw confirmed; with the offline
    // queue off, a user who joins during an outage would be lost. `wanted` is re-sent instead.
    this.sub = new Redis(opts.url, { ...common, connectionName: 'switchboard-sub', autoResubscribe: false })

    this.cmd.on('ready', () => this.update())
    this.sub.on('ready', () => void this.resubscribe())
    for (const conn of [this.cmd, this.sub]) {
      conn.on('close', () => {
        if (conn === this.sub) this.subscribed = false
        this.update()
      })
      // Every failed reconnect emits an error; the outage itself is logged once, in update().
      conn.on('error', (err: Error) => this.log.debug({ err }, 'redis connection error'))
    }
    this.sub.on('message', (channel: string, message: string) => this.dispatch(channel, message))
  }

  /** Both connections are usable. */
  get up(): boolean {
    return this.isUp
  }

  /** Connect both; resolves once up or after `waitMs`, whichever is first (reconnects go on). */
  async connect(waitMs: number): Promise<boolean> {
    const up = new Promise<void>((resolve) => {
      const once = () => {
        this.upListeners.delete(once)
        resolve()
      }
      this.onUp(once)
    })
    // Rejections are reported through 'error' and retried by ioredis itself.
    this.cmd.connect().catch(() => {})
    this.sub.connect().catch(() => {})
    await within(up, waitMs)
    return this.isUp
  }

  onUp(fn: () => void): void {
    this.upListeners.add(fn)
  }

  onDown(fn: () => void): void {
    this.downListeners.add(fn)
  }

  /** Messages on channels starting with `prefix` go to `handler` with the rest of the name. */
  route(prefix: string, handler: (rest: string, message: string) => void): void {
    this.routes.push({ prefix, handler })
  }

  /** Resolves once Redis confirmed it (at once while down: it is sent on reconnect). */
  async subscribe(channel: string): Promise<void> {
    this.wanted.add(channel)
    if (this.sub.status !== 'ready') return
    try {
      await this.sub.subscribe(channel)
    } catch (err) {
      this.log.debug({ err, channel }, 'subscribe failed; retried on reconnect')
    }
  }

  unsubscribe(channel: string): void {
    if (!this.wanted.delete(channel) || this.sub.status !== 'ready') return
    this.sub.unsubscribe(channel).catch((err: Error) => this.log.debug({ err, channel }, 'unsubscribe failed'))
  }

  /** Fire and forget; dropped while Redis is away. */
  publish(channel: string, message: string): void {
    if (!this.isUp) return
    this.cmd.publish(channel, message).catch((err: Error) => this.log.debug({ err, channel }, 'publish failed'))
  }

  async close(): Promise<void> {
    this.closing = true
    await Promise.all([this.cmd, this.sub].map((conn) => quit(conn)))
  }

  private dispatch(channel: string, message: string): void {
    for (const r of this.routes) {
      if (!channel.startsWith(r.prefix)) continue
      try {
        r.handler(channel.slice(r.prefix.length), message)
      } catch (err) {
        this.log.error({ err, channel }, 'handling a backplane message failed')
      }
      return
    }
  }

  private async resubscribe(): Promise<void> {
    try {
      // In slices: an instance may want tens of thousands of user channels.
      const wanted = [...this.wanted]
      for (let i = 0; i < wanted.length; i += 1000) await this.sub.subscribe(...wanted.slice(i, i + 1000))
      this.subscribed = true
    } catch (err) {
      // The connection dropped again; its next 'ready' retries.
      this.log.debug({ err }, 'resubscribe failed')
    }
    this.update()
  }

  private update(): void {
    const up = !this.closing && this.cmd.status === 'ready' && this.sub.status === 'ready' && this.subscribed
    if (up === this.isUp) return
    this.isUp = up
    if (this.closing) return
    if (up) this.log.info({}, 'redis is up')
    else this.log.warn({}, 'redis is unreachable; serving local users only until it returns')
    for (const fn of up ? this.upListeners : this.downListeners) fn()
  }
}

/** QUIT lets replies in flight arrive; a connection that is down is just stopped. */
async function quit(conn: Redis): Promise<void> {
  if (conn.status !== 'ready') {
    conn.disconnect()
    return
  }
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([conn.quit(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('quit timed out')), 1000)))])
  } catch {
    conn.disconnect()
  } finally {
    clearTimeout(timer)
  }
}
