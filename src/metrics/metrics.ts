// Switchboard's Prometheus metrics (prom-client), free of Fastify: the plugin feeds it sources
// (connection counts, presence size, backplane state) and the transport reports every frame.
// Every label value comes from a fixed set (frame types from the protocol schemas, labels.ts),
// never from what a client sent, so a hostile client cannot grow the series count.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import type { Surface } from '../transport/connections.ts'
import { ErrorCode } from '../protocol/error-codes.ts'
import { WalkerErrorCode } from '../protocol/walker.ts'
import { frameLabels as schemaLabels } from './labels.ts'

export const SURFACES: readonly Surface[] = ['main', 'echo', 'health', 'walker']

export type Direction = 'in' | 'out'

/**
 * Why a handshake was refused before the upgrade: a foreign origin (403), the drain (503), the
 * connection caps MAX_CONNECTIONS (`capacity`, 503) and MAX_CONNECTIONS_PER_IP (`per_ip`, 429).
 */
export type RefusalReason = 'origin' | 'draining' | 'capacity' | 'per_ip'

/** FastChat ERROR codes plus the walker envelope's own. */
const ERROR_CODES = new Set<string>([...Object.values(ErrorCode), ...Object.values(WalkerErrorCode)])
/** Close codes the service or a well-behaved peer uses; a peer's other codes become "other". */
const CLOSE_CODE_LABELS = ['1000', '1001', '1005', '1006', '1007', '1008', '1009', '1011', '4000', '4004', '4403', 'other']
const CLOSE_CODE_INDEX = new Map(CLOSE_CODE_LABELS.slice(0, -1).map((code, i) => [Number(code), i]))
const OTHER_CLOSE = CLOSE_CODE_LABELS.length - 1

/** Every `type` label value, so a frame is counted by index into a plain array. */
const TYPE_LABELS = schemaLabels()
const TYPE_INDEX = new Map(TYPE_LABELS.map((label, i) => [label, i]))
const OTHER = TYPE_LABELS.length - 1

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

/**
 * Counts kept as plain numbers by slot and handed to a prom-client counter when it is collected
 * (scraped, or read by the admin sampler): a labelled inc hashes its labels, too dear for every
 * frame and every connection of a reconnect storm.
 */
class SlotCounts<L extends string> {
  readonly counts: Float64Array
  private readonly reported: Float64Array

  constructor(size: number, private readonly labelsOf: (slot: number) => Record<L, string>) {
    this.counts = new Float64Array(size)
    this.reported = new Float64Array(size)
  }

  /** The counts added since the last collect, into `counter`. */
  collect(counter: Counter<L>): void {
    const { counts, reported } = this
    for (let i = 0; i < counts.length; i++) {
      if (counts[i] === reported[i]) continue
      counter.inc(this.labelsOf(i), counts[i]! - reported[i]!)
      reported[i] = counts[i]!
    }
  }
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
  /** Frames per surface × direction × type (frameSlot), handed to `messages` when collected. */
  private readonly frames = new SlotCounts(SURFACES.length * DIRECTIONS.length * TYPE_LABELS.length, frameLabels)
  /** Connections opened per surface, handed to `opened`. */
  private readonly openedBySurface = new SlotCounts(SURFACES.length, (i) => ({ surface: SURFACES[i]! }))
  /** Connections closed per surface × close code, handed to `closed`. */
  private readonly closedBySurface = new SlotCounts(SURFACES.length * CLOSE_CODE_LABELS.length, (i) => ({
    surface: SURFACES[Math.floor(i / CLOSE_CODE_LABELS.length)]!,
    code: CLOSE_CODE_LABELS[i % CLOSE_CODE_LABELS.length]!
  }))
  /** Labels the server sent that no schema names (reported once each). */
  private readonly unknownLabels = new Set<string>()
  /** Told of a label the server sent that no schema names: a frame type missing from its dialect's docs. */
  onUnknownLabel: ((label: string) => void) | undefined

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
    /** A counter whose increments are kept in `counts` and handed over when it is collected. */
    const slotCounter = <L extends string>(name: string, help: string, labelNames: L[], counts: SlotCounts<L>) =>
      new Counter<L>({ name, help, labelNames, registers, collect() { counts.collect(this) } })
    this.opened = slotCounter('switchboard_ws_connections_opened_total', 'WebSocket connections accepted, per surface.', ['surface'], this.openedBySurface)
    this.closed = slotCounter('switchboard_ws_connections_closed_total', 'WebSocket connections closed, per surface and close code as this side saw it (1006: no close frame, e.g. a terminated dead peer).', ['surface', 'code'], this.closedBySurface)
    this.messages = slotCounter(
      'switchboard_ws_messages_total',
      'WebSocket frames received (in) and sent (out), per surface and message type (as the protocol schemas name it; text, raw, binary, walker_input, other otherwise).',
      ['surface', 'direction', 'type'],
      this.frames
    )
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

  /**
   * One frame on a surface, by the label its sender or handler gave it. A label outside the
   * schema-derived set counts as "other"; one the server sent is a bug, logged once.
   */
  countMessage(surface: Surface, direction: Direction, label: string): void {
    let type = TYPE_INDEX.get(label)
    if (type === undefined) {
      type = OTHER
      if (direction === 'out' && !this.unknownLabels.has(label) && this.unknownLabels.size < 32) {
        this.unknownLabels.add(label)
        this.onUnknownLabel?.(label)
      }
    }
    this.frames.counts[frameSlot(surface, direction, type)]! += 1
  }

  /**
   * One error reply. The transport reports those it sends with their code (Conn.send); call
   * this only for error replies that reach a client another way.
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

  connectionOpened(surface: Surface): void {
    this.openedBySurface.counts[SURFACE_INDEX[surface]]! += 1
  }

  connectionClosed(surface: Surface, code: number): void {
    this.closedBySurface.counts[SURFACE_INDEX[surface] * CLOSE_CODE_LABELS.length + (CLOSE_CODE_INDEX.get(code) ?? OTHER_CLOSE)]! += 1
  }

  get contentType(): string {
    return this.scraped.contentType
  }

  /** The Prometheus text exposition of this app's and the process's metrics. */
  scrape(): Promise<string> {
    return this.scraped.metrics()
  }
}
