// Decorates app.walkers, the registry of walkers this process serves: loaded from WALKERS_DIR
// (default: the shipped examples) before the server listens, so a broken walker stops startup
// with a message naming its file. With WALKERS_HOT_RELOAD the directory is watched (dev mode).
import { resolve } from 'node:path'
import fp from 'fastify-plugin'
import { WalkerRegistry } from '../src/walkers/registry.ts'
import { EXAMPLES_DIR, loadWalkerDir, WalkerHotReload } from '../src/walkers/loader.ts'

declare module 'fastify' {
  interface FastifyInstance {
    walkers: WalkerRegistry
  }
}

export default fp(async (app) => {
  const c = app.config
  const dir = c.WALKERS_DIR ? resolve(c.WALKERS_DIR) : EXAMPLES_DIR
  const registry = new WalkerRegistry()
  try {
    await loadWalkerDir(dir, registry)
  } catch (err) {
    // One structured line for log collectors before the error ends startup.
    app.log.fatal({ dir }, `cannot load walkers: ${(err as Error).message}`)
    throw err
  }
  const walkers = registry.list()
  app.log.info({ dir, walkers: walkers.map((w) => `${w.name} (${w.protocol})`) }, 'walkers loaded')
  if (walkers.some((w) => w.protocol === 'webhook') && (!c.WEBHOOK_SECRET || c.webhookApiKeys.length === 0)) {
    app.log.warn('webhook walkers are loaded but WEBHOOK_SECRET or WEBHOOK_API_KEYS is unset: every webhook request gets 401')
  }
  // Without a key every token is refused: say so once instead of a stream of UNAUTHORIZED.
  const secured = walkers.filter((w) => !w.public && w.protocol !== 'webhook').map((w) => w.name)
  if (secured.length > 0 && !c.JWT_SECRET && !c.JWT_PUBLIC_KEY) {
    app.log.warn({ walkers: secured }, `walkers that need a token are loaded (${secured.join(', ')}) but neither JWT_SECRET nor JWT_PUBLIC_KEY is set: no token can verify, so they answer UNAUTHORIZED to everyone`)
  }
  app.decorate('walkers', registry)

  if (c.WALKERS_HOT_RELOAD) {
    const hot = new WalkerHotReload(dir, registry, app.log.child({ component: 'walkers' }))
    hot.start()
    app.addHook('onClose', async () => hot.close())
  }
}, { name: 'walkers', dependencies: ['config'], fastify: '5.x' })
