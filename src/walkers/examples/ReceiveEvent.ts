// A webhook walker for another service's callbacks: POST /webhook/ReceiveEvent with X-API-Key
// (one of WEBHOOK_API_KEYS) and X-Signature: sha256=<HMAC-SHA256 of the raw body with
// WEBHOOK_SECRET>. Providers add fields over time, so this schema lets unknown ones through.
import { defineWalker, Type } from '../index.ts'

export default defineWalker({
  name: 'ReceiveEvent',
  protocol: 'webhook',
  description: 'Accept a signed event from another service',
  fields: Type.Object({
    event: Type.String({ minLength: 1 }),
    data: Type.Optional(Type.Unknown())
  }, { additionalProperties: true }),
  async run({ event }, ctx) {
    ctx.log.info({ event }, 'webhook event received')
    ctx.report({ received: event })
  }
})
