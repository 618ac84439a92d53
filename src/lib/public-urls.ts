// PUBLIC_BASE_URL and WS_PUBLIC_URL default from the address the server actually listens on
// (SPEC section 5), which is only known after listen() when PORT=0.
import type { AddressInfo } from 'node:net'
import type { Config } from '../config.ts'

const LOOPBACK_OR_ANY = new Set(['127.0.0.1', '0.0.0.0', '::', '::1', 'localhost'])

export function publicUrls(config: Config, address: AddressInfo | string | null): { base: string; ws: string } {
  const port = address && typeof address === 'object' ? address.port : config.PORT
  const listen = config.HOST
  // An IPv6 address goes in brackets in a URL (http://[2001:db8::1]:8000).
  const host = LOOPBACK_OR_ANY.has(listen) ? 'localhost' : listen.includes(':') && !listen.startsWith('[') ? `[${listen}]` : listen
  const base = config.PUBLIC_BASE_URL ?? `http://${host}:${port}`
  const ws = config.WS_PUBLIC_URL ?? `${base.replace(/^http/, 'ws').replace(/\/$/, '')}/ws`
  return { base, ws }
}
