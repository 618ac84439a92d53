// The one door to library internals: what `ws`, @fastify/websocket and Node leave on an upgraded
// socket that would keep the upgrade's request alive for the socket's whole life, and the TCP
// stream the transport corks to batch writes and writes its frames to. test/transport/upgrade-internals.test.ts fails
// loudly when an upgrade of those libraries renames what this file reaches for.
import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import type { WebSocket } from 'ws'

/** The TCP stream under a ws socket, which ws keeps as `_socket`. */
export interface TcpStream {
  /** Conn writes its text frames here itself (conn.ts, writeTextFrame). */
  write(chunk: Buffer): boolean
  cork(): void
  uncork(): void
  readonly writableCorked: number
  /** The HTTP response Node's server assigned to the socket (net.Socket's `_httpMessage`). */
  _httpMessage?: { detachSocket?(socket: TcpStream): void } | null
}

/** What release() found and dropped; a false means a library changed under us (but `response` after a direct upgrade). */
export interface Released {
  /** ws's `_socket` was there (writes can be corked). */
  stream: boolean
  /** Node's ServerResponse was detached from the TCP socket (false, and nothing to do, after a direct upgrade: none was made). */
  response: boolean
  /** The disarmed connection timeout was dropped from the TCP socket. */
  timer: boolean
  /** @fastify/websocket's request-capturing error listener was replaced by ours. */
  errorListener: boolean
}

/** The TCP stream of a ws socket, when ws still keeps it as `_socket`. */
export function tcpStreamOf(socket: WebSocket): TcpStream | undefined {
  const stream = (socket as unknown as { _socket?: TcpStream })._socket
  return stream && typeof stream.cork === 'function' ? stream : undefined
}

let timeoutSymbol: symbol | undefined

/**
 * Node's HTTP server armed a timeout on every socket (Fastify's connectionTimeout), which ws
 * disarms on upgrade (setTimeout(0)); the disarmed Timeout and its callback stay on the socket
 * under Node's `timeout` symbol, refreshed in vain by every read and write. Dropped here.
 */
function releaseTimer(stream: object): boolean {
  timeoutSymbol ??= Object.getOwnPropertySymbols(stream).find((s) => s.description === 'timeout')
  if (!timeoutSymbol) return false
  const timers = stream as Record<symbol, { _idleTimeout?: number } | null | undefined>
  // -1: cleared (unenrolled); an armed timer is left alone.
  if (timers[timeoutSymbol]?._idleTimeout !== -1) return false
  timers[timeoutSymbol] = null
  return true
}

/**
 * Cut what ties a just-upgraded socket to its upgrade (kilobytes a socket): @fastify/websocket's
 * 'error' listener closes over the request and reply, and the never-finished ServerResponse
 * Node assigned to the TCP socket keeps them through its listeners. `onError` takes the error
 * listener's place; it is added before the other goes, so the listener table never empties (a
 * `delete` would turn it into a slow-mode object).
 */
export function releaseUpgrade(socket: WebSocket, onError: (this: WebSocket, err: Error) => void): Released {
  socket.on('error', onError)
  let errorListener = false
  for (const listener of socket.listeners('error')) {
    if (listener === onError) continue
    socket.off('error', listener as () => void)
    errorListener = true
  }
  const stream = tcpStreamOf(socket)
  let response = false
  if (stream?._httpMessage?.detachSocket) {
    stream._httpMessage.detachSocket(stream)
    response = true
  }
  return { stream: stream !== undefined, response, timer: stream ? releaseTimer(stream) : false, errorListener }
}

/**
 * An earlier request on this socket is still being answered: its ServerResponse is Node's
 * `_httpMessage` on the socket. Node emits 'upgrade' for a handshake pipelined behind a request
 * without waiting for that response; handing such a socket to `ws` lets both lay claim to it (Node
 * asserts when the earlier response finishes, an uncaught exception), and @fastify/websocket's
 * assignSocket throws and leaves it open, uncounted. No browser pipelines a handshake.
 */
export function answeringEarlierRequest(socket: Duplex): boolean {
  return (socket as Duplex & { _httpMessage?: unknown })._httpMessage != null
}

type UpgradeListener = (this: unknown, req: IncomingMessage, socket: Duplex, head: Buffer) => void

/**
 * @fastify/websocket's 'upgrade' listener on the HTTP server, taken off it so that the direct
 * upgrade (plugins/websocket.ts) decides first which handshakes are its own and hands it the rest.
 */
export function takeUpgradeListeners(server: Server): UpgradeListener[] {
  const listeners = server.listeners('upgrade') as UpgradeListener[]
  if (listeners.length === 0) throw new Error('@fastify/websocket no longer listens for upgrades on the HTTP server')
  server.removeAllListeners('upgrade')
  return listeners
}
