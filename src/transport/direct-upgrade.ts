// The direct upgrade: handshakes to the WebSocket routes declared with `config: { directUpgrade:
// true }` (/ws, /ws/echo, /ws/health) go from the HTTP server's 'upgrade' event straight to `ws`,
// past Fastify's routing, request and reply objects, hooks and the ServerResponse
// @fastify/websocket makes for every upgrade: a reconnect storm is mostly handshakes (issue 17,
// connection establishment; docs/bench.md). What such a handshake still goes through is what
// matters to it of what every request goes through: admission (draining, origin, caps), the
// client address with TRUST_PROXY, a request id and Fastify's "incoming request" log line. Every
// other handshake (walkers' /ws/:walker, /admin/ws, app.injectWS) goes to @fastify/websocket as
// before, and plain GETs to a direct route still reach its Fastify route (426).
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http'
import type { Socket } from 'node:net'
import { parse as parseQuery, type ParsedUrlQuery } from 'node:querystring'
import type { Duplex } from 'node:stream'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { WebSocket, WebSocketServer } from 'ws'
import proxyAddr from '@fastify/proxy-addr'
import type { TrustProxy } from '../lib/trust-proxy.ts'
import type { Admission, Refusal } from './admission.ts'
import { takeUpgradeListeners } from './upgrade-internals.ts'

/** What a direct route's handler may read of its request: what Fastify's request and the direct upgrade both give. */
export type UpgradeRequest = Pick<FastifyRequest, 'id' | 'headers' | 'query' | 'ip'>
export type DirectHandler = (this: unknown, socket: WebSocket, req: UpgradeRequest) => void

interface DirectRoute {
  /** The route's path as declared (admission's drain rule reads it). */
  url: string
  handler: DirectHandler
}

/** The path a direct route answers: no query, one trailing slash ignored (as routerOptions.ignoreTrailingSlash). */
function pathOf(url: string | undefined): string {
  if (url === undefined) return ''
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path
}

/** The query as Fastify parses it (node:querystring's rules: a repeated key gives an array). */
function queryOf(url: string | undefined): ParsedUrlQuery {
  const q = url?.indexOf('?') ?? -1
  return q === -1 ? {} : parseQuery(url!.slice(q + 1))
}

/** The client's address as Fastify's request.ip gives it: the socket's peer, or past the trusted proxies. */
export function clientAddress(req: IncomingMessage, trust: TrustProxy | undefined): string {
  if (!trust) return req.socket.remoteAddress ?? ''
  const addrs = proxyAddr.all(req, trust)
  return addrs[addrs.length - 1] ?? ''
}

/** A refused handshake's answer, then the socket ends (as `ws` aborts a handshake). */
function refuse(socket: Duplex, r: Refusal): void {
  const body = JSON.stringify(r.body)
  let head = `HTTP/1.1 ${r.status} ${STATUS_CODES[r.status]}\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`
  for (const [name, value] of Object.entries(r.headers)) if (name !== 'connection') head += `${name}: ${value}\r\n`
  socket.once('finish', () => socket.destroy())
  socket.end(`${head}\r\n${body}`)
}

/** Node takes its own 'error' listener off an upgrade's socket; until `ws` adds one, an error destroys it. */
function destroyOnError(this: Duplex): void {
  this.destroy()
}

export class DirectUpgrades {
  private readonly routes = new Map<string, DirectRoute>()
  /** Request ids: `ws-` and a counter, apart from Fastify's `req-` ids. */
  private nextId = 0
  /** Set when the app is ready (admission is another plugin's, absent on a bare app). */
  admission: Admission | undefined

  constructor(
    private readonly log: FastifyBaseLogger,
    private readonly trust: TrustProxy | undefined
  ) {}

  /** A route whose handshakes come in directly: a fixed path, no hooks of its own (they would be skipped). */
  add(url: string, handler: DirectHandler, hasHooks: boolean): void {
    if (/[:*]/.test(url) || hasHooks) throw new Error(`${url}: a directUpgrade route has a fixed path and no hooks of its own (its handshakes skip them)`)
    this.routes.set(pathOf(url), { url, handler })
  }

  /** Take the server's upgrades: the direct routes' here, the rest to the listeners that had them. */
  listen(server: Server, wss: WebSocketServer): void {
    const others = takeUpgradeListeners(server)
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // Real sockets only: app.injectWS emits upgrades of a stream that is no request's socket.
      const route = req.socket === socket && req.method === 'GET' ? this.routes.get(pathOf(req.url)) : undefined
      if (route) this.upgrade(wss, route, req, socket as Socket, head)
      else for (const listener of others) listener.call(server, req, socket, head)
    })
  }

  private upgrade(wss: WebSocketServer, route: DirectRoute, req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', destroyOnError)
    const id = `ws-${(this.nextId = (this.nextId + 1) & 0x7fffffff).toString(36)}`
    const ip = clientAddress(req, this.trust)
    const log = this.log
    // The line Fastify logs for every request, in its shape (the req serializer strips the query).
    log.info({ reqId: id, req: { method: 'GET', url: req.url, ip, ws: true } }, 'incoming request')
    const refusal = this.admission?.check({ route: route.url, upgrade: true, origin: req.headers.origin, host: req.headers.host, ip, socket }, log)
    if (refusal) return refuse(socket, refusal)
    socket.off('error', destroyOnError) // ws adds its own in handleUpgrade, synchronously
    wss.handleUpgrade(req, socket, head, (ws) => {
      try {
        route.handler.call(undefined, ws, { id, headers: req.headers, query: queryOf(req.url), ip })
      } catch (err) {
        log.warn({ err, reqId: id }, 'websocket error')
        ws.terminate()
      }
    })
  }
}
