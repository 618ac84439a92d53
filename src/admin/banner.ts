// The one log line a started service prints: where its pages are. The admin URL carries the
// token in its fragment only when this process generated it (no ADMIN_TOKEN): that URL is then
// the only way in, and the fragment never reaches a server or its access log. A token the
// operator set is never printed.
import type { AddressInfo } from 'node:net'
import type { Config } from '../config.ts'
import { publicUrls } from '../lib/public-urls.ts'
import { VERSION } from '../version.ts'

export interface PageUrls {
  chat: string
  playground: string
  docs: string
  admin: string
}

export function pageUrls(config: Config, address: AddressInfo | string | null, generatedAdminToken?: string): PageUrls {
  const base = publicUrls(config, address).base.replace(/\/$/, '')
  return {
    chat: `${base}/`,
    playground: `${base}/playground`,
    docs: `${base}/docs`,
    admin: generatedAdminToken ? `${base}/admin#token=${generatedAdminToken}` : `${base}/admin`
  }
}

export function startupBanner(config: Config, address: AddressInfo | string | null, generatedAdminToken?: string): string {
  const u = pageUrls(config, address, generatedAdminToken)
  const admin = generatedAdminToken ? `admin ${u.admin} (token made for this process; set ADMIN_TOKEN to keep one)` : `admin ${u.admin} (token: ADMIN_TOKEN)`
  return `Switchboard ${VERSION} ready: chat ${u.chat} · playground ${u.playground} · docs ${u.docs} · ${admin}`
}
