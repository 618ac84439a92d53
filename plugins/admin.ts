// Decorates app.admin: the operators' console behind /admin (routes/admin.ts, docs/admin.md).
// With ADMIN_TOKEN set it samples the metrics once a second (src/admin/sampler.ts), keeps the last
// five minutes, ticks the console sockets and, with Redis, publishes this instance's counts for
// the other instances' consoles. Without ADMIN_TOKEN nothing runs and every admin request is
// refused (npm start always sets one: src/server.ts generates it when the operator did not).
import fp from 'fastify-plugin'
import { AdminAuth } from '../src/admin/auth.ts'
import { AdminConsole } from '../src/admin/console.ts'
import { Sampler } from '../src/admin/sampler.ts'
import { instanceBoard } from '../src/backplane/instance-board.ts'
import { VERSION } from '../src/version.ts'

declare module 'fastify' {
  interface FastifyInstance {
    admin: { auth: AdminAuth; console: AdminConsole | undefined }
  }
}

export default fp(async (app) => {
  const auth = new AdminAuth(app.config.ADMIN_TOKEN)
  if (!auth.enabled) {
    app.decorate('admin', { auth, console: undefined })
    return
  }
  const presence = app.presence
  const chats = app.chat.chats
  const sampler = new Sampler({
    registry: app.metrics.registry,
    connections: (surface) => app.connections.count(surface),
    onSample: (sample) => void view.onSample(sample)
  })
  // Sampled only once started (below), when the console exists.
  const view: AdminConsole = new AdminConsole(sampler, {
    instanceId: app.backplane.instanceId,
    version: VERSION,
    startedAt: app.lifecycle.startedAt,
    board: instanceBoard(app.backplane, app.config.INSTANCE_TTL_S),
    log: app.log.child({ component: 'admin' }),
    hub: presence.local,
    connections: () => app.connections.connections(),
    onlineCount: () => presence.size,
    displayName: (id) => presence.displayName(id),
    isOnline: (id) => presence.isOnline(id),
    partners: (id) => chats.partners(id)
  })
  await sampler.start()
  app.decorate('admin', { auth, console: view })
  app.addHook('preClose', async () => {
    sampler.stop()
    await view.close()
  })
}, { name: 'admin', dependencies: ['config', 'lifecycle', 'websocket', 'metrics', 'backplane', 'presence', 'chat'], fastify: '5.x' })
