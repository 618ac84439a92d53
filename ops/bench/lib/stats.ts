// Numbers the bench reads and reduces: a process's CPU time from /proc/<pid>/stat, the machine's
// per-core busy time from /proc/stat, medians and percentiles.
import { readFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'

let clockTicks: number | undefined
/** USER_HZ: the unit of the CPU times in /proc (100 on Linux nearly everywhere). */
export function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      clockTicks = 100
    }
  }
  return clockTicks
}

/** User and system (kernel) CPU seconds a process, all its threads, has used. */
export function processCpuTimes(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name (field 2) may hold spaces; fields after it are space-separated.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return { user: Number(fields[11]) / ticksPerSecond(), system: Number(fields[12]) / ticksPerSecond() } // utime, stime (fields 14, 15)
}

/** User + system CPU seconds a process (all its threads) has used. */
export function processCpuSeconds(pid: number): number {
  const { user, system } = processCpuTimes(pid)
  return user + system
}

/** Bytes a process has passed to write(2) and friends, files and sockets alike (wchar in /proc/<pid>/io). */
export function processWriteBytes(pid: number): number {
  return Number(/^wchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1])
}

/** Resident set size of a process in bytes (from /proc/<pid>/statm). */
export function processRss(pid: number): number {
  const pages = Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1])
  return pages * 4096
}

export interface CoreTimes {
  /** Per core (cpu0, cpu1, …): [busy, total] in ticks. */
  cores: [number, number][]
}

export function coreTimes(): CoreTimes {
  const cores: [number, number][] = []
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+) (.*)$/.exec(line)
    if (!m) continue
    const v = m[2]!.trim().split(/\s+/).map(Number)
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0)
    const idle = v[3]! + v[4]! // idle + iowait
    cores[Number(m[1])] = [total - idle, total]
  }
  return { cores }
}

/** Busy share of each core between two readings, 0–100. */
export function coreBusy(a: CoreTimes, b: CoreTimes): number[] {
  return b.cores.map(([busy, total], i) => {
    const [busy0, total0] = a.cores[i] ?? [0, 0]
    return total === total0 ? 0 : (100 * (busy - busy0)) / (total - total0)
  })
}

/**
 * `items` in the order of round `round`: as given in even rounds, reversed in odd ones, so a
 * steady drift of the machine (heat, other load) favours none of them.
 */
export function inTurn<T>(items: readonly T[], round: number): T[] {
  return round % 2 === 0 ? [...items] : [...items].reverse()
}

export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (s.length === 0) return NaN
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

/** The p-th percentile (nearest rank) of the first `n` values of `xs`, which it sorts in place. */
export function percentiles(xs: Float64Array, n: number, ps: number[]): number[] {
  if (n === 0) return ps.map(() => NaN)
  const s = xs.subarray(0, n).sort()
  return ps.map((p) => s[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]!)
}

/**
 * A bootstrap interval (`level`, e.g. 0.9) of median(b) ÷ median(a): both samples resampled with
 * replacement `n` times, from a fixed seed so a run's JSON gives the same interval again. With
 * five to ten runs a side it is rough, but it tells a ratio that noise alone could give from one
 * it could not.
 */
export function bootstrapRatio(a: number[], b: number[], level = 0.9, n = 4000, seed = 1): [number, number] {
  const resample = resampler(seed)
  return interval(n, level, () => median(resample(b)) / median(resample(a)))
}

/** A bootstrap interval (`level`) of the median of `xs` (the steps between paired windows, say), seeded likewise. */
export function bootstrapMedian(xs: number[], level = 0.9, n = 4000, seed = 1): [number, number] {
  const resample = resampler(seed)
  return interval(n, level, () => median(resample(xs)))
}

/** Resampling with replacement, from a seeded mulberry32: the same interval for the same numbers. */
function resampler(seed: number): (xs: number[]) => number[] {
  let state = seed >>> 0
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return (xs) => xs.map(() => xs[Math.floor(random() * xs.length)]!)
}

/** The central `level` of `n` draws of `statistic`. */
function interval(n: number, level: number, statistic: () => number): [number, number] {
  const draws = new Float64Array(n)
  for (let i = 0; i < n; i++) draws[i] = statistic()
  const [lo, hi] = percentiles(draws, n, [(100 * (1 - level)) / 2, (100 * (1 + level)) / 2])
  return [lo!, hi!]
}
