// Entry point: loadConfig → buildApp → listen → graceful close on SIGTERM/SIGINT (stop accepting,
// 1001 to every socket, in-flight work bounded by SHUTDOWN_GRACE_MS, exit 0). An unhandled
// promise rejection is logged and counted, and the process keeps serving (src/lib/process-guards.ts);
// an uncaught exception closes gracefully and exits 1 for the supervisor to restart.
import closeWithGrace from 'close-with-grace'
import { ConfigError, loadConfig, type Config } from './config.ts'
import { buildApp } from './app.ts'
import { guardUnhandledRejections } from './lib/process-guards.ts'
import { WalkerLoadError } from './walkers/registry.ts'
import { MissingBuildError } from './lib/build-output.ts'

/** A mistake in what the operator handed us: one plain line, then a non-zero exit, no stack. */
function refuseToStart(what: string, err: Error): never {
  process.stderr.write(`switchboard: ${what}: ${err.message}\n`)
  process.exit(78) // EX_CONFIG
}

let config: Config
try {
  config = loadConfig(process.env)
} catch (err) {
  if (err instanceof ConfigError) refuseToStart('invalid configuration', err)
  throw err
}

let app: Awaited<ReturnType<typeof buildApp>>
try {
  app = await buildApp(config)
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
  app.log.fatal({ err }, 'could not listen')
  process.exit(1)
}
