// Preloaded into a Switchboard instance by `scale.ts --probe` (node --import tsx --import this),
// never by the service: once a second it appends one JSON line to SCALE_PROBE_FILE with the
// event loop's delay (max, p99) and the garbage collector's pauses in that second, so a latency
// tail can be laid against what the instance's thread was doing.
import { appendFileSync } from 'node:fs'
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks'

const file = process.env.SCALE_PROBE_FILE
if (file) {
  const delay = monitorEventLoopDelay({ resolution: 5 })
  delay.enable()
  let gcMs = 0
  let gcMax = 0
  let gcCount = 0
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcMs += e.duration
      gcMax = Math.max(gcMax, e.duration)
      gcCount++
    }
  }).observe({ entryTypes: ['gc'] })
  setInterval(() => {
    appendFileSync(file, `${JSON.stringify({
      at: Date.now(),
      delayMaxMs: delay.max / 1e6,
      delayP99Ms: delay.percentile(99) / 1e6,
      gcMs,
      gcMaxMs: gcMax,
      gcCount
    })}\n`)
    delay.reset()
    gcMs = 0
    gcMax = 0
    gcCount = 0
  }, 1000).unref()
}
