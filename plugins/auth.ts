// Decorates app.auth, the one TokenVerifier every surface uses (chat HELLO binding, the action
// dialect's authentication, walkers over WS and HTTP).
import fp from 'fastify-plugin'
import { TokenVerifier } from '../src/auth/tokens.ts'

declare module 'fastify' {
  interface FastifyInstance {
    auth: TokenVerifier
  }
}

export default fp(async (app) => {
  app.decorate('auth', new TokenVerifier(app.config))
}, { name: 'auth', dependencies: ['config'], fastify: '5.x' })
