// An authenticated websocket walker (public is left false): a message needs a verified token,
// from the handshake (`?token=`, bearer header, cookie) or a `token` field in any message.
// Get one with `npm run token -- --sub alice --name Alice`.
import { defineWalker, Type } from '../index.ts'

export default defineWalker({
  name: 'SecureChat',
  protocol: 'websocket',
  description: 'Echo a message for an authenticated user',
  fields: Type.Object({
    message: Type.String()
  }),
  async run({ message }, ctx) {
    ctx.log.debug({ user: ctx.user?.sub }, 'secure chat message')
    ctx.report({ echo: message, authenticated: true })
  }
})
