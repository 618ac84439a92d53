// The direct upgrade: handshakes to the WebSocket routes declared with `config: { directUpgrade:
// true }` (/ws, /ws/echo, /ws/health) go from the HTTP server's 'upgrade' event straight to `ws`,
// past Fastify's routing, request and reply objects, hooks and the ServerResponse
// @fastify/websocket makes for every upgrade: a reconnect storm is mostly handshakes (issue 17,
// connection establishment; docs/bench.md). What such a handshake still goes through is what
// matters to it of what every request goes through: admission (draining, origin, caps), the
// client address with TRUST_PROXY, the query as Fastify parses it, a request id and Fastify's
// "incoming request" and (for a refusal) "request completed" log lines. Every
// other handshake (walkers' /ws/:walker, /admin/ws, app.injectWS) goes to @fastify/websocket as
// before, and plain GETs to a direct route still reach its Fastify route (426).
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { WebSocket, WebSocketServer } from 'ws'
import proxyAddr from '@fastify/proxy-addr'
import { parse as parseQuery } from 'fast-querystring' // the parser Fastify's router uses
import type { TrustProxy } from '../lib/trust-proxy.ts'
import type { Admission, Refusal } from './admission.ts'
import { answeringEarlierRequest, takeUpgradeListeners } from './upgrade-internals.ts'

/** What a direct route's handler may read of its request: what Fastify's request and the direct upgrade both give. */
export type UpgradeRequest = Pick<FastifyRequest, 'id' | 'headers' | 'query' | 'ip'>
export type DirectHandler = (this: unknown, socket: WebSocket, req: UpgradeRequest) => unknown

interface DirectRoute {
  /** The route's path as declared (admission's drain rule reads it). */
  url: string
  handler: DirectHandler
}

/**
 * A request URL's path (one trailing slash dropped when the router ignores it) and its query
 * string, split once.
 */
function splitUrl(url: string, ignoreTrailingSlash: boolean): { path: string; search: string } {
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  return {
    path: ignoreTrailingSlash && path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path,
    search: q === -1 ? '' : url.slice(q + 1)
  }
}

/** The client's address as Fastify's request.ip gives it: the socket's peer, or past the trusted proxies. */
function clientAddress(req: IncomingMessage, trust: TrustProxy | undefined): string {
  if (!trust) return req.socket.remoteAddress ?? ''
  const addrs = proxyAddr.all(req, trust)
  return addrs[addrs.length - 1] ?? ''
}

/**
 * A refused handshake's answer, then the socket ends (as `ws` aborts a handshake). Fastify's way
 * writes the same status, body and headers, but `connection: keep-alive` before it drops the socket.
 */
function refusalBytes(r: Refusal): string {
  const body = JSON.stringify(r.body)
  let head = `HTTP/1.1 ${r.status} ${STATUS_CODES[r.status]}\r\ndate: ${new Date().toUTCString()}\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`
  for (const [name, value] of Object.entries(r.headers)) if (name !== 'connection') head += `${name}: ${value}\r\n`
  return `${head}\r\n${body}`
}

/** Node takes its own 'error' listener off an upgrade's socket; until `ws` adds one, an error destroys it. */
function destroyOnError(this: Duplex): void {
  this.destroy()
}

/** Options of the Fastify app the direct routes belong to. */
export interface DirectOptions {
  log: FastifyBaseLogger
  trust: TrustProxy | undefined
  /** routerOptions.ignoreTrailingSlash: `/ws/` is `/ws`. */
  ignoreTrailingSlash: boolean
  /** `this` of a handler, as Fastify calls it: the app. */
  app: unknown
}

export class DirectUpgrades {
  private readonly routes = new Map<string, DirectRoute>()
  /** Request ids: `ws-` and a counter, apart from Fastify's `req-` ids. */
  private nextId = 0
  /** Set when the app is ready (admission is another plugin's, absent on a bare app). */
  admission: Admission | undefined

  constructor(private readonly opts: DirectOptions) {}

  /**
   * A route whose handshakes come in directly. `unsupported` names what the route declares that
   * the direct way would skip (hooks, schemas, constraints…): the route is refused instead.
   */
  add(url: string, handler: DirectHandler, unsupported: string[]): void {
    if (/[:*]/.test(url)) unsupported.push('a path with parameters')
    if (unsupported.length > 0) throw new Error(`${url}: a directUpgrade route cannot have ${unsupported.join(', ')} (its handshakes skip Fastify's lifecycle)`)
    this.routes.set(splitUrl(url, this.opts.ignoreTrailingSlash).path, { url, handler })
  }

  /** Take the server's upgrades: the direct routes' here, the rest to the listeners that had them. */
  listen(server: Server, wss: WebSocketServer): void {
    const others = takeUpgradeListeners(server)
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (answeringEarlierRequest(socket)) {
        this.opts.log.info({ url: req.url }, 'websocket upgrade pipelined behind an unanswered request: connection closed')
        socket.destroy()
        return
      }
      // Real sockets only: app.injectWS emits upgrades of a stream that is no request's socket.
      const url = req.socket === socket && req.method === 'GET' && req.url !== undefined ? splitUrl(req.url, this.opts.ignoreTrailingSlash) : undefined
      const route = url && this.routes.get(url.path)
      if (!route) {
        for (const listener of others) listener.call(server, req, socket, head)
        return
      }
      // As @fastify/websocket guards its routing: nothing thrown here may reach Node's HTTP parser.
      try {
        this.upgrade(wss, route, req, url!.search, socket as Socket, head)
      } catch (err) {
        this.opts.log.warn({ err }, 'websocket upgrade failed')
        socket.destroy()
      }
    })
  }

  private upgrade(wss: WebSocketServer, route: DirectRoute, req: IncomingMessage, search: string, socket: Socket, head: Buffer): void {
    socket.on('error', destroyOnError)
    const id = `ws-${(this.nextId = (this.nextId + 1) & 0x7fffffff).toString(36)}`
    const ip = clientAddress(req, this.opts.trust)
    const log = this.opts.log
    // The line Fastify logs for every request, in its shape (the req serializer strips the query).
    log.info({ reqId: id, req: { method: 'GET', url: req.url, ip } }, 'incoming request')
    const refusal = this.admission?.check({ route: route.url, upgrade: true, origin: req.headers.origin, host: req.headers.host, ip, socket }, () => log.child({ reqId: id }))
    if (refusal) {
      socket.once('finish', () => socket.destroy())
      socket.end(refusalBytes(refusal))
      log.info({ reqId: id, res: { statusCode: refusal.status } }, 'request completed')
      return
    }
    socket.off('error', destroyOnError) // ws adds its own in handleUpgrade, synchronously
    wss.handleUpgrade(req, socket, head, (ws) => {
      // Until the handler's Conn takes the socket over (releaseUpgrade swaps this listener out),
      // an error on it (a malformed frame) must not go unheard: that would end the process.
      const fail = (err: unknown) => {
        log.warn({ err, reqId: id }, 'websocket error')
        ws.terminate()
      }
      ws.on('error', fail)
      wss.emit('connection', ws, req)
      try {
        const result = route.handler.call(this.opts.app, ws, { id, headers: req.headers, query: search === '' ? {} : parseQuery(search), ip })
        if (result instanceof Promise) result.catch(fail)
      } catch (err) {
        fail(err)
      }
    })
  }
}
