// Decorates app.history: where FastChat chat logs live (SPEC section 9), or undefined when
// HISTORY_STORE=off. SQLite under DATA_DIR by default (no server needed), Redis with REDIS_URL so
// every instance shares one log. Closed after everything that writes to it (onClose runs in
// reverse registration order: the chat's connections are gone by then).
import fp from 'fastify-plugin'
import type { HistoryStore } from '../src/history/store.ts'
import { openHistory } from '../src/history/open.ts'

declare module 'fastify' {
  interface FastifyInstance {
    history: HistoryStore | undefined
  }
}

export default fp(async (app) => {
  const c = app.config
  const store = await openHistory({
    kind: c.historyStore,
    limits: { maxPerChat: c.HISTORY_MAX_PER_CHAT, ttlS: c.HISTORY_TTL_S },
    dataDir: c.DATA_DIR,
    redisUrl: c.REDIS_URL,
    log: app.log.child({ component: 'history' })
  })
  app.decorate('history', store)
  if (store) app.log.info({ store: store.kind }, 'chat history store open')
  app.addHook('onClose', async () => store?.close())
}, { name: 'history', dependencies: ['config'], fastify: '5.x' })
