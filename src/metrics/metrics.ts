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
 * Why a handshake was refused before the upgrade: a foreign origin (403), the drain (503), the
 * connection caps MAX_CONNECTIONS (`capacity`, 503) and MAX_CONNECTIONS_PER_IP (`per_ip`, 429).
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

/** Every `type` label value, so a frame is counted by index into a plain array. */
const TYPE_LABELS: readonly string[] = [
  ...MESSAGE_TYPES, ...[...ACTIONS].map((a) => `action:${a}`), 'text', 'binary', 'raw', 'reply_ok', 'reply_error', 'other'
]
const TYPE_INDEX = new Map(TYPE_LABELS.map((label, i) => [label, i]))
const typeIndex = (label: string) => TYPE_INDEX.get(label) ?? OTHER
const OTHER = TYPE_LABELS.length - 1
const TEXT = TYPE_LABELS.indexOf('text')
const BINARY = TYPE_LABELS.indexOf('binary')
const RAW = TYPE_LABELS.indexOf('raw')
const REPLY_OK = TYPE_LABELS.indexOf('reply_ok')
const REPLY_ERROR = TYPE_LABELS.indexOf('reply_error')
const ERROR = TYPE_LABELS.indexOf('ERROR')

/**
 * The fast path reads the frames the server builds, and well-behaved clients send, in place:
 * `{"type":"NAME"`, `{"action":"NAME"` or `{"ok":true|false`, and plain text. A name is found by
 * a hash of its characters, checked character by character, so counting a frame allocates
 * nothing. Everything else (whitespace, other spellings) takes the regular expression above.
 */
interface KnownName {
  name: string
  /** Label index as `"type":"name"` and as `"action":"name"`. */
  asType: number
  asAction: number
}
const NAMES = new Map<number, KnownName[]>()
/** What an unknown name's hash finds: shared, so a miss allocates nothing. */
const NO_NAMES: readonly KnownName[] = []
for (const name of new Set([...MESSAGE_TYPES, ...ACTIONS])) {
  let h = 0
  for (let i = 0; i < name.length; i++) h = (Math.imul(h, 31) + name.charCodeAt(i)) | 0
  const known = { name, asType: MESSAGE_TYPES.has(name) ? typeIndex(name) : OTHER, asAction: ACTIONS.has(name) ? typeIndex(`action:${name}`) : OTHER }
  NAMES.set(h, [...(NAMES.get(h) ?? []), known])
}
const TYPE_HEAD = '{"type":"'
const ACTION_HEAD = '{"action":"'
const OK_TRUE = '{"ok":true'
const OK_FALSE = '{"ok":false'
const LEADING_KEYS = ['{"type"', '{"action"', '{"ok"']
const NO_MATCH = -1

/**
 * A frame's first characters as bytes: a Buffer is read as it is; a string's first characters
 * are copied here (anything above 0xff as 0xff: every decision below compares with ASCII), so
 * one monomorphic reader serves both.
 */
const HEAD = new Uint8Array(48) // '{"action":"' and a name of up to 32 characters and its quote

function startsWithAscii(bytes: Uint8Array, length: number, head: string): boolean {
  if (length < head.length) return false
  for (let i = 0; i < head.length; i++) if (bytes[i] !== head.charCodeAt(i)) return false
  return true
}

/** The label index of the name starting at `from` and ending at a quote, or OTHER. */
function nameAt(bytes: Uint8Array, length: number, from: number, asAction: boolean): number {
  let h = 0
  let i = from
  for (; i < length && i - from <= 32; i++) {
    const c = bytes[i]!
    if (c === 0x22) break
    // [A-Za-z_]: anything else is no known name ("other", as the regular expression says too)
    if (!((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f)) return OTHER
    h = (Math.imul(h, 31) + c) | 0
  }
  const len = i - from
  if (i >= length || len === 0 || len > 32) return OTHER
  for (const known of NAMES.get(h) ?? NO_NAMES) {
    if (known.name.length !== len) continue
    let same = true
    for (let j = 0; j < len && same; j++) same = known.name.charCodeAt(j) === bytes[from + j]
    if (same) return asAction ? known.asAction : known.asType
  }
  return OTHER
}

function fastType(bytes: Uint8Array, length: number): number {
  if (length === 0) return TEXT
  const first = bytes[0]!
  if (first !== 0x7b) {
    // Plain text: an ASCII first character that is neither JSON's opening nor whitespace.
    const ascii = first < 0x80
    const space = first === 0x20 || (first >= 0x09 && first <= 0x0d)
    return ascii && !space && first !== 0x5b ? TEXT : NO_MATCH
  }
  // The heads differ at their third character: one comparison picks the one to check. Short of
  // three characters, or a head that does not match, the checks below decide.
  switch (length > 2 ? bytes[2] : -1) {
    case 0x74: // t
      if (startsWithAscii(bytes, length, TYPE_HEAD)) return nameAt(bytes, length, TYPE_HEAD.length, false)
      break
    case 0x61: // a
      if (startsWithAscii(bytes, length, ACTION_HEAD)) return nameAt(bytes, length, ACTION_HEAD.length, true)
      break
    case 0x6f: // o
      if (startsWithAscii(bytes, length, OK_TRUE)) return REPLY_OK
      if (startsWithAscii(bytes, length, OK_FALSE)) return REPLY_ERROR
      break
    default:
      // `{"` and a key that is none of the three: "other" (`{"message":…`, a walker's fields).
      if (bytes[1] === 0x22) return OTHER
  }
  // Any other leading key (`{"message":…`, a walker's fields) is "other"; one of the three
  // keys spelled with spaces around it is for the regular expression.
  if (bytes[1] !== 0x22) return NO_MATCH
  for (const key of LEADING_KEYS) if (startsWithAscii(bytes, length, key)) return NO_MATCH
  return OTHER
}

/**
 * Copy the characters of `text` that fastType reads into HEAD; returns how many. fastType
 * decides plain text by the first character, and a JSON frame by its first 11 (the longest
 * head, `{"action":"`) and then a name up to the next quote: the copy stops there instead of
 * filling HEAD, which made the copy most of the cost of counting a frame. What it reads is
 * the same as with the whole of HEAD filled.
 */
function copyHead(text: string): number {
  const length = Math.min(text.length, HEAD.length)
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i)
    HEAD[i] = c > 0xff ? 0xff : c
    if ((i === 0 && c !== 0x7b) || (i >= 11 && c === 0x22)) return i + 1
  }
  return length
}

/** The bounded `type` label of a frame, as an index into TYPE_LABELS. */
function frameTypeIndex(data: RawData | string, isBinary: boolean, direction: Direction): number {
  if (isBinary) return BINARY
  // Outgoing Buffers are verbatim echoes of what a client sent: not the server's to classify.
  if (direction === 'out' && typeof data !== 'string') return RAW
  let fast = NO_MATCH
  if (typeof data === 'string') {
    fast = fastType(HEAD, copyHead(data))
  } else if (Buffer.isBuffer(data)) {
    fast = fastType(data, data.length)
  }
  return fast === NO_MATCH ? typeIndex(slowType(data)) : fast
}

function slowType(data: RawData | string): string {
  const head = typeof data === 'string' ? data.slice(0, 64) : headOf(data)
  const m = LEADING.exec(head)
  if (!m) return /^\s*[[{]/.test(head) ? 'other' : 'text'
  if (m[1] === 'ok') return m[3] === 'true' ? 'reply_ok' : 'reply_error'
  const name = m[2]
  if (name === undefined) return 'other'
  if (m[1] === 'action') return ACTIONS.has(name) ? `action:${name}` : 'other'
  return MESSAGE_TYPES.has(name) ? name : 'other'
}

/** The bounded `type` label for a frame. */
export function frameType(data: RawData | string, isBinary: boolean, direction: Direction): string {
  return TYPE_LABELS[frameTypeIndex(data, isBinary, direction)]!
}

function headOf(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.subarray(0, 64).toString()
  if (Array.isArray(data)) return Buffer.concat(data).subarray(0, 64).toString()
  return Buffer.from(data).subarray(0, 64).toString()
}

const SURFACE_INDEX = Object.fromEntries(SURFACES.map((surface, i) => [surface, i])) as Record<Surface, number>
const DIRECTIONS: readonly Direction[] = ['in', 'out']

/** Where a frame of this surface, direction and type label index is counted. */
function frameSlot(surface: Surface, direction: Direction, type: number): number {
  return (SURFACE_INDEX[surface] * DIRECTIONS.length + (direction === 'in' ? 0 : 1)) * TYPE_LABELS.length + type
}

/** The labels of a frameSlot. */
function frameLabels(slot: number): { surface: Surface; direction: Direction; type: string } {
  const type = slot % TYPE_LABELS.length
  const rest = (slot - type) / TYPE_LABELS.length
  return { surface: SURFACES[Math.floor(rest / DIRECTIONS.length)]!, direction: DIRECTIONS[rest % DIRECTIONS.length]!, type: TYPE_LABELS[type]! }
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
  private readonly unhandledRejections: Counter
  /**
   * Frames per surface × direction × type, counted as plain numbers (a labelled prom-client
   * inc hashes its labels: too dear for every frame) and handed to `messages` when scraped.
   */
  private readonly frames = new Float64Array(SURFACES.length * DIRECTIONS.length * TYPE_LABELS.length)
  private readonly framesReported = new Float64Array(this.frames.length)

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
    const frames = this.frames
    const reported = this.framesReported
    this.messages = new Counter({
      name: 'switchboard_ws_messages_total',
      help: 'WebSocket frames received (in) and sent (out), per surface and message type (the frame\'s leading type/action; text, binary, raw, other otherwise).',
      labelNames: ['surface', 'direction', 'type'],
      registers,
      collect() {
        for (let i = 0; i < frames.length; i++) {
          if (frames[i] === reported[i]) continue
          this.inc(frameLabels(i), frames[i]! - reported[i]!)
          reported[i] = frames[i]!
        }
      }
    })
    this.errors = counter('switchboard_errors_total', 'Error replies sent to clients, per error code (FastChat ERROR, walker envelope).', ['code'])
    this.refusals = counter('switchboard_handshakes_refused_total', 'WebSocket handshakes refused before the upgrade, per reason.', ['reason'])
    this.unhandledRejections = new Counter({
      name: 'switchboard_unhandled_rejections_total',
      help: 'Promise rejections no code handled; logged, and the process kept serving (alert on any).',
      registers
    })
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
    for (const reason of ['origin', 'draining', 'capacity', 'per_ip'] as const) this.refusals.inc({ reason }, 0)
    this.scraped = Registry.merge([this.registry, processMetrics()])
  }

  /** One message on a surface. `type` outside the known set is counted as "other". */
  countMessage(surface: Surface, direction: Direction, type: string): void {
    this.frames[frameSlot(surface, direction, typeIndex(type))]! += 1
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

  countUnhandledRejection(): void {
    this.unhandledRejections.inc()
  }

  /** The transport's report of one frame: counts it, and an error frame's code. */
  frame(surface: Surface, direction: Direction, data: RawData | string, isBinary: boolean): void {
    const type = frameTypeIndex(data, isBinary, direction)
    this.frames[frameSlot(surface, direction, type)]! += 1
    if ((type === ERROR || type === REPLY_ERROR) && direction === 'out' && typeof data === 'string') {
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
}
