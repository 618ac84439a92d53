// A public HTTP walker: `curl -X POST localhost:8000/walker/Greeting -H 'content-type:
// application/json' -d '{"name":"Ada"}'`. HTTP walkers are listed with their fields at /docs.
import { defineWalker, Type } from '../index.ts'

export default defineWalker({
  name: 'Greeting',
  protocol: 'http',
  public: true,
  description: 'Greet someone by name',
  fields: Type.Object({
    name: Type.String({ default: 'world', minLength: 1, maxLength: 100 }),
    excited: Type.Boolean({ default: false })
  }),
  async run({ name, excited }, ctx) {
    ctx.report({ greeting: `Hello, ${name}${excited ? '!' : '.'}` })
  }
})
