// Who may come in, decided before any upgrade, the same whichever way a handshake arrives
// (Fastify's lifecycle, plugins/admission.ts, or the direct upgrade, plugins/websocket.ts):
// while draining, nothing but /health and /metrics (503, so a proxy moves traffic away); a
// WebSocket handshake from a browser origin that is not allowed gets 403 (SPEC section 0); past
// MAX_CONNECTIONS_PER_IP for the client's address 429, past MAX_CONNECTIONS for the process 503
// (caps.ts). Allowed origins: none sent (non-browser clients), one whose host is the request's
// Host, any in ALLOWED_ORIGINS, everything with `*`.
import type { Socket } from 'node:net'
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.ts'
import type { RefusalReason } from '../metrics/metrics.ts'
import { addressKey, ConnectionCaps } from './caps.ts'

/** Seconds a refused client should wait before trying again (Retry-After). */
const RETRY_AFTER_S = { per_ip: 10, capacity: 5 } as const

/** What admission needs to know of a request. */
export interface Arrival {
  /** The route's path pattern (`/health`, `/ws/:walker`), undefined when no route matched. */
  route: string | undefined
  /** A WebSocket handshake (only those are checked for origin and counted against the caps). */
  upgrade: boolean
  origin: string | undefined
  host: string | undefined
  /** The client's address, TRUST_PROXY applied. */
  ip: string
  /** The TCP socket whose close gives the slot back; absent on an injected upgrade, which holds none. */
  socket: Socket | undefined
}

/** The answer to a request that may not come in. */
export interface Refusal {
  status: 403 | 429 | 503
  headers: Record<string, string>
  body: { error: string; message: string }
}

export function originAllowed(origin: string | undefined, host: string | undefined, config: Config): boolean {
  if (origin === undefined) return true
  if (config.allowAnyOrigin || config.allowedOrigins.includes(origin)) return true
  if (!host) return false
  try {
    return new URL(origin).host === host.toLowerCase()
  } catch {
    return false
  }
}

export class Admission {
  /** WebSocket slots held now, in total and per address (tests and metrics read them). */
  readonly caps: ConnectionCaps

  constructor(
    private readonly config: Config,
    private readonly draining: () => boolean,
    /** Counts a refused handshake (the metrics' refusal counter). */
    private readonly refused: (reason: RefusalReason) => void
  ) {
    this.caps = new ConnectionCaps(config.MAX_CONNECTIONS, config.MAX_CONNECTIONS_PER_IP)
  }

  /**
   * The refusal for a request that may not come in; undefined lets it through (and a handshake
   * then holds a slot). `log` gives the request's logger, asked for only to log a refusal.
   */
  check(a: Arrival, log: () => FastifyBaseLogger): Refusal | undefined {
    // /health still answers with its body while draining; /metrics too, so a scrape shows the drain progressing.
    if (this.draining() && !a.route?.startsWith('/health') && a.route !== '/metrics') {
      if (a.upgrade) this.refused('draining')
      return { status: 503, headers: { connection: 'close' }, body: { error: 'Service Unavailable', message: 'server shutting down' } }
    }
    if (!a.upgrade) return undefined
    if (!originAllowed(a.origin, a.host, this.config)) {
      log().info({ origin: a.origin }, 'handshake refused: origin not allowed')
      this.refused('origin')
      return { status: 403, headers: {}, body: { error: 'Forbidden', message: 'origin not allowed' } }
    }
    // The slot belongs to the TCP socket: its close gives it back, whatever ends it.
    if (!a.socket) return undefined
    const slot = this.caps.admit(addressKey(a.ip))
    if (typeof slot === 'function') {
      a.socket.once('close', slot)
      return undefined
    }
    this.refused(slot)
    // Debug, not info: a client hammering the cap would otherwise flood the log; the refusal
    // counter (switchboard_handshakes_refused_total) shows the rate.
    log().debug({ reason: slot }, 'handshake refused: connection cap')
    const headers = { 'retry-after': String(RETRY_AFTER_S[slot]) }
    return slot === 'per_ip'
      ? { status: 429, headers, body: { error: 'Too Many Requests', message: 'too many connections from this address' } }
      : { status: 503, headers, body: { error: 'Service Unavailable', message: 'server at connection capacity' } }
  }
}
