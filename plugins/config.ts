// Decorates app.config with the parsed Config (src/config.ts), so every plugin and route reads
// settings from one typed object.
import fp from 'fastify-plugin'
import type { Config } from '../src/config.ts'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

export default fp<{ config: Config }>(async (app, opts) => {
  app.decorate('config', opts.config)
}, { name: 'config', fastify: '5.x' })
