// Entry point: loadConfig → buildApp → listen → graceful close on SIGTERM/SIGINT (stop accepting,
// 1001 to every socket, in-flight work bounded by SHUTDOWN_GRACE_MS, exit 0).
import closeWithGrace from 'close-with-grace'
import { ConfigError, loadConfig, type Config } from './config.ts'
import { buildApp } from './app.ts'

let config: Config
try {
  config = loadConfig(process.env)
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  // Before the logger exists: one plain line, then a non-zero exit.
  process.stderr.write(`switchboard: invalid configuration: ${err.message}\n`)
  process.exit(78) // EX_CONFIG
}

const app = await buildApp(config)

closeWithGrace({ delay: config.SHUTDOWN_GRACE_MS + 1000, logger: app.log }, async ({ signal, err }) => {
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
