// Run a real nginx (the Debian package) with ops/nginx/ws.conf in front of test instances. The
// file is used as shipped except for what must differ on a test machine: the two upstream
// addresses, the listen port and the access log path, each rewritten exactly once.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'

export const WS_CONF = fileURLToPath(new URL('../../ops/nginx/ws.conf', import.meta.url))

/** The nginx binary, or undefined when it is not installed (/usr/sbin may be off PATH). */
export function nginxBinary(): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin']) {
    const bin = join(dir, 'nginx')
    if (dir && existsSync(bin)) return bin
  }
  return undefined
}

/** Outside CI a missing nginx skips the suite (with this reason); in CI it fails. */
export function nginxSkipReason(): string | false {
  if (nginxBinary()) return false
  if (process.env.CI === 'true') return false // let startNginx fail loudly
  return 'nginx is not installed (CI installs it from .ci/apt-packages: apt-get install nginx)'
}

/** ws.conf with the test's addresses. Throws if any rewritten line is not found exactly once. */
export function templateWsConf(conf: string, o: { upstreams: [number, number]; port: number; accessLog: string }): string {
  // [from, to, how many times]: each instance is in two upstreams (traffic, readiness probes).
  const swaps: [string, string, number][] = [
    ['server api1:8000 ', `server 127.0.0.1:${o.upstreams[0]} `, 2],
    ['server api2:8000 ', `server 127.0.0.1:${o.upstreams[1]} `, 2],
    ['listen 80;', `listen 127.0.0.1:${o.port};`, 1],
    ['access_log /var/log/nginx/access.log switchboard;', `access_log ${o.accessLog} switchboard;`, 1]
  ]
  let out = conf
  for (const [from, to, times] of swaps) {
    const n = out.split(from).length - 1
    if (n !== times) throw new Error(`ws.conf: expected "${from}" ${times} time(s), found ${n}; update test/helpers/nginx.ts with the config`)
    out = out.replaceAll(from, to)
  }
  return out
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

export interface Nginx {
  port: number
  http: string
  ws(path: string): string
  /** The templated ws.conf nginx runs with. */
  conf: string
  accessLog(): string
  errorLog(): string
  /** Wait until the access log has a line matching `pattern` (nginx logs a WebSocket at close). */
  waitForAccessLog(pattern: RegExp, timeoutMs?: number): Promise<string>
  stop(): Promise<void>
}

/** Start nginx in the foreground with its own prefix, pid and logs in a temp dir. */
export async function startNginx(upstreams: [number, number]): Promise<Nginx> {
  const bin = nginxBinary()
  if (!bin) throw new Error('nginx is not installed: apt-get install -y nginx (see .ci/apt-packages)')
  let lastError = ''
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-nginx-'))
    // Workers run as an unprivileged user when nginx starts as root: they must reach the dir.
    chmodSync(dir, 0o755)
    const port = await freePort()
    const paths = { access: join(dir, 'access.log'), error: join(dir, 'error.log'), conf: join(dir, 'ws.conf'), main: join(dir, 'nginx.conf') }
    const conf = templateWsConf(readFileSync(WS_CONF, 'utf8'), { upstreams, port, accessLog: paths.access })
    writeFileSync(paths.conf, conf)
    writeFileSync(paths.main, [
      'daemon off;',
      'worker_processes 1;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${paths.error} info;`,
      'events { worker_connections 512; }',
      'http {',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `  ${k}_temp_path ${join(dir, k)};`),
      `  include ${paths.conf};`,
      '}',
      ''
    ].join('\n'))
    const proc: ChildProcess = spawn(bin, ['-p', dir, '-c', paths.main, '-e', paths.error], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    proc.stdout!.on('data', (d) => (out += d))
    proc.stderr!.on('data', (d) => (out += d))
    let exited = false
    const exit = new Promise<void>((resolve) => proc.once('exit', () => {
      exited = true
      resolve()
    }))
    // A test that dies must not leave nginx running.
    const killOnExit = () => proc.kill('SIGKILL')
    process.once('exit', killOnExit)

    const deadline = Date.now() + 5000
    while (!exited && Date.now() < deadline && !(await accepts(port))) await sleep(25)
    const readLog = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : '')
    if (!exited && (await accepts(port))) {
      return {
        port,
        http: `http://127.0.0.1:${port}`,
        ws: (path) => `ws://127.0.0.1:${port}${path}`,
        conf,
        accessLog: () => readLog(paths.access),
        errorLog: () => readLog(paths.error),
        async waitForAccessLog(pattern, timeoutMs = 3000) {
          const until = Date.now() + timeoutMs
          for (;;) {
            const log = readLog(paths.access)
            if (pattern.test(log)) return log
            if (Date.now() > until) throw new Error(`access log has no line matching ${pattern} after ${timeoutMs} ms:\n${log}`)
            await sleep(50)
          }
        },
        async stop() {
          process.removeListener('exit', killOnExit)
          if (!exited) proc.kill('SIGTERM')
          await exit
          rmSync(dir, { recursive: true, force: true })
        }
      }
    }
    process.removeListener('exit', killOnExit)
    if (!exited) proc.kill('SIGKILL')
    await exit
    lastError = `${out}\n${readLog(paths.error)}`
    rmSync(dir, { recursive: true, force: true })
    if (!/Address already in use/.test(lastError)) break // only a lost port race is worth a retry
  }
  throw new Error(`nginx did not start:\n${lastError}`)
}
