// The operators' smoke test: `npm run smoke -- ws://host:port` (or ops/ws_smoke.sh). Checks
// /health, the /ws/echo round trip, the /ws/health welcome and first heartbeat, /ws ping/pong
// and a clean 1000 close; prints one line per check with ✓/✗ and timing, and a progress line
// while it waits for the heartbeat; exits 1 naming every failed check (2 on bad usage). --quick
// skips the heartbeat wait. Reads no stdin (cron, CI). Works from src/ (tsx) and from dist/.
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'

const USAGE = `usage: smoke [base-url] [--quick] [--timeout S] [--origin URL]

  base-url     ws://, wss://, http:// or https:// address of the service (default ws://127.0.0.1:8000)
  --timeout S  longest any one check may wait, in seconds (default 60). Replies are awaited up to
               10 s (or S if lower); the first /ws/health heartbeat up to the server's announced
               ping_interval + 10 % + 2 s, but never past S
  --quick      skip the /ws/health heartbeat check (it waits a whole ping_interval, 30 s by
               default): five checks, done in about a second
  --origin URL send this Origin header on the WebSocket handshakes (browser-like)`

/** How long a reply (welcome, echo, pong, close) may take. */
const REPLY_WAIT_S = 10

interface CheckResult {
  name: string
  ok: boolean
  detail: string
  ms: number
  /** Not run (--quick): neither a pass nor a failure. */
  skipped?: boolean
}

interface Options {
  http: string
  ws: string
  timeoutS: number
  quick: boolean
  origin?: string
}

class UsageError extends Error {}

function parseOptions(argv: string[]): Options {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { timeout: { type: 'string' }, origin: { type: 'string' }, quick: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }
  })
  if (values.help) throw new UsageError('')
  if (positionals.length > 1) throw new UsageError(`expected one base URL, got ${positionals.length}`)
  const timeoutS = values.timeout === undefined ? 60 : Number(values.timeout)
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new UsageError(`--timeout must be a positive number of seconds, got ${values.timeout}`)
  let url: URL
  try {
    url = new URL(positionals[0] ?? 'ws://127.0.0.1:8000')
  } catch {
    throw new UsageError(`not a URL: ${positionals[0]}`)
  }
  const secure = url.protocol === 'wss:' || url.protocol === 'https:'
  if (!['ws:', 'wss:', 'http:', 'https:'].includes(url.protocol)) throw new UsageError(`unsupported scheme ${url.protocol}`)
  // A path prefix (a service mounted under /switchboard behind a proxy) is kept.
  const rest = `${url.host}${url.pathname.replace(/\/+$/, '')}`
  return {
    http: `${secure ? 'https' : 'http'}://${rest}`,
    ws: `${secure ? 'wss' : 'ws'}://${rest}`,
    timeoutS,
    quick: values.quick === true,
    ...(values.origin ? { origin: values.origin } : {})
  }
}

type Json = Record<string, unknown>

class SmokeError extends Error {}

/** A socket whose JSON frames can be awaited one predicate at a time. */
class Probe {
  private readonly frames: Json[] = []
  private wake: (() => void) | undefined
  closeInfo: { code: number; reason: string } | undefined
  private readonly closed: Promise<{ code: number; reason: string }>

  private constructor(readonly ws: WebSocket, readonly path: string) {
    ws.on('message', (data) => {
      try {
        const v: unknown = JSON.parse(String(data))
        if (v && typeof v === 'object' && !Array.isArray(v)) this.frames.push(v as Json)
      } catch {
        // not JSON: no check here waits for one
      }
      this.wake?.()
    })
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => {
      this.closeInfo = { code, reason: String(reason) }
      this.wake?.()
      resolve(this.closeInfo)
    }))
  }

  static open(o: Options, path: string, waitMs: number): Promise<Probe> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${o.ws}${path}`, { handshakeTimeout: waitMs, ...(o.origin ? { origin: o.origin } : {}) })
      const probe = new Probe(ws, path)
      ws.once('open', () => resolve(probe))
      ws.once('unexpected-response', (req, res) => {
        reject(new SmokeError(`handshake refused: HTTP ${res.statusCode}${hint(res.statusCode ?? 0)}`))
        res.resume()
        req.destroy()
      })
      ws.on('error', (err: NodeJS.ErrnoException) => reject(new SmokeError(describe(err))))
    })
  }

  /** The first frame matching `pred` within `waitMs`; other frames are skipped. */
  async waitFor(pred: (m: Json) => boolean, what: string, waitMs: number): Promise<Json> {
    const deadline = performance.now() + waitMs
    for (;;) {
      const i = this.frames.findIndex(pred)
      if (i >= 0) return this.frames.splice(0, i + 1).pop()!
      if (this.closeInfo) throw new SmokeError(`connection closed with ${this.closeInfo.code}${this.closeInfo.reason ? ` (${this.closeInfo.reason})` : ''} before ${what}${closeHint(this.closeInfo.code)}`)
      const left = deadline - performance.now()
      if (left <= 0) throw new SmokeError(`no ${what} within ${seconds(waitMs)}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.wake = () => {
          clearTimeout(timer)
          this.wake = undefined
          resolve()
        }
      })
    }
  }

  /** Close with 1000 and return the code the server answered with (or the timeout). */
  async closeNormally(waitMs: number): Promise<number | 'timeout'> {
    if (this.closeInfo) return this.closeInfo.code
    this.ws.close(1000, 'smoke test done')
    let timer: NodeJS.Timeout | undefined
    const result = await Promise.race([
      this.closed.then((c) => c.code),
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), waitMs)
      })
    ])
    clearTimeout(timer)
    if (result === 'timeout') this.ws.terminate()
    return result
  }

  terminate(): void {
    this.ws.terminate()
  }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`

function describe(err: NodeJS.ErrnoException): string {
  if (err.code === 'ECONNREFUSED') return 'connection refused: nothing listens there (is the server or proxy running?)'
  if (err.code === 'ENOTFOUND') return `host not found (${err.message})`
  return err.message
}

function hint(status: number): string {
  if (status === 403) return ' (origin not allowed: see ALLOWED_ORIGINS)'
  if (status === 502 || status === 504) return ' (proxy cannot reach the service)'
  if (status === 503) return ' (server draining or at capacity)'
  if (status === 404 || status === 400 || status === 426) return ' (not upgraded: proxy without Upgrade/Connection headers?)'
  return ''
}

function closeHint(code: number): string {
  return code === 1006 ? ' (abnormal: dropped without a close frame, often a proxy timeout)' : ''
}

/** How often a progress line is printed while the heartbeat is awaited. */
const PROGRESS_EVERY_MS = 5000

async function runChecks(o: Options, print: (r: CheckResult) => void = () => {}, progress: (line: string) => void = () => {}): Promise<CheckResult[]> {
  const results: CheckResult[] = []
  const replyMs = Math.min(REPLY_WAIT_S, o.timeoutS) * 1000
  const probes: Probe[] = []
  async function check(name: string, fn: () => Promise<string>): Promise<boolean> {
    const started = performance.now()
    let ok = true
    let detail: string
    try {
      detail = await fn()
    } catch (err) {
      ok = false
      detail = err instanceof SmokeError ? err.message : `unexpected error: ${(err as Error).message}`
    }
    const r = { name, ok, detail, ms: Math.round(performance.now() - started) }
    results.push(r)
    print(r)
    return ok
  }
  const open = async (path: string) => {
    const p = await Probe.open(o, path, replyMs)
    probes.push(p)
    return p
  }

  try {
    await check('GET /health', async () => {
      let res: Response
      try {
        res = await fetch(`${o.http}/health`, { signal: AbortSignal.timeout(replyMs) })
      } catch (err) {
        const cause = (err as { cause?: NodeJS.ErrnoException }).cause
        throw new SmokeError(cause ? describe(cause) : `no answer within ${seconds(replyMs)}`)
      }
      const text = await res.text()
      let body: Json = {}
      try {
        body = JSON.parse(text) as Json
      } catch {
        // reported below
      }
      if (res.status !== 200 || body.status !== 'ok') {
        throw new SmokeError(`HTTP ${res.status}${hint(res.status)} ${text.slice(0, 120)}`)
      }
      return `200 ok, version ${String(body.version)}, ${String(body.connections)} connections`
    })

    await check('/ws/echo round trip', async () => {
      const p = await open('/ws/echo')
      await p.waitFor((m) => m.type === 'welcome', 'welcome', replyMs)
      const nonce = `smoke-${Date.now()}`
      const sent = performance.now()
      p.ws.send(JSON.stringify({ type: 'smoke', nonce }))
      await p.waitFor((m) => m.type === 'echo' && (m.original as Json | undefined)?.nonce === nonce, 'echo of the sent message', replyMs)
      return `welcome, echo in ${Math.round(performance.now() - sent)} ms`
    })

    let health: Probe | undefined
    let interval = 0
    let welcomedAt = 0
    const welcomed = await check('/ws/health welcome', async () => {
      health = await open('/ws/health')
      const w = await health.waitFor((m) => m.type === 'health_status', 'health_status welcome', replyMs)
      welcomedAt = performance.now()
      const config = w.config as Json | undefined
      interval = Number(config?.ping_interval)
      if (w.status !== 'connected' || !(interval > 0)) throw new SmokeError(`unexpected welcome: ${JSON.stringify(w).slice(0, 160)}`)
      return `connected, ping_interval ${interval} s`
    })

    if (o.quick) {
      const r = { name: '/ws/health heartbeat', ok: true, skipped: true, detail: 'skipped (--quick)', ms: 0 }
      results.push(r)
      print(r)
    } else {
      await check('/ws/health heartbeat', async () => {
        if (!welcomed || !health) throw new SmokeError('not attempted: no welcome')
        // The wheel may send up to a tenth of an interval late; 2 s more for the network.
        const wantMs = interval * 1100 + 2000
        const waitMs = Math.min(wantMs, o.timeoutS * 1000) - (performance.now() - welcomedAt)
        const upTo = seconds(Math.max(0, waitMs))
        progress(`… /ws/health: waiting up to ${upTo} for the first heartbeat (ping_interval ${interval} s; --quick skips this)`)
        const started = performance.now()
        const ticker = setInterval(() => progress(`… ${Math.round((performance.now() - started) / 1000)} s of ${upTo}`), PROGRESS_EVERY_MS)
        try {
          const beat = await health.waitFor((m) => m.type === 'heartbeat', 'heartbeat', Math.max(1, waitMs))
          return `heartbeat #${String(beat.ping_number)} after ${seconds(performance.now() - welcomedAt)} (ping_interval ${interval} s)`
        } catch (err) {
          const capped = wantMs > o.timeoutS * 1000 ? `; --timeout ${o.timeoutS} s is shorter than the ${seconds(wantMs)} needed` : ''
          throw new SmokeError(`${(err as Error).message} after the welcome (ping_interval ${interval} s${capped})`)
        } finally {
          clearInterval(ticker)
        }
      })
    }

    let main: Probe | undefined
    await check('/ws ping/pong', async () => {
      main = await open('/ws')
      const sent = performance.now()
      main.ws.send(JSON.stringify({ type: 'ping' }))
      await main.waitFor((m) => m.type === 'pong', 'pong', replyMs)
      return `pong in ${Math.round(performance.now() - sent)} ms`
    })

    await check('clean close 1000', async () => {
      const open = probes.filter((p) => !p.closeInfo)
      if (open.length === 0) throw new SmokeError('not attempted: no connection stayed open')
      const codes = await Promise.all(open.map(async (p) => [p.path, await p.closeNormally(replyMs)] as const))
      const bad = codes.filter(([, code]) => code !== 1000)
      if (bad.length) throw new SmokeError(bad.map(([path, code]) => `${path} answered ${code === 'timeout' ? 'nothing' : code}`).join(', '))
      return `${codes.map(([path]) => path).join(', ')} answered 1000`
    })
  } finally {
    for (const p of probes) if (!p.closeInfo) p.terminate()
  }
  return results
}

function formatResult(r: CheckResult): string {
  if (r.skipped) return `- ${r.name.padEnd(22)} ${r.detail}`
  return `${r.ok ? '✓' : '✗'} ${r.name.padEnd(22)} ${r.detail} (${r.ms} ms)`
}

async function main(): Promise<number> {
  let o: Options
  try {
    o = parseOptions(process.argv.slice(2))
  } catch (err) {
    if (!(err instanceof UsageError) && !(err instanceof TypeError)) throw err
    if (!err.message) {
      console.log(USAGE) // --help
      return 0
    }
    console.error(`smoke: ${err.message}`)
    console.error(USAGE)
    return 2
  }
  console.log(`smoke: ${o.ws} (http ${o.http})`)
  const results = await runChecks(o, (r) => console.log(formatResult(r)), (line) => console.log(`  ${line}`))
  const ran = results.filter((r) => !r.skipped)
  const skipped = results.length - ran.length
  const failed = ran.filter((r) => !r.ok)
  if (failed.length) {
    console.log(`smoke: FAILED ${failed.length} of ${ran.length} checks: ${failed.map((r) => r.name).join(', ')}`)
    return 1
  }
  console.log(`smoke: all ${ran.length} checks passed${skipped ? ' (heartbeat skipped: --quick)' : ''}`)
  return 0
}

process.exitCode = await main()
