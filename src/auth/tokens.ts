// Token verification, in one place for every surface (SPEC section 0): jose with the algorithm
// pinned by the configured key (HS256 for JWT_SECRET; RS256 or ES256 from JWT_PUBLIC_KEY's
// type), exp/nbf enforced, iss/aud when configured. Every failure is the same `null`, so a
// caller cannot leak which check failed.
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto'
import { jwtVerify, type JWTPayload } from 'jose'
import type { Config } from '../config.ts'

export interface VerifiedUser {
  /** The user id: the token's `sub`. */
  sub: string
  /** Display name: `name`, else `preferred_username`, else `sub`. */
  name: string
  /** Expiry in epoch ms, when the token has one. */
  expiresAt: number | undefined
  claims: JWTPayload
}

export class TokenVerifier {
  private readonly key: KeyObject | undefined
  private readonly algorithms: string[]

  constructor(private readonly config: Pick<Config, 'JWT_SECRET' | 'JWT_PUBLIC_KEY' | 'JWT_ISSUER' | 'JWT_AUDIENCE'>) {
    if (config.JWT_PUBLIC_KEY) {
      this.key = createPublicKey(config.JWT_PUBLIC_KEY.replace(/\\n/g, '\n'))
      const type = this.key.asymmetricKeyType
      if (type === 'rsa') this.algorithms = ['RS256']
      else if (type === 'ec') this.algorithms = ['ES256']
      else throw new Error(`JWT_PUBLIC_KEY: unsupported key type ${type ?? 'unknown'} (use RSA or EC P-256)`)
    } else if (config.JWT_SECRET) {
      this.key = createSecretKey(Buffer.from(config.JWT_SECRET, 'utf8'))
      this.algorithms = ['HS256']
    } else {
      this.algorithms = []
    }
  }

  /** False when no key is configured: every token is then refused. */
  get enabled(): boolean {
    return this.key !== undefined
  }

  async verify(token: string | undefined): Promise<VerifiedUser | null> {
    if (!this.key || !token || token.length > 8192) return null
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: this.algorithms,
        issuer: this.config.JWT_ISSUER,
        audience: this.config.JWT_AUDIENCE
      })
      if (typeof payload.sub !== 'string' || payload.sub === '') return null
      const name = [payload.name, payload.preferred_username].find((v): v is string => typeof v === 'string' && v !== '')
      return { sub: payload.sub, name: name ?? payload.sub, expiresAt: payload.exp ? payload.exp * 1000 : undefined, claims: payload }
    } catch {
      return null
    }
  }
}

/** The longest delay setTimeout takes (~24.8 days); an `exp` further away is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * Call `expire` when `user`'s token passes its `exp` (SPEC 0: a socket authenticated by a token
 * is closed when it expires, 1008 "token expired"). Returns the cancel, for the socket's close
 * path and for a newer token replacing this one. The timer is unref'd. `maxDelay` is for tests.
 */
export function onTokenExpiry(user: VerifiedUser, expire: () => void, now = Date.now(), maxDelay = MAX_TIMER_MS): () => void {
  const expiresAt = user.expiresAt
  if (expiresAt === undefined) return () => {}
  let timer: NodeJS.Timeout
  const arm = (from: number): void => {
    const delay = Math.max(0, expiresAt - from)
    timer = delay > maxDelay ? setTimeout(() => arm(Date.now()), maxDelay) : setTimeout(expire, delay)
    timer.unref()
  }
  arm(now)
  return () => clearTimeout(timer)
}

/** The token a handshake or HTTP request carries: bearer header, then `?token=`, then cookie. */
export function tokenFromRequest(headers: Record<string, string | string[] | undefined>, query: unknown): string | undefined {
  const auth = headers.authorization
  if (typeof auth === 'string' && /^bearer\s+/i.test(auth)) return auth.replace(/^bearer\s+/i, '').trim() || undefined
  const q = query as Record<string, unknown> | undefined
  if (q && typeof q.token === 'string' && q.token !== '') return q.token
  const cookie = headers.cookie
  if (typeof cookie === 'string') {
    for (const part of cookie.split(';')) {
      const eq = part.indexOf('=')
      if (eq !== -1 && part.slice(0, eq).trim() === 'token') {
        const v = part.slice(eq + 1).trim()
        try {
          return decodeURIComponent(v) || undefined
        } catch {
          return v || undefined
        }
      }
    }
  }
  return undefined
}
