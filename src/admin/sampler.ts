// Once a second, what the admin console charts: connections per surface, frames in and out per
// second by surface, closes, error replies and refused handshakes by code, event-loop lag, heap
// and RSS. Read from the app's prom-client registry (src/metrics/metrics.ts) as differences of its
// counters, so the console and /metrics can never disagree; kept for the last few minutes so a
// console opened now has a history to draw. No Fastify in here.
import { performance } from 'node:perf_hooks'
import type { Registry } from 'prom-client'
import { SURFACES } from '../metrics/metrics.ts'
import type { Surface } from '../transport/connections.ts'

export interface Sample {
  /** Epoch ms at the end of the second it describes. */
  t: number
  /** Open connections per surface at `t`. */
  conns: Record<Surface, number>
  /** Frames received per second, by surface. */
  in: Record<Surface, number>
  /** Frames sent per second, by surface. */
  out: Record<Surface, number>
  /** Connections closed in this second, by close code (all surfaces). */
  closes: Record<string, number>
  /** Error replies sent in this second, by error code. */
  errors: Record<string, number>
  /** Handshakes refused in this second, by reason (origin, draining, capacity, per_ip). */
  refused: Record<string, number>
  /**
   * The event loop's longest delay in this second, and its 99th percentile, in ms: how late a
   * timer due every LAG_PERIOD_MS ran (near 0 on an idle loop), not the time between its runs.
   */
  lag_max_ms: number
  lag_p99_ms: number
  heap_used: number
  rss: number
}

/** Cumulative counter values, keyed by what is charted. */
interface Totals {
  in: Record<Surface, number>
  out: Record<Surface, number>
  closes: Map<string, number>
  errors: Map<string, number>
  refused: Map<string, number>
}

export interface SamplerOptions {
  registry: Registry
  connections(surface: Surface): number
  /** Samples kept: the console's window. Default 300 (five minutes at one a second). */
  keep?: number
  intervalMs?: number
  /** Told of each new sample (the admin sockets, the instance board); must not throw. */
  onSample?(sample: Sample): void
  now?: () => number
}

/** The lag probe's period: 100 wake-ups a second; a finer one would cost more for little. */
const LAG_PERIOD_MS = 10

/**
 * Event-loop lag: how late a timer due every LAG_PERIOD_MS runs, i.e. the time between its runs
 * less the period (at 0 at least). Not perf_hooks.monitorEventLoopDelay: it records the time
 * between runs, period included (an idle loop read 10 ms), and its reset() forgets when its timer
 * last ran, so a block that began right after the sample's reset (the tick's own work, say) was
 * never recorded. Here the last run outlives each take().
 */
class LagProbe {
  private delays: number[] = []
  private timer: NodeJS.Timeout | undefined
  private last = 0

  start(): void {
    this.last = performance.now()
    this.timer = setInterval(() => this.ran(), LAG_PERIOD_MS)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** The delays since the last take, in ms: the longest and the 99th percentile (0 when none). */
  take(): { max: number; p99: number } {
    const delays = this.delays.sort((a, b) => a - b)
    this.delays = []
    if (delays.length === 0) return { max: 0, p99: 0 }
    return { max: round2(delays[delays.length - 1]!), p99: round2(delays[Math.ceil(delays.length * 0.99) - 1]!) }
  }

  private ran(): void {
    const now = performance.now()
    this.delays.push(Math.max(0, now - this.last - LAG_PERIOD_MS))
    this.last = now
  }
}

const perSurface = (): Record<Surface, number> => Object.fromEntries(SURFACES.map((s) => [s, 0])) as Record<Surface, number>
const round2 = (n: number) => Math.round(n * 100) / 100

async function values(registry: Registry, name: string): Promise<{ labels: Record<string, string | number>; value: number }[]> {
  const metric = registry.getSingleMetric(name)
  if (!metric) return []
  return (await metric.get()).values as { labels: Record<string, string | number>; value: number }[]
}

/** Per-label increases between two cumulative maps; only non-zero ones. */
function increases(now: Map<string, number>, before: Map<string, number> | undefined): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [key, value] of now) {
    const d = value - (before?.get(key) ?? 0)
    if (d > 0) out[key] = d
  }
  return out
}

export class Sampler {
  private readonly samples: Sample[] = []
  private readonly keep: number
  private readonly intervalMs: number
  private readonly now: () => number
  private readonly lag = new LagProbe()
  private timer: NodeJS.Timeout | undefined
  private previous: Totals | undefined
  private previousAt = 0
  private sampling = false

  constructor(private readonly opts: SamplerOptions) {
    this.keep = opts.keep ?? 300
    this.intervalMs = opts.intervalMs ?? 1000
    this.now = opts.now ?? Date.now
  }

  /** Take the baseline, then a sample every interval until stop(). */
  async start(): Promise<void> {
    this.lag.start()
    this.previous = await this.totals()
    this.previousAt = this.now()
    this.timer = setInterval(() => void this.sample(), this.intervalMs)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
    this.lag.stop()
  }

  /** The window, oldest first. */
  history(): readonly Sample[] {
    return this.samples
  }

  latest(): Sample | undefined {
    return this.samples[this.samples.length - 1]
  }

  /** One sample now (the timer's tick; tests call it to skip the wait). */
  async sample(): Promise<Sample | undefined> {
    if (this.sampling || !this.timer) return undefined
    this.sampling = true
    try {
      const totals = await this.totals()
      // stop() while the counters were read: the app is closing (its lease may be retired already),
      // so nobody is told and nothing is published for a process on its way out.
      if (!this.timer) return undefined
      const t = this.now()
      const seconds = Math.max(0.001, (t - this.previousAt) / 1000)
      const before = this.previous
      const rate = (now: Record<Surface, number>, then: Record<Surface, number> | undefined) => {
        const r = perSurface()
        for (const s of SURFACES) r[s] = round2(Math.max(0, now[s] - (then?.[s] ?? 0)) / seconds)
        return r
      }
      const memory = process.memoryUsage()
      const lag = this.lag.take()
      const conns = perSurface()
      for (const s of SURFACES) conns[s] = this.opts.connections(s)
      const sample: Sample = {
        t,
        conns,
        in: rate(totals.in, before?.in),
        out: rate(totals.out, before?.out),
        closes: increases(totals.closes, before?.closes),
        errors: increases(totals.errors, before?.errors),
        refused: increases(totals.refused, before?.refused),
        lag_max_ms: lag.max,
        lag_p99_ms: lag.p99,
        heap_used: memory.heapUsed,
        rss: memory.rss
      }
      this.previous = totals
      this.previousAt = t
      this.samples.push(sample)
      if (this.samples.length > this.keep) this.samples.splice(0, this.samples.length - this.keep)
      this.opts.onSample?.(sample)
      return sample
    } finally {
      this.sampling = false
    }
  }

  private async totals(): Promise<Totals> {
    const registry = this.opts.registry
    const [frames, closed, errors, refused] = await Promise.all([
      values(registry, 'switchboard_ws_messages_total'),
      values(registry, 'switchboard_ws_connections_closed_total'),
      values(registry, 'switchboard_errors_total'),
      values(registry, 'switchboard_handshakes_refused_total')
    ])
    const totals: Totals = { in: perSurface(), out: perSurface(), closes: new Map(), errors: new Map(), refused: new Map() }
    for (const { labels, value } of frames) {
      const surface = labels.surface as Surface
      if (!(surface in totals.in)) continue
      if (labels.direction === 'in') totals.in[surface] += value
      else totals.out[surface] += value
    }
    const add = (map: Map<string, number>, key: string, value: number) => map.set(key, (map.get(key) ?? 0) + value)
    for (const { labels, value } of closed) add(totals.closes, String(labels.code), value)
    for (const { labels, value } of errors) add(totals.errors, String(labels.code), value)
    for (const { labels, value } of refused) add(totals.refused, String(labels.reason), value)
    return totals
  }
}
