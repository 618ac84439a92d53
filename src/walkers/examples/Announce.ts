// A broadcast walker: each announcement is delivered to every socket connected to
// /ws/Announce, the sender included, so a handful of clients make a tiny chat room.
import { defineWalker, Type } from '../index.ts'

export default defineWalker({
  name: 'Announce',
  protocol: 'websocket',
  public: true,
  broadcast: true,
  description: 'Send a message to everyone connected to this walker',
  fields: Type.Object({
    message: Type.String({ minLength: 1, maxLength: 2000 }),
    from: Type.String({ default: 'anonymous', maxLength: 100 })
  }),
  async run({ message, from }, ctx) {
    ctx.report({ from, message })
  }
})
