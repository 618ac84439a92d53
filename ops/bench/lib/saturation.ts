// The saturation scenarios (closed loop, the server the limit): their jobs, how a run is judged
// a measurement of the server, and the medians over rounds. run.ts holds Switchboard against a
// raw `ws` baseline with them; ab.ts holds Switchboard from one tree against another.
import type { Job, Window } from '../loadgen.ts'
import { median } from './stats.ts'
import { at, fmt, ms, type Server, type ServerKind } from './harness.ts'

export interface RateResult {
  server: ServerKind
  rate: number
  perCpuSecond: number
  errors: number
  p50: number
  p99: number
  window: Window
  closedConnections?: number
}

/**
 * A saturation run is only a measurement of the server when the server was the limit. Below
 * 85 % of its core: the client was the limit when the client's core was busy with it, else
 * other processes took the server's core (the machine is shared) — kept, flagged.
 */
export function saturationFlag(r: RateResult): 'client-bound' | 'contended' | undefined {
  if (r.window.serverCpuPct >= 85) return undefined
  return r.window.clientCpuPct >= 90 ? 'client-bound' : 'contended'
}

/**
 * The share of a core (the most on either) that processes other than the server and the load
 * generator took during a run's window: builds and tests of other work on a shared machine.
 * Even on a quiet machine some 5–10 % is here: softirq time of loopback TCP that is charged to
 * no process, and the harness itself.
 */
export function othersPct(r: RateResult): number {
  const [core0 = 0, core1 = 0] = r.window.coreBusyPct
  return Math.max(0, core0 - r.window.serverCpuPct, core1 - r.window.clientCpuPct)
}

export interface Summary {
  rate: number
  perCpu: number
  cpu: number
  p50: number
  p99: number
  notes: string[]
  kept: RateResult[]
}

/** Medians over rounds, client-bound runs left out while at least 3 runs remain. */
export function summarize(runs: RateResult[]): Summary {
  const notes: string[] = []
  const clientBound = runs.filter((r) => saturationFlag(r) === 'client-bound')
  let kept = runs
  if (clientBound.length && runs.length - clientBound.length >= 3) {
    kept = runs.filter((r) => saturationFlag(r) !== 'client-bound')
    notes.push(`${clientBound.length} client-bound run(s) discarded`)
  } else if (clientBound.length) {
    notes.push(`${clientBound.length} run(s) client-bound (kept: too few left)`)
  }
  const contended = kept.filter((r) => saturationFlag(r) === 'contended').length
  if (contended) notes.push(`${contended} run(s) below 85 % server CPU with the client not busy (shared machine)`)
  const errors = kept.reduce((n, r) => n + r.errors, 0)
  if (errors) notes.push(`${errors} error replies`)
  const closed = kept.reduce((n, r) => n + (r.closedConnections ?? 0), 0)
  if (closed) notes.push(`${closed} connections closed by the server`)
  return {
    rate: median(kept.map((r) => r.rate)),
    perCpu: median(kept.map((r) => r.perCpuSecond)),
    cpu: median(kept.map((r) => r.window.serverCpuPct)),
    p50: median(kept.map((r) => r.p50)),
    p99: median(kept.map((r) => r.p99)),
    notes,
    kept
  }
}

/** Side b's runs against side a's, over the same rounds: the ratios of the medians and the table's columns. */
export function compareRuns(a: { name: string; runs: RateResult[] }, b: { name: string; runs: RateResult[] }) {
  const x = summarize(a.runs)
  const y = summarize(b.runs)
  return {
    a: x,
    b: y,
    ratio: y.rate / x.rate,
    perCpuRatio: y.perCpu / x.perCpu,
    cpu: `${fmt(x.cpu)} / ${fmt(y.cpu)}`,
    latency: `${ms(x.p50)}/${ms(x.p99)} · ${ms(y.p50)}/${ms(y.p99)}`,
    notes: [...x.notes.map((n) => `${a.name}: ${n}`), ...y.notes.map((n) => `${b.name}: ${n}`)]
  }
}

export const describeRate = (r: RateResult) =>
  `${fmt(r.rate).padStart(9)}/s  server ${fmt(r.window.serverCpuPct).padStart(3)} %  client ${fmt(r.window.clientCpuPct).padStart(3)} %  ` +
  `cores ${r.window.coreBusyPct.join('/')} %  p50 ${ms(r.p50)} p99 ${ms(r.p99)} ms${saturationFlag(r) ? `  [${saturationFlag(r)}]` : ''}`

export interface SaturationSpec {
  id: string
  scenario: string
  unit: string
  /** The raw `ws` server run.ts compares Switchboard against, and the ratio it must reach. */
  baseline: ServerKind
  target: number
  baseJob: (s: Server) => Job
  /** Switchboard's side. */
  sbJob: (s: Server) => Job
  note?: string
  /** Rounds in --quick (default one): a row that sits near its floor takes the median of a few. */
  quickRounds?: number
}

export type SaturationName = 'echo' | 'echo-json' | 'walker' | 'relay' | 'connect'

const LOAD = { conns: 50, inflight: 10 }
const JSON_PAYLOAD = JSON.stringify({ type: 'test', data: 'hello switchboard bench' })
const WALKER_PAYLOAD = JSON.stringify({ message: 'hello switchboard bench', client_id: 'bench' })

/** A saturation run's warm-up and measured window, in seconds: the full run's, and the quick mode's. */
export const TIMING = { full: { warmupS: 1.5, measureS: 3.5 }, quick: { warmupS: 1, measureS: 2 } }

/** The saturation scenarios, each run warming up and measuring for `timing`. */
export function saturationSpecs(timing: { warmupS: number; measureS: number }): Record<SaturationName, SaturationSpec> {
  return {
    echo: {
      id: '1 echo', scenario: '1. echo /ws, plain text, 50 conns × 10 in flight', unit: 'msgs/s', baseline: 'raw-echo', target: 0.97,
      baseJob: (s) => ({ kind: 'throughput', ...at(s), ...LOAD, ...timing, path: '/', payload: 'hello switchboard bench 0123456789' }),
      sbJob: (s) => ({ kind: 'throughput', ...at(s), ...LOAD, ...timing, path: '/ws', greeting: '{"type":"WELCOME"', payload: 'hello switchboard bench 0123456789' })
    },
    'echo-json': {
      id: '2 /ws/echo', scenario: '2. /ws/echo JSON envelope, same load', unit: 'msgs/s', baseline: 'raw-echo', target: 0.8,
      baseJob: (s) => ({ kind: 'throughput', ...at(s), ...LOAD, ...timing, path: '/', payload: JSON_PAYLOAD }),
      sbJob: (s) => ({ kind: 'throughput', ...at(s), ...LOAD, ...timing, path: '/ws/echo', greeting: '{"type":"welcome"', replyPrefix: '{"type":"echo"', payload: JSON_PAYLOAD }),
      note: 'baseline echoes the frame verbatim; Switchboard answers with the envelope'
    },
    walker: {
      id: '3 walker', scenario: '3. walker round trip /ws/EchoMessage, same load', unit: 'msgs/s', baseline: 'raw-echo', target: 0.75,
      baseJob: (s) => ({ kind: 'throughput', ...at(s), ...LOAD, ...timing, path: '/', payload: WALKER_PAYLOAD }),
      sbJob: (s) => ({ kind: 'throughput', ...at(s), ...LOAD, ...timing, path: '/ws/EchoMessage', payload: WALKER_PAYLOAD }),
      note: 'baseline echoes the frame verbatim'
    },
    relay: {
      id: '4 relay', scenario: '4. FastChat MSG relay + MSG_ACK, 50 pairs × 10 in flight', unit: 'MSG/s', baseline: 'raw-relay', target: 0.8,
      baseJob: (s) => ({ kind: 'relay', ...at(s), server: 'raw', pairs: 50, inflight: 10, ...timing }),
      sbJob: (s) => ({ kind: 'relay', ...at(s), server: 'switchboard', pairs: 50, inflight: 10, ...timing }),
      note: 'acked MSGs per second; the raw relay forwards verbatim with a fixed ack',
      // On a Xeon the relay sits nearest its CI floor (docs/bench.md): three short rounds, not one.
      quickRounds: 3
    },
    connect: {
      id: '8 connect', scenario: '8. connection establishment (handshake to 101, then RST), 50 at a time', unit: 'conns/s', baseline: 'raw-echo', target: 0,
      baseJob: (s) => ({ kind: 'connect', ...at(s), path: '/', concurrency: 50, ...timing }),
      sbJob: (s) => ({ kind: 'connect', ...at(s), path: '/ws', concurrency: 50, ...timing }),
      note: 'Switchboard on /ws also sends its WELCOME; p50/p99 are handshake times'
    }
  }
}
