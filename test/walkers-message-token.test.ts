// A `token` inside a walker message (WebSocket) or body (HTTP) follows one rule on both
// transports (src/walkers/message-token.ts): a good one is the user; a bad or non-string one is
// UNAUTHORIZED on an authenticated walker and ignored on a public one, which runs as whoever the
// handshake or the request's bearer header proved. Each case runs on both and must answer alike.
import t from 'tap'
import { startApp, type TestApp } from './helpers/app.ts'
import { signToken, TEST_SECRET } from './helpers/tokens.ts'
import { fixtureDir, postJson } from './helpers/walkers.ts'

type Outcome = { runsAs: string | null } | 'UNAUTHORIZED'

async function overWs(s: TestApp, walker: string, outer: string | undefined, message: Record<string, unknown>): Promise<Outcome> {
  const c = await s.connect(`/ws/${walker}${outer ? `?token=${outer}` : ''}`)
  try {
    c.send({ a: 1, ...message })
    return outcomeOf(await c.receiveJson())
  } finally {
    c.terminate()
  }
}

async function overHttp(s: TestApp, walker: string, outer: string | undefined, body: Record<string, unknown>): Promise<Outcome> {
  const r = await postJson(`${s.http}/walker/${walker}`, { a: 1, ...body }, outer ? { authorization: `Bearer ${outer}` } : {})
  return outcomeOf(r.json)
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function outcomeOf(reply: any): Outcome {
  if (reply.ok === false && reply.error.code === 'UNAUTHORIZED') return 'UNAUTHORIZED'
  if (reply.ok !== true) throw new Error(JSON.stringify(reply))
  const [report] = reply.data.reports
  if (JSON.stringify(report.fields) !== '{"a":1}') throw new Error(`the token reached the walker: ${JSON.stringify(report.fields)}`)
  return { runsAs: report.user?.sub ?? null }
}

t.test('a token in the message or body answers the same on WebSocket and HTTP', async (t) => {
  const s = await startApp({ JWT_SECRET: TEST_SECRET, WALKERS_DIR: fixtureDir() })
  t.teardown(s.close)
  const alice = await signToken({ sub: 'alice', name: 'Alice' })
  const bob = await signToken({ sub: 'bob', name: 'Bob' })
  const forged = alice.slice(0, -4) + (alice.endsWith('AAAA') ? 'BBBB' : 'AAAA')
  const cases: [string, string | undefined, unknown, Outcome, Outcome][] = [
    // what, outer token (handshake / bearer), message token, authenticated walker, public walker
    ['no token anywhere', undefined, undefined, 'UNAUTHORIZED', { runsAs: null }],
    ['only an outer token', alice, undefined, { runsAs: 'alice' }, { runsAs: 'alice' }],
    ['a good outer token and a bad message token', alice, forged, 'UNAUTHORIZED', { runsAs: 'alice' }],
    ['a good outer token and a token that is not a string', alice, 123, 'UNAUTHORIZED', { runsAs: 'alice' }],
    ['a bad outer token and a good message token', forged, bob, { runsAs: 'bob' }, { runsAs: 'bob' }],
    ['two good tokens: the message\'s wins', alice, bob, { runsAs: 'bob' }, { runsAs: 'bob' }]
  ]
  for (const [what, outer, inner, authenticated, open] of cases) {
    const message = inner === undefined ? {} : { token: inner }
    t.same(await overWs(s, 'Inspect', outer, message), authenticated, `${what}: WebSocket, authenticated walker`)
    t.same(await overHttp(s, 'HttpInspect', outer, message), authenticated, `${what}: HTTP, authenticated walker`)
    t.same(await overWs(s, 'InspectPublic', outer, message), open, `${what}: WebSocket, public walker`)
    t.same(await overHttp(s, 'HttpInspectPublic', outer, message), open, `${what}: HTTP, public walker`)
  }
})
