// Bench-only process hooks shared by every server the bench starts (never imported by the
// service): announce the port once listening, exit plainly on SIGTERM, and — only when BENCH_MEMORY_FILE is set and the
// process runs with --expose-gc — on SIGUSR2 force full GCs and write process.memoryUsage()
// to that file, so the load generator can read memory per idle connection after a GC.
import { renameSync, writeFileSync } from 'node:fs'

export function announce(port: number): void {
  // A plain exit on SIGTERM, so --cpu-prof (bench --profile) writes its profile.
  process.once('SIGTERM', () => process.exit(0))
  process.stdout.write(`BENCH_READY ${JSON.stringify({ port, pid: process.pid })}\n`)
}

let greeted = 0
/** A client id shaped like Switchboard's (`ws_client_<ms>_<5 digits>`), from a counter: the handshake layers' greetings. */
export function benchClientId(): string {
  return `ws_client_${Date.now()}_${String(greeted++ % 100_000).padStart(5, '0')}`
}

export function installMemoryHook(): void {
  const file = process.env.BENCH_MEMORY_FILE
  if (!file) return
  const gc = (globalThis as { gc?: () => void }).gc
  if (!gc) throw new Error('BENCH_MEMORY_FILE needs node --expose-gc')
  let seq = 0
  process.on('SIGUSR2', () => {
    gc()
    // A second pass after pending callbacks ran (weak refs, finalizers, closed sockets).
    setTimeout(() => {
      gc()
      gc()
      const report = JSON.stringify({ seq: ++seq, ...process.memoryUsage() })
      writeFileSync(`${file}.tmp`, report)
      renameSync(`${file}.tmp`, file)
    }, 200)
  })
}
