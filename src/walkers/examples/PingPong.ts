// The smallest walker: no fields, public, answers every message with a pong.
import { defineWalker } from '../index.ts'

export default defineWalker({
  name: 'PingPong',
  protocol: 'websocket',
  public: true,
  description: 'Answer {} with {"status":"pong"}',
  async run(_fields, ctx) {
    ctx.report({ status: 'pong' })
  }
})
