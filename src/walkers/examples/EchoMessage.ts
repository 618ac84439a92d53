// Public websocket walker: echoes a message with the caller's client_id ("anonymous" when
// omitted). Try it: `websocat ws://localhost:8000/ws/EchoMessage`, then `{"message":"hello"}`.
import { defineWalker, Type } from '../index.ts'

export default defineWalker({
  name: 'EchoMessage',
  protocol: 'websocket',
  public: true,
  description: 'Echo a message back with the sender id',
  fields: Type.Object({
    message: Type.String(),
    client_id: Type.String({ default: 'anonymous' })
  }),
  async run({ message, client_id }, ctx) {
    ctx.report({ echo: message, client_id })
  }
})
