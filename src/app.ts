// The root of the service: builds a Fastify instance from a Config and registers plugins/,
// then routes/, in an order you can read. Tests call buildApp with their own config.
import Fastify, { type FastifyHttpOptions, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { Server } from 'node:http'
import cors from '@fastify/cors'
import type { Config } from './config.ts'
import { redactingLoggerOptions, stripQuery } from './lib/log-redaction.ts'
import { trustProxyFn } from './lib/trust-proxy.ts'
import configPlugin from '../plugins/config.ts'
import lifecyclePlugin from '../plugins/lifecycle.ts'
import websocketPlugin from '../plugins/websocket.ts'
import metricsPlugin from '../plugins/metrics.ts'
import admissionPlugin from '../plugins/admission.ts'
import upgradeRequiredPlugin from '../plugins/upgrade-required.ts'
import authPlugin from '../plugins/auth.ts'
import backplanePlugin from '../plugins/backplane.ts'
import presencePlugin from '../plugins/presence.ts'
import rateLimitPlugin from '../plugins/rate-limit.ts'
import historyPlugin from '../plugins/history.ts'
import chatPlugin from '../plugins/chat.ts'
import openapiPlugin from '../plugins/openapi.ts'
import walkersPlugin from '../plugins/walkers.ts'
import walkerBroadcastPlugin from '../plugins/walker-broadcast.ts'
import adminPlugin from '../plugins/admin.ts'
import healthRoutes from '../routes/health.ts'
import metricsRoutes from '../routes/metrics.ts'
import wsMainRoutes from '../routes/ws-main.ts'
import wsEchoRoutes from '../routes/ws-echo.ts'
import wsHealthRoutes from '../routes/ws-health.ts'
import walkerRoutes from '../routes/walkers.ts'
import docsRoutes from '../routes/docs.ts'
import asyncapiRoutes from '../routes/asyncapi.ts'
import pagesRoutes from '../routes/pages.ts'
import adminRoutes from '../routes/admin.ts'

/**
 * HTTP-level limits, in force before any route or upgrade runs, so that clients that open
 * connections and then stall (slowloris), or send oversized headers, cannot hold sockets and
 * memory. docs/security.md lists what each one protects.
 */
export interface HttpLimits {
  /** A request's headers (a WebSocket handshake is nothing else) must be complete within this. */
  headersTimeoutMs: number
  /** The whole request, body included, must arrive within this (bodies are ≤ 1 MiB). */
  requestTimeoutMs: number
  /** How often Node checks the two timeouts above: the worst case is timeout + this. */
  checkIntervalMs: number
  /** An idle keep-alive connection closes after this; above nginx's 60 s upstream keepalive, so the proxy always closes first. */
  keepAliveTimeoutMs: number
  /** Request line plus headers, in bytes; more is answered 431. Fits an 8 KB token and cookies. */
  maxHeaderSize: number
}

export const HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  checkIntervalMs: 1_000,
  keepAliveTimeoutMs: 72_000,
  maxHeaderSize: 16_384
}

export interface BuildOptions {
  /** A pino destination (tests capture logs through it); default stdout. */
  logStream?: NodeJS.WritableStream
  /** Overrides of HTTP_LIMITS (tests shorten the timeouts to see them fire). */
  httpLimits?: Partial<HttpLimits>
}

export async function buildApp(config: Config, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const logger: FastifyServerOptions['logger'] = {
    level: config.LOG_LEVEL,
    ...redactingLoggerOptions,
    ...(opts.logStream ? { stream: opts.logStream } : {})
  }
  const limits = { ...HTTP_LIMITS, ...opts.httpLimits }
  const options: FastifyHttpOptions<Server> = {
    logger,
    routerOptions: { ignoreTrailingSlash: true },
    trustProxy: trustProxyFn(config.TRUST_PROXY) ?? false,
    // Upgrade requests carry no body; a small limit keeps header/body floods cheap.
    bodyLimit: 1_048_576,
    return503OnClosing: false, // plugins/lifecycle.ts answers 503 itself, /health with its body
    forceCloseConnections: 'idle',
    // Fastify's default requestTimeout is 0 (none): a client trickling a body would hold its
    // socket forever. Node's headersTimeout (default 60 s, checked every 30 s) is tightened too.
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // An HTTP socket with no traffic at all for this long is destroyed. Above the longest a
    // walker may take to answer; WebSockets are exempt (ws clears the timeout on upgrade).
    connectionTimeout: Math.max(config.WALKER_TIMEOUT_MS, limits.requestTimeoutMs) + 10_000,
    http: {
      maxHeaderSize: limits.maxHeaderSize,
      headersTimeout: limits.headersTimeoutMs,
      connectionsCheckingInterval: limits.checkIntervalMs
    }
  }
  const app = Fastify(options)

  await app.register(configPlugin, { config })
  await app.register(lifecyclePlugin)
  await app.register(websocketPlugin)
  await app.register(metricsPlugin) // before admission, which counts the handshakes it refuses
  await app.register(admissionPlugin)
  await app.register(upgradeRequiredPlugin) // before any WebSocket route: plain GETs to them get 426
  await app.register(authPlugin)
  await app.register(backplanePlugin)
  await app.register(presencePlugin)
  await app.register(rateLimitPlugin)
  await app.register(historyPlugin)
  await app.register(chatPlugin)
  await app.register(openapiPlugin) // before any route: it collects route schemas as they are added
  await app.register(walkersPlugin)
  await app.register(walkerBroadcastPlugin)
  await app.register(adminPlugin)
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
  await app.register(adminRoutes)
  return app
}
