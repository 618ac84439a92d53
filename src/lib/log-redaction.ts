// Tokens travel in query strings (`?token=…`), so no URL query may reach a log line (SPEC
// section 0). Request serializers log the path only; these pino hooks scrub whatever else
// (a library's message, an error) might carry a URL with a query.
import type { FastifyRequest } from 'fastify'

const QUERY = /(\/[^\s"'?]*)\?[^\s"']*/g

export function stripQuery(url: string): string {
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

export function scrubText(s: string): string {
  return s.includes('?') ? s.replace(QUERY, '$1') : s
}

function scrubValue(v: unknown, depth: number): unknown {
  if (typeof v === 'string') return scrubText(v)
  if (depth > 3 || typeof v !== 'object' || v === null) return v
  if (v instanceof Error) {
    const copy: Record<string, unknown> = { type: v.name, message: scrubText(v.message) }
    if (v.stack) copy.stack = scrubText(v.stack)
    return copy
  }
  if (Array.isArray(v)) return v.map((x) => scrubValue(x, depth + 1))
  // Class instances (requests, replies) go to their serializers untouched; those log paths only.
  if (Object.getPrototypeOf(v) !== Object.prototype) return v
  const out: Record<string, unknown> = {}
  for (const [k, x] of Object.entries(v)) out[k] = scrubValue(x, depth + 1)
  return out
}

/** pino options that keep query strings (and so tokens) out of every log line. */
export const redactingLoggerOptions = {
  serializers: {
    req(req: FastifyRequest | { method?: string; url?: string }) {
      const r = req as FastifyRequest
      return {
        method: r.method,
        url: stripQuery(r.url ?? ''),
        remoteAddress: r.ip,
        ws: (r as { ws?: boolean }).ws === true ? true : undefined
      }
    }
  },
  formatters: {
    log(obj: Record<string, unknown>) {
      return scrubValue(obj, 0) as Record<string, unknown>
    }
  },
  hooks: {
    logMethod(this: unknown, args: unknown[], method: (...a: unknown[]) => void) {
      method.apply(this, args.map((a) => (typeof a === 'string' ? scrubText(a) : a)))
    }
  }
}
