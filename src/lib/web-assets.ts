// The browser pages' files as the service serves them (routes/pages.ts, routes/admin.ts): read
// once at startup from src/web/ (pages) and src/web/dist/ (esbuild's bundles, `npm run
// build:web`), and sent with one content security policy. The pages are small and static, so no
// static-file server is needed.
import type { FastifyInstance } from 'fastify'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { readBuilt } from './build-output.ts'

// Compiled, this file runs from dist/src/lib/, but tsc copies no HTML: assets stay in src/web/.
const WEB = fileURLToPath(new URL('../web/', import.meta.url).href.replace('/dist/src/web/', '/src/web/'))
/** Where `npm run build:web` (esbuild) writes the bundles; gitignored. */
const BUNDLE = join(WEB, 'dist')

// Pages load only their own scripts and talk only to this origin.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'"

export const TYPES = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  map: 'application/json; charset=utf-8'
} as const

export interface Asset {
  body: Buffer
  type: string
}

/** A file of src/web/ as it is in the repository. */
export const page = (name: string, type: string): Asset => ({ body: readFileSync(join(WEB, name)), type })

/** A bundle of src/web/dist/; a missing one stops startup saying to run the build. */
export const bundled = (name: string, type: string): Asset => ({ body: readBuilt(join(BUNDLE, name), 'npm run build:web'), type })

/** A bundle's source map, when the build wrote one: it helps debugging, and a build without one still serves the page. */
export function sourceMap(bundle: string): Asset | undefined {
  const path = join(BUNDLE, `${bundle}.map`)
  return existsSync(path) ? { body: readFileSync(path), type: TYPES.map } : undefined
}

/** GET each path with its asset, the CSP, nosniff and any `headers`; hidden from /docs. */
export function serveAssets(app: FastifyInstance, assets: Record<string, Asset | undefined>, headers: Record<string, string> = {}): void {
  for (const [path, asset] of Object.entries(assets)) {
    if (!asset) continue
    app.get(path, { schema: { hide: true } }, async (_req, reply) =>
      reply.header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').headers(headers).type(asset.type).send(asset.body))
  }
}
