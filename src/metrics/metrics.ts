// Switchboard's Prometheus metrics (prom-client), free of Fastify: the plugin feeds it sources
// (connection counts, presence size, backplane state) and the transport reports every frame.
// Every label value comes from a fixed set chosen here, never from what a client sent, so a
// hostile client cannot grow the series count (user ids, walker names, odd types become "other").
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import type { RawData } from 'ws'
import type { Surface } from '../transport/connections.ts'
import { ErrorCode } from '../protocol/error-codes.ts'

export const SURFACES: readonly Surface[] = ['main', 'echo', 'health', 'walker']

export type Direction = 'in' | 'out'

/**
 * Why a handshake was refused before the upgrade. `capacity` and `per_ip` are for the
 * connection caps (MAX_CONNECTIONS, MAX_CONNECTIONS_PER_IP) when admission enforces them.
 */
export type RefusalReason = 'origin' | 'draining' | 'capacity' | 'per_ip'

/** Message types any dialect defines (SPEC sections 2–5); anything else counts as "other". */
const MESSAGE_TYPES = new Set([
  // FastChat and the /ws greeting
  'WELCOME', 'HELLO', 'HELLO_ACK', 'PRESENCE', 'OPEN_CHAT', 'CHAT_OPENED', 'MSG', 'MSG_ACK', 'TYPING', 'PING', 'PONG', 'ERROR',
  // smoke-test dialects (/ws lower-case ping, /ws/echo, /ws/health)
  'ping', 'pong', 'echo', 'echo_raw', 'welcome', 'server_ping', 'health_status', 'heartbeat', 'get_status', 'error'
])
/** Actions of the {action, payload} dialect on /ws/echo, labelled `action:<name>`. */
const ACTIONS = new Set(['ping', 'pong', 'echo', 'authentication', 'status', 'complete', 'error'])
/** FastChat ERROR codes plus the walker envelope's own. */
const ERROR_CODES = new Set<string>([...Object.values(ErrorCode), 'NOT_FOUND', 'EXECUTION_ERROR'])
/** Close codes the service or a well-behaved peer uses; a peer's other codes become "other". */
const CLOSE_CODES = new Set([1000, 1001, 1005, 1006, 1007, 1008, 1009, 1011, 4000, 4004, 4403])

// A frame's leading key, read from its first bytes without parsing the whole frame: every frame
// the server builds is JSON.stringify of a literal that starts with its type, action or ok.
const LEADING = /^\s*\{\s*"(type|action|ok)"\s*:\s*(?:"([A-Za-z_]{1,32})"|(true|false))/
// The code of an error frame the server built: FastChat's ERROR and the walker envelope.
const ERROR_FRAME = /^\{"(?:type":"ERROR","data"|ok":false,"error"):\{"code":"([A-Z_]{1,32})"/

/** The bounded `type` label for a frame. */
export function frameType(data: RawData | string, isBinary: boolean, direction: Direction): string {
  if (isBinary) return 'binary'
  // Outgoing Buffers are verbatim echoes of what a client sent: not the server's to classify.
  if (direction === 'out' && typeof data !== 'string') return 'raw'
  const head = typeof data === 'string' ? data.slice(0, 64) : headOf(data)
  const m = LEADING.exec(head)
  if (!m) return /^\s*[[{]/.test(head) ? 'other' : 'text'
  if (m[1] === 'ok') return m[3] === 'true' ? 'reply_ok' : 'reply_error'
  const name = m[2]
  if (name === undefined) return 'other'
  if (m[1] === 'action') return ACTIONS.has(name) ? `action:${name}` : 'other'
  return MESSAGE_TYPES.has(name) ? name : 'other'
}

function headOf(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.subarray(0, 64).toString()
  if (Array.isArray(data)) return Buffer.concat(data).subarray(0, 64).toString()
  return Buffer.from(data).subarray(0, 64).toString()
}

export interface MetricSources {
  /** Open connections on one surface, this instance. */
  connections(surface: Surface): number
  /** Users online service-wide (0 while the app has no presence). */
  presenceSize(): number
  /** 1 when the state backplane is reachable, 0 when not. */
  backplaneUp(): number
}

// Process-wide metrics (event-loop lag, memory, GC, handles) exist once per process, however
// many apps a test builds; each app's registry is merged with this one when scraped.
let processRegistry: Registry | undefined
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

export class Metrics {
  /** This app's own series; `scrape()` adds the process-wide ones. */
  readonly registry = new Registry()
  private readonly scraped: Registry
  private readonly messages: Counter<'surface' | 'direction' | 'type'>
  private readonly errors: Counter<'code'>
  private readonly refusals: Counter<'reason'>
  private readonly opened: Counter<'surface'>
  private readonly closed: Counter<'surface' | 'code'>

  constructor(sources: MetricSources) {
    const registers = [this.registry]
    const counter = <L extends string>(name: string, help: string, labelNames: L[]) => new Counter<L>({ name, help, labelNames, registers })
    new Gauge({
      name: 'switchboard_ws_connections',
      help: 'Open WebSocket connections on this instance, per surface.',
      labelNames: ['surface'],
      registers,
      collect() {
        for (const surface of SURFACES) this.set({ surface }, sources.connections(surface))
      }
    })
    this.opened = counter('switchboard_ws_connections_opened_total', 'WebSocket connections accepted, per surface.', ['surface'])
    this.closed = counter('switchboard_ws_connections_closed_total', 'WebSocket connections closed, per surface and close code as this side saw it (1006: no close frame, e.g. a terminated dead peer).', ['surface', 'code'])
    this.messages = counter('switchboard_ws_messages_total', 'WebSocket frames received (in) and sent (out), per surface and message type (the frame\'s leading type/action; text, binary, raw, other otherwise).', ['surface', 'direction', 'type'])
    this.errors = counter('switchboard_errors_total', 'Error replies sent to clients, per error code (FastChat ERROR, walker envelope).', ['code'])
    this.refusals = counter('switchboard_handshakes_refused_total', 'WebSocket handshakes refused before the upgrade, per reason.', ['reason'])
    new Gauge({
      name: 'switchboard_presence_users',
      help: 'Users online service-wide, as this instance sees them.',
      registers,
      collect() {
        this.set(sources.presenceSize())
      }
    })
    new Gauge({
      name: 'switchboard_backplane_up',
      help: 'Whether the backplane that shares state between instances is reachable (1) or not (0).',
      registers,
      collect() {
        this.set(sources.backplaneUp())
      }
    })
    // Series that exist from the start read 0 instead of being absent, so rate() and alerts
    // work before the first event.
    for (const surface of SURFACES) {
      this.opened.inc({ surface }, 0)
      for (const direction of ['in', 'out'] as const) this.messages.inc({ surface, direction, type: 'other' }, 0)
    }
    for (const reason of ['origin', 'draining'] as const) this.refusals.inc({ reason }, 0)
    this.scraped = Registry.merge([this.registry, processMetrics()])
  }

  /** One message on a surface. `type` outside the known set is counted as "other". */
  countMessage(surface: Surface, direction: Direction, type: string): void {
    this.messages.inc({ surface, direction, type: this.knownType(type) })
  }

  /**
   * One error reply. Error frames sent through app.connections are counted already (see
   * `frame`); call this only for errors that reach a client another way (HTTP walker replies).
   */
  countError(code: string): void {
    this.errors.inc({ code: ERROR_CODES.has(code) ? code : 'other' })
  }

  countRefusal(reason: RefusalReason): void {
    this.refusals.inc({ reason })
  }

  /** The transport's report of one frame: counts it, and an error frame's code. */
  frame(surface: Surface, direction: Direction, data: RawData | string, isBinary: boolean): void {
    this.messages.inc({ surface, direction, type: frameType(data, isBinary, direction) })
    if (direction === 'out' && typeof data === 'string') {
      const m = ERROR_FRAME.exec(data)
      if (m) this.countError(m[1]!)
    }
  }

  connectionOpened(surface: Surface): void {
    this.opened.inc({ surface })
  }

  connectionClosed(surface: Surface, code: number): void {
    this.closed.inc({ surface, code: CLOSE_CODES.has(code) ? String(code) : 'other' })
  }

  get contentType(): string {
    return this.scraped.contentType
  }

  /** The Prometheus text exposition of this app's and the process's metrics. */
  scrape(): Promise<string> {
    return this.scraped.metrics()
  }

  private knownType(type: string): string {
    if (MESSAGE_TYPES.has(type) || ['text', 'binary', 'raw', 'reply_ok', 'reply_error'].includes(type)) return type
    if (type.startsWith('action:') && ACTIONS.has(type.slice(7))) return type
    return 'other'
  }
}
