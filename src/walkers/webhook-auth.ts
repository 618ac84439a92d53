// Webhook authentication (SPEC section 6): X-API-Key must be one of WEBHOOK_API_KEYS and
// X-Signature `sha256=<hex HMAC-SHA256 of the raw body with WEBHOOK_SECRET>`. Comparisons are
// constant-time, and every failure looks the same to the caller.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'

const SIGNATURE = /^sha256=([0-9a-f]{64})$/i

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest()

export class WebhookVerifier {
  /** Hashes of the keys: equal lengths for timingSafeEqual, whatever length a key has. */
  private readonly keyDigests: Buffer[]

  constructor(apiKeys: readonly string[], private readonly secret: string | undefined) {
    this.keyDigests = apiKeys.map(sha256)
  }

  /** False when keys or secret are missing: then every webhook request is refused. */
  get enabled(): boolean {
    return this.keyDigests.length > 0 && this.secret !== undefined
  }

  verify(apiKey: unknown, signature: unknown, rawBody: Buffer): boolean {
    if (!this.enabled || typeof apiKey !== 'string' || typeof signature !== 'string') return false
    const given = sha256(apiKey)
    let keyOk = false
    // No early exit: the time taken does not say which key came close.
    for (const digest of this.keyDigests) keyOk = timingSafeEqual(given, digest) || keyOk
    const m = SIGNATURE.exec(signature.trim())
    if (!keyOk || !m) return false
    const expected = createHmac('sha256', this.secret!).update(rawBody).digest()
    return timingSafeEqual(Buffer.from(m[1]!, 'hex'), expected)
  }
}

/** The X-Signature value for `body`: what a sender computes (tests, docs). */
export function webhookSignature(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`
}
