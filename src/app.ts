// The root of the service: builds a Fastify instance from a Config and registers plugins/,
// then routes/, in an order you can read. Tests call buildApp with their own config.
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import cors from '@fastify/cors'
import type { Config } from './config.ts'
import { redactingLoggerOptions, stripQuery } from './lib/log-redaction.ts'
import configPlugin from '../plugins/config.ts'
import lifecyclePlugin from '../plugins/lifecycle.ts'
import websocketPlugin from '../plugins/websocket.ts'
import metricsPlugin from '../plugins/metrics.ts'
import admissionPlugin from '../plugins/admission.ts'
import authPlugin from '../plugins/auth.ts'
import backplanePlugin from '../plugins/backplane.ts'
import presencePlugin from '../plugins/presence.ts'
import rateLimitPlugin from '../plugins/rate-limit.ts'
import chatPlugin from '../plugins/chat.ts'
import openapiPlugin from '../plugins/openapi.ts'
import walkersPlugin from '../plugins/walkers.ts'
import walkerBroadcastPlugin from '../plugins/walker-broadcast.ts'
import healthRoutes from '../routes/health.ts'
import metricsRoutes from '../routes/metrics.ts'
import wsMainRoutes from '../routes/ws-main.ts'
import wsEchoRoutes from '../routes/ws-echo.ts'
import wsHealthRoutes from '../routes/ws-health.ts'
import walkerRoutes from '../routes/walkers.ts'
import docsRoutes from '../routes/docs.ts'
import asyncapiRoutes from '../routes/asyncapi.ts'
import pagesRoutes from '../routes/pages.ts'

export interface BuildOptions {
  /** A pino destination (tests capture logs through it); default stdout. */
  logStream?: NodeJS.WritableStream
}

export async function buildApp(config: Config, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const logger: FastifyServerOptions['logger'] = {
    level: config.LOG_LEVEL,
    ...redactingLoggerOptions,
    ...(opts.logStream ? { stream: opts.logStream } : {})
  }
  const options: FastifyServerOptions = {
    logger,
    routerOptions: { ignoreTrailingSlash: true },
    trustProxy: parseTrustProxy(config.TRUST_PROXY),
    // Upgrade requests carry no body; a small limit keeps header/body floods cheap.
    bodyLimit: 1_048_576,
    return503OnClosing: false, // plugins/lifecycle.ts answers 503 itself, /health with its body
    forceCloseConnections: 'idle'
  }
  const app = Fastify(options)

  await app.register(configPlugin, { config })
  await app.register(lifecyclePlugin)
  await app.register(websocketPlugin)
  await app.register(metricsPlugin) // before admission, which counts the handshakes it refuses
  await app.register(admissionPlugin)
  await app.register(authPlugin)
  await app.register(backplanePlugin)
  await app.register(presencePlugin)
  await app.register(rateLimitPlugin)
  await app.register(chatPlugin)
  await app.register(openapiPlugin) // before any route: it collects route schemas as they are added
  await app.register(walkersPlugin)
  await app.register(walkerBroadcastPlugin)
  await app.register(cors, { origin: config.allowAnyOrigin ? true : config.allowedOrigins })

  // The default 404 message repeats the URL, query (and so any token) included.
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: 'Not Found', message: `Route ${request.method}:${stripQuery(request.url)} not found` })
  })

  await app.register(healthRoutes)
  await app.register(metricsRoutes)
  await app.register(wsMainRoutes)
  await app.register(wsEchoRoutes)
  await app.register(wsHealthRoutes)
  await app.register(walkerRoutes)
  await app.register(docsRoutes)
  await app.register(asyncapiRoutes)
  await app.register(pagesRoutes)
  return app
}

function parseTrustProxy(value: string): FastifyServerOptions['trustProxy'] {
  if (value === 'true') return true
  if (value === 'false') return false
  if (/^\d+$/.test(value)) {
    const hops = Number(value)
    return (_addr: string, i: number) => i < hops // trust the nearest `hops` proxies
  }
  return value.split(',').map((s) => s.trim()).filter(Boolean)
}
