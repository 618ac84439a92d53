// An authenticated HTTP walker: send `Authorization: Bearer <token>` and it reports who the
// token says you are. Without a valid token the answer is 401 UNAUTHORIZED.
import { defineWalker } from '../index.ts'

export default defineWalker({
  name: 'WhoAmI',
  protocol: 'http',
  description: "Report the token's user",
  async run(_fields, ctx) {
    ctx.report({ sub: ctx.user?.sub, name: ctx.user?.name })
  }
})
