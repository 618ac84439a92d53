// Entry point: loadConfig → buildApp → listen → graceful close on SIGTERM/SIGINT (stop accepting,
// 1001 to every socket, in-flight work bounded by SHUTDOWN_GRACE_MS, exit 0). An unhandled
// promise rejection is logged and counted, and the process keeps serving (src/lib/process-guards.ts);
// an uncaught exception closes gracefully and exits 1 for the supervisor to restart.
import closeWithGrace from 'close-with-grace'
import { checkPaths, ConfigError, loadConfig, type Config } from './config.ts'
import { buildApp } from './app.ts'
import { guardUnhandledRejections } from './lib/process-guards.ts'
import { WalkerLoadError } from './walkers/registry.ts'
import { MissingBuildError } from './lib/build-output.ts'
import { generateAdminToken } from './admin/auth.ts'
import { startupBanner } from './admin/banner.ts'

/** A mistake in what the operator handed us: one plain line, then a non-zero exit, no stack. */
function refuseToStart(what: string, err: Error, code = 78 /* EX_CONFIG */): never {
  process.stderr.write(`switchboard: ${what}: ${err.message}\n`)
  process.exit(code)
}

/**
 * listen() failures an operator can fix, as one line and an exit code (docs/configuration.md):
 * 98 when the port is taken (Linux's EADDRINUSE), 77 when binding it needs privileges, 78 when
 * HOST is no address of this machine. Anything else stays a logged error, exit 1.
 */
function listenFailure(err: NodeJS.ErrnoException, c: Config): { message: string; code: number } | undefined {
  const where = `${c.HOST}:${c.PORT}`
  switch (err.code) {
    case 'EADDRINUSE': return { code: 98, message: `${where} is already in use: stop what listens there or set PORT to a free port (PORT=0 picks one)` }
    case 'EACCES': return { code: 77, message: `${where}: permission denied: ports below 1024 need privileges; set PORT=1024 or above` }
    case 'EADDRNOTAVAIL': return { code: 78, message: `HOST=${c.HOST}: not an address of this machine (127.0.0.1 locally, 0.0.0.0 for every interface)` }
    case 'ENOTFOUND':
    case 'EAI_AGAIN': return { code: 78, message: `HOST=${c.HOST}: cannot resolve this name (127.0.0.1 locally, 0.0.0.0 for every interface)` }
    default: return undefined
  }
}

let config: Config
try {
  config = loadConfig(process.env)
  checkPaths(config)
} catch (err) {
  if (err instanceof ConfigError) refuseToStart('invalid configuration', err)
  throw err
}

// /admin wants a token: without ADMIN_TOKEN this process makes its own, shown in the banner.
const generatedAdminToken = config.ADMIN_TOKEN ? undefined : generateAdminToken()
if (generatedAdminToken) config = { ...config, ADMIN_TOKEN: generatedAdminToken }

// `npm run dev` passes --pretty: readable logs through pino-pretty (a devDependency, loaded only then).
const logStream = process.argv.includes('--pretty')
  ? (await import('pino-pretty')).default({ translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })
  : undefined

let app: Awaited<ReturnType<typeof buildApp>>
try {
  app = await buildApp(config, { logStream })
} catch (err) {
  if (err instanceof WalkerLoadError) refuseToStart('invalid walker', err)
  if (err instanceof MissingBuildError) refuseToStart('missing build output', err)
  throw err
}

guardUnhandledRejections(app.log, () => app.metrics.countUnhandledRejection())

// close-with-grace would also shut down on an unhandled rejection; the guard above owns those.
closeWithGrace({ delay: config.SHUTDOWN_GRACE_MS + 1000, logger: app.log, skip: ['unhandledRejection'] }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'fatal error; closing')
  else app.log.info({ signal }, 'shutting down')
  await app.close()
})

try {
  await app.listen({ port: config.PORT, host: config.HOST })
} catch (err) {
  const known = listenFailure(err as NodeJS.ErrnoException, config)
  if (known) refuseToStart('cannot listen', new Error(known.message), known.code)
  app.log.fatal({ err }, 'could not listen')
  process.exit(1)
}
app.log.info(startupBanner(config, app.server.address(), generatedAdminToken))
