// The deployment files, checked without a Docker engine: docker-compose.yml's wiring (parsed
// with `yaml`), ops/Dockerfile's stages and settings, and the image's runtime stage replayed on
// this machine: the compiled service run from the same layout, probed with the HEALTHCHECK
// command and the smoke script, then stopped with SIGTERM inside Docker's 10 s.
import t from 'tap'
import { spawn } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { ConfigSchema, loadConfig } from '../src/config.ts'
import { WsTestClient } from '../src/testing/ws-test-client.ts'
import { freePort } from './helpers/nginx.ts'
import { runSmoke } from './helpers/smoke.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const read = (p: string) => readFileSync(join(root, p), 'utf8')

/* eslint-disable @typescript-eslint/no-explicit-any -- parsed YAML is checked field by field */
const compose: any = parse(read('docker-compose.yml'), { merge: true })
const wsConf = read('ops/nginx/ws.conf').replace(/#.*$/gm, '')

/** Compose's `${VAR:-default}` as `docker compose` would resolve it with VAR unset. */
const interpolate = (v: unknown) => String(v).replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1')

const apiServices = Object.entries<any>(compose.services).filter(([, s]) => s.build?.dockerfile === 'ops/Dockerfile')

t.test('docker-compose.yml: services and their wiring', async (t) => {
  const names = Object.keys(compose.services)
  t.ok(names.includes('nginx') && names.includes('redis'), `services: ${names.join(', ')}`)
  t.equal(apiServices.length, 2, 'two api instances')

  for (const [name, api] of apiServices) {
    t.ok(existsSync(join(root, api.build.context, api.build.dockerfile)), `${name}: its Dockerfile exists`)
    const env = api.environment
    t.equal(env.HOST, '0.0.0.0', `${name}: HOST=0.0.0.0`)
    t.match(env.REDIS_URL, /^redis:\/\/redis:6379$/, `${name}: REDIS_URL points at the redis service`)
    t.equal(api.depends_on?.redis?.condition, 'service_healthy', `${name}: waits for redis to be healthy`)
    t.match(api.healthcheck?.test?.join(' '), new RegExp(`127\\.0\\.0\\.1:${env.PORT}/health`), `${name}: healthcheck probes /health on PORT`)
    t.ok(api.expose?.map(String).includes(String(env.PORT)), `${name}: exposes PORT to the network`)

    const known = Object.keys(ConfigSchema.properties)
    // NODE_OPTIONS is Node's: the larger young generation the capacity run measured (docs/capacity.md).
    t.equal(env.NODE_OPTIONS, '--max-semi-space-size=32', `${name}: runs with the measured young generation`)
    for (const key of Object.keys(env)) if (key !== 'NODE_OPTIONS') t.ok(known.includes(key), `${name}: ${key} exists in ConfigSchema`)
    // The values, as compose would pass them with nothing set in the shell, are a valid config.
    const config = loadConfig(Object.fromEntries(Object.entries(env).filter(([k]) => k !== 'NODE_OPTIONS').map(([k, v]) => [k, interpolate(v)])))
    t.ok(config.TRUST_PROXY === '1', `${name}: trusts exactly the one proxy in front`)

    // Docker waits stop_grace_period before SIGKILL; the process gives up SHUTDOWN_GRACE_MS + 1 s.
    const grace = /^(\d+)s$/.exec(api.stop_grace_period)
    t.ok(grace && Number(grace[1]) * 1000 > config.SHUTDOWN_GRACE_MS + 1000, `${name}: stop_grace_period ${api.stop_grace_period} covers the drain`)
  }

  const redis = compose.services.redis
  t.ok(redis.healthcheck?.test?.join(' ').includes('redis-cli ping'), 'redis has a healthcheck')
  const command = (redis.command as string[]).join(' ')
  t.match(command, /--appendonly yes/, 'redis keeps the chat history in an append-only file')
  t.match(command, /--appendfsync everysec/, 'fsynced every second')
  t.ok((redis.volumes as string[]).some((v) => /^redis-data:\/data$/.test(v)) && 'redis-data' in compose.volumes, 'on a named volume')
})

t.test('docker-compose.yml and ops/nginx/ws.conf agree', async (t) => {
  const nginx = compose.services.nginx
  for (const volume of nginx.volumes as string[]) {
    const [host, target] = volume.split(':')
    t.ok(existsSync(join(root, host!)), `mounted ${host} exists`)
    if (host!.endsWith('ws.conf')) t.match(target, /^\/etc\/nginx\/conf\.d\/[^/]+\.conf$/, 'mounted where nginx includes it in http {}')
  }
  t.ok((nginx.volumes as string[]).some((v) => v.startsWith('./ops/nginx/ws.conf:')), 'the tested ws.conf is the one mounted')

  const listen = [...wsConf.matchAll(/listen (\d+);/g)].map((m) => m[1])
  const published = (nginx.ports as string[]).map((p) => String(p).split(':').pop())
  t.same(published, listen, `published container ports ${published} = ws.conf listen ${listen}`)

  const upstream = [...wsConf.matchAll(/server ([a-z0-9_-]+):(\d+)/g)].map((m) => ({ host: m[1]!, port: m[2]! }))
  // Two upstreams (traffic, readiness probes), each listing exactly the api services.
  for (const block of wsConf.matchAll(/upstream (\w+) \{([^}]*)\}/g)) {
    const hosts = [...block[2]!.matchAll(/server ([a-z0-9_-]+):(\d+)/g)].map((m) => m[1]!)
    t.same(hosts.sort(), apiServices.map(([n]) => n).sort(), `upstream ${block[1]} lists exactly the api services`)
  }
  for (const u of upstream) {
    t.equal(String(compose.services[u.host].environment.PORT), u.port, `${u.host}:${u.port} matches its PORT`)
    t.equal(nginx.depends_on?.[u.host]?.condition, 'service_healthy', `nginx starts after ${u.host} is healthy`)
  }

  const interval = Number(apiServices[0]![1].environment.WS_PING_INTERVAL)
  const timeout = Number(apiServices[0]![1].environment.WS_PING_TIMEOUT)
  const read = Number(/proxy_read_timeout (\d+)s;/.exec(wsConf.slice(wsConf.indexOf('location ~ ^/ws')))?.[1])
  t.ok(read > 2 * interval + timeout, `proxy_read_timeout ${read}s well above WS_PING_INTERVAL ${interval}s`)
})

// --- ops/Dockerfile

const dockerfile = read('ops/Dockerfile')
const stages = dockerfile.split(/^FROM /m).slice(1).map((s) => `FROM ${s}`)
const runtime = stages[stages.length - 1] ?? ''
/** The runtime stage's instructions, continuation lines joined. */
const instructions = runtime.replace(/\\\n\s*/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
const env: Record<string, string> = {}
for (const l of instructions.filter((l) => l.startsWith('ENV '))) {
  for (const m of l.slice(4).matchAll(/([A-Z_]+)=(\S+)/g)) env[m[1]!] = m[2]!
}
const healthcheckCmd = /CMD node -e "(.*)"$/.exec(instructions.find((l) => l.startsWith('HEALTHCHECK')) ?? '')?.[1]

t.test('ops/Dockerfile: multi-stage, production deps, non-root, health check, shutdown budget', async (t) => {
  t.ok(stages.length >= 2, 'a build stage and a runtime stage')
  t.match(stages[0], /npm ci[^\n]*\n[\s\S]*npm run build/, 'the build stage compiles TypeScript')
  t.match(stages[0], /npm prune --omit=dev/, 'the build stage keeps production dependencies only (native modules compiled with its toolchain)')
  t.match(runtime, /COPY --from=build \/app\/node_modules/, 'the runtime takes those, and no toolchain')
  t.notMatch(runtime, /apt-get install/, 'no compiler in the runtime image')
  t.notMatch(runtime, /npm ci --no-audit --no-fund\n/, 'and no dev dependencies')
  const user = instructions.filter((l) => l.startsWith('USER ')).pop()
  t.ok(user && !/^USER (root|0)(:|$)/.test(user), `runs as ${user}`)
  t.ok(healthcheckCmd?.includes('/health'), 'HEALTHCHECK probes /health')
  t.ok(instructions.includes('STOPSIGNAL SIGTERM'))
  t.ok(instructions.includes('CMD ["node", "dist/src/server.js"]'), 'node is PID 1 (no npm in between)')
  t.ok(existsSync(join(root, 'src/server.ts')), 'dist/src/server.js is what src/server.ts compiles to')
  const config = loadConfig(env)
  t.equal(config.HOST, '0.0.0.0')
  t.ok(config.SHUTDOWN_GRACE_MS + 1000 < 10_000, `SHUTDOWN_GRACE_MS ${config.SHUTDOWN_GRACE_MS} + 1 s of slack stays inside Docker's 10 s`)
  t.ok(instructions.includes('COPY src/web ./src/web'), 'the page assets the runtime reads from src/web/')
  // The chat bundle is built, not committed (and .dockerignore keeps a local one out of the
  // context): the runtime stage must take it from the build stage.
  t.ok(instructions.includes('COPY --from=build /app/src/web/dist ./src/web/dist'), 'the chat bundle from the build stage')
  t.match(readFileSync(new URL('../.dockerignore', import.meta.url), 'utf8'), /^src\/web\/dist$/m, 'no local bundle in the build context')
  for (const l of stages.join('\n').split('\n').filter((l) => /^COPY (?!--from)/.test(l))) {
    for (const src of l.split(/\s+/).slice(1, -1)) t.ok(existsSync(join(root, src)), `COPY source ${src} exists`)
  }
  const ignored = read('.dockerignore').split('\n')
  t.ok(ignored.includes('node_modules') && ignored.includes('.env'), '.dockerignore keeps node_modules and .env out of the context')
})

t.test('the service imports only production dependencies', async (t) => {
  const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> }
  const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { dev?: boolean }> }
  const files: string[] = []
  const walk = (dir: string) => {
    for (const name of readdirSync(join(root, dir))) {
      const rel = join(dir, name)
      if (statSync(join(root, rel)).isDirectory()) {
        if (!['src/web', 'src/testing'].includes(rel)) walk(rel)
      } else if (rel.endsWith('.ts')) files.push(rel)
    }
  }
  for (const dir of ['src', 'plugins', 'routes']) walk(dir)
  const builtins = new Set(builtinModules)
  const used = new Map<string, string>()
  for (const file of files) {
    // Value imports only: `import type` is erased by the compiler.
    for (const m of read(file).matchAll(/^import (?!type )[^'"]*?from '([^'.][^']*)'|^import '([^'.][^']*)'/gm)) {
      const spec = (m[1] ?? m[2])!
      if (spec.startsWith('node:') || builtins.has(spec.split('/')[0]!)) continue
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!
      used.set(name, file)
    }
  }
  for (const [name, file] of used) {
    // `ws` is installed as a production dependency of @fastify/websocket; anything else must be
    // declared in "dependencies" to be in the image.
    const declared = name in pkg.dependencies
    const prodInLock = lock.packages[`node_modules/${name}`] !== undefined && !lock.packages[`node_modules/${name}`]!.dev
    t.ok(declared || (name === 'ws' && prodInLock), `${name} (${file}) is installed by npm ci --omit=dev`)
  }
})

t.test('the runtime stage, replayed: health check, smoke test, SIGTERM inside 10 s', async (t) => {
  // The image's /app: compiled dist/, package.json, src/web/, ops/ws_smoke.sh, node_modules.
  const app = mkdtempSync(join(tmpdir(), 'switchboard-image-'))
  t.teardown(() => rmSync(app, { recursive: true, force: true }))
  const tsc = spawn(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', join(app, 'dist')], { stdio: ['ignore', 'pipe', 'pipe'] })
  let tscOut = ''
  tsc.stdout.on('data', (d) => (tscOut += d))
  const built = await new Promise<number | null>((resolve) => tsc.on('exit', resolve))
  t.equal(built, 0, `npm run build (tsc -p tsconfig.build.json) succeeds${tscOut ? `:\n${tscOut}` : ''}`)
  if (built !== 0) return
  for (const l of instructions.filter((l) => /^COPY (?!--from)/.test(l))) {
    const parts = l.split(/\s+/).slice(1)
    const dest = parts.pop()!
    for (const src of parts) {
      const target = dest.endsWith('/') || parts.length > 1 ? join(app, dest, src.split('/').pop()!) : join(app, dest)
      mkdirSync(dirname(target), { recursive: true })
      cpSync(join(root, src), target, { recursive: true })
    }
  }
  symlinkSync(join(root, 'node_modules'), join(app, 'node_modules'))

  const port = await freePort()
  const proc = spawn(process.execPath, ['dist/src/server.js'], {
    cwd: app,
    env: { ...process.env, ...env, PORT: String(port), NODE_ENV: 'production' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  proc.stdout.on('data', (d) => (out += d))
  proc.stderr.on('data', (d) => (out += d))
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })))
  t.teardown(() => void proc.kill('SIGKILL'))
  for (let i = 0; i < 100 && !/Server listening/.test(out); i++) await new Promise((r) => setTimeout(r, 100))
  t.match(out, /Server listening/, 'the compiled service starts from the image layout')

  const base = `http://127.0.0.1:${port}`
  t.equal((await fetch(`${base}/health`)).status, 200)
  t.equal((await fetch(`${base}/playground`)).status, 200, 'page assets found under src/web/')

  const probe = (p: number) => new Promise<number | null>((resolve) => {
    spawn(process.execPath, ['-e', healthcheckCmd!], { env: { ...process.env, PORT: String(p) }, stdio: 'ignore' }).on('exit', resolve)
  })
  t.equal(await probe(port), 0, 'the HEALTHCHECK command passes against the running service')
  t.equal(await probe(await freePort()), 1, 'and fails where nothing listens')

  // No tsx in the image: the script falls back to the compiled CLI.
  const smoke = await runSmoke([`ws://127.0.0.1:${port}`, '--timeout', '1'], {}, join(app, 'ops/ws_smoke.sh'))
  t.match(smoke.out, /✓ GET \/health/)
  t.match(smoke.out, /✓ \/ws\/echo round trip/)

  const clients = await Promise.all(['/ws', '/ws/echo', '/ws/health'].map((p) => WsTestClient.connect(`ws://127.0.0.1:${port}${p}`)))
  await Promise.all(clients.map((c) => c.receiveJson()))
  const started = Date.now()
  proc.kill('SIGTERM')
  const closes = await Promise.all(clients.map((c) => c.expectClose(undefined, { timeout: 10_000 })))
  t.same([...new Set(closes.map((c) => c.code))], [1001], 'every client told 1001')
  const { code } = await exited
  const took = Date.now() - started
  t.equal(code, 0, 'exit 0')
  t.ok(took < 10_000, `stopped in ${took} ms, inside Docker's 10 s`)
})
