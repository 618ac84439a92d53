// Who may use the admin console: whoever presents ADMIN_TOKEN, as `Authorization: Bearer <token>`
// (curl, scripts, the page's own HTTP calls) or, on the WebSocket handshake where a browser cannot
// set headers, as the subprotocol `token.<base64url of the token>` next to `switchboard-admin`.
// Never in a URL query, so no access log or proxy log records it. Compared in constant time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'

/** The subprotocol the console's socket speaks; the server picks it, never the token one. */
export const ADMIN_PROTOCOL = 'switchboard-admin'
const TOKEN_PROTOCOL = 'token.'

/** A token for one process (npm start without ADMIN_TOKEN): 32 random bytes, URL-safe. */
export function generateAdminToken(): string {
  return randomBytes(32).toString('base64url')
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest()

export class AdminAuth {
  private readonly expected: Buffer | undefined

  constructor(token: string | undefined) {
    this.expected = token === undefined ? undefined : digest(token)
  }

  /** False when no ADMIN_TOKEN is configured: every request is refused. */
  get enabled(): boolean {
    return this.expected !== undefined
  }

  /** The request carries the token, in the Authorization header or the handshake's subprotocols. */
  allows(headers: IncomingHttpHeaders): boolean {
    if (!this.expected) return false
    const presented = bearer(headers.authorization) ?? protocolToken(headers['sec-websocket-protocol'])
    return presented !== undefined && timingSafeEqual(digest(presented), this.expected)
  }
}

/**
 * ws's `handleProtocols` for every socket: the first subprotocol offered that is not a token.
 * ws's default picks the first offered, and the 101's `Sec-WebSocket-Protocol` would then carry
 * the admin token (base64url, not hidden) into response-header and proxy logs when a client
 * offers it first or alone. Offered nothing else: the 101 names no protocol.
 */
export function pickProtocol(offered: Set<string>): string | false {
  for (const p of offered) if (!p.startsWith(TOKEN_PROTOCOL)) return p
  return false
}

/**
 * Everything after `Bearer `, trimmed: ADMIN_TOKEN may be any text, spaces inside included, so the
 * token is not cut at the first space. Whitespace around it cannot be told from the header's own
 * (Node strips a header value's ends anyway), so it is not part of the token.
 */
function bearer(header: string | undefined): string | undefined {
  const token = header === undefined ? undefined : /^Bearer[ \t]+(.*)$/is.exec(header)?.[1]?.trim()
  return token || undefined
}

function protocolToken(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header.join(',') : header
  if (!value) return undefined
  for (const p of value.split(',')) {
    const name = p.trim()
    if (name.startsWith(TOKEN_PROTOCOL)) return Buffer.from(name.slice(TOKEN_PROTOCOL.length), 'base64url').toString('utf8')
  }
  return undefined
}
