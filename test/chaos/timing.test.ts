// Sanitizer and parser timing on hostile markup: 60 KB of `<`, `<a` and `<!--`, unclosed, is
// processed in under 50 ms — the text-cleaning function alone, and a whole frame's round trip
// through /ws (parse, validate, strip, answer). Best of several runs, so a busy shared machine
// measures the code rather than the scheduler.
import t from 'tap'
import { performance } from 'node:perf_hooks'
import { cleanText, CONTENT_LENGTH, DISPLAY_NAME_LENGTH } from '../../src/protocol/fastchat.ts'
import { startApp } from '../helpers/app.ts'
import { join } from '../helpers/fastchat.ts'
import type { WsTestClient } from '../../src/testing/ws-test-client.ts'

const BOUND_MS = 50
const SIZE = 60 * 1024
const UNITS = ['<', '<a', '<!--'] as const
const hostile = (unit: string) => unit.repeat(Math.ceil(SIZE / unit.length)).slice(0, SIZE)

async function best(runs: number, fn: () => unknown): Promise<number> {
  await fn() // warm up: the first run compiles
  let min = Infinity
  for (let i = 0; i < runs; i++) {
    const start = performance.now()
    await fn()
    min = Math.min(min, performance.now() - start)
  }
  return min
}

t.test('cleaning 60 KB of unclosed markup (unsafe characters, then the HTML parser) takes < 50 ms', async (t) => {
  for (const unit of UNITS) {
    for (const rule of [CONTENT_LENGTH, DISPLAY_NAME_LENGTH]) {
      const input = hostile(unit)
      const ms = await best(5, () => cleanText(input, rule))
      t.ok(ms < BOUND_MS, `${rule.kind} of ${JSON.stringify(unit)} × ${SIZE / unit.length}: ${ms.toFixed(2)} ms`)
    }
  }
})

t.test('a whole frame of 60 KB unclosed markup, sent to /ws and answered, takes < 50 ms', async (t) => {
  const app = await startApp({ CHAT_MSG_PER_MIN: 1000 })
  t.teardown(app.close)
  const alice = await join(app, 'Alice')
  const bob = await join(app, 'Bob')
  const fresh: WsTestClient = await app.connect('/ws')
  await fresh.receiveJson() // WELCOME

  for (const unit of UNITS) {
    const content = hostile(unit)
    const msg = JSON.stringify({ type: 'MSG', data: { to: bob.user_id, content, message_id: 'timing' } })
    const msMsg = await best(5, async () => {
      alice.client.send(msg)
      const reply = await alice.client.waitFor((m: { type: string; data: { code: string } }) => m.type === 'ERROR')
      if (reply.data.code !== 'VALIDATION') throw new Error(`unexpected ${JSON.stringify(reply)}`)
    })
    t.ok(msMsg < BOUND_MS, `MSG content of ${JSON.stringify(unit)}: round trip ${msMsg.toFixed(2)} ms`)

    const hello = JSON.stringify({ type: 'HELLO', data: { user_id: '0f8fad5b-d9cb-469f-a165-70867728950e', display_name: content } })
    const msHello = await best(5, async () => {
      fresh.send(hello)
      const reply = await fresh.receiveJson()
      if (reply.data?.details?.errors?.[0]?.path !== '/data/display_name') throw new Error(`unexpected ${JSON.stringify(reply).slice(0, 200)}`)
    })
    t.ok(msHello < BOUND_MS, `HELLO display_name of ${JSON.stringify(unit)}: round trip ${msHello.toFixed(2)} ms`)
  }
})
