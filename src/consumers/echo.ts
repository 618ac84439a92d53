// The echo consumer on /ws/echo (SPEC section 4): ping → pong, echo → "<name>: <text>".
// Adding a consumer is one file like this one: schemas, example, handler per action.
import { Type } from '@sinclair/typebox'
import { action, defineConsumer } from './consumer.ts'

const Pong = Type.Object({ action: Type.Literal('pong'), payload: Type.Null() })
const EchoReply = Type.Object({ action: Type.Literal('echo'), payload: Type.String() })

export const echoConsumer = defineConsumer({
  name: 'echo',
  description: 'typed {action, payload} consumer in the style of Django Channels / Chanx',
  onAuthenticated(ctx) {
    ctx.send('status', `Welcome, ${ctx.user!.name}!`)
  },
  actions: {
    ping: action({
      payload: Type.Null(),
      payloadOptional: true,
      description: 'answered with pong',
      example: null,
      replies: { pong: { schema: Pong, example: { action: 'pong', payload: null } } },
      handle(_payload, ctx) {
        ctx.send('pong', null)
      }
    }),
    echo: action({
      payload: Type.String(),
      description: "answered with the text prefixed by the user's name (anonymous without a token)",
      example: 'Hello, world!',
      replies: { echo: { schema: EchoReply, example: { action: 'echo', payload: 'alice: Hello, world!' } } },
      handle(text, ctx) {
        ctx.send('echo', `${ctx.user?.name ?? 'anonymous'}: ${text}`)
      }
    })
  }
})
