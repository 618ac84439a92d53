// PUBLIC_BASE_URL and WS_PUBLIC_URL default from the address the server actually listens on
// (SPEC section 5), which is only known after listen() when PORT=0.
import type { AddressInfo } from 'node:net'
import type { Config } from '../config.ts'

const LOOPBACK_OR_ANY = new Set(['127.0.0.1', '0.0.0.0', '::', '::1', 'localhost'])

export function publicUrls(config: Config, address: AddressInfo | string | null): { base: string; ws: string } {
  const port = address && typeof address === 'object' ? address.port : config.PORT
  const host = LOOPBACK_OR_ANY.has(config.HOST) ? 'localhost' : config.HOST
  const base = config.PUBLIC_BASE_URL ?? `http://${host}:${port}`
  const ws = config.WS_PUBLIC_URL ?? `${base.replace(/^http/, 'ws').replace(/\/$/, '')}/ws`
  return { base, ws }
}
