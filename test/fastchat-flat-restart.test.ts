// The FastChat app's tabs across a deploy (SPEC section 10, checklist item 13): the server is
// stopped (its sockets close with 1001) and started again on the same port and DATA_DIR, the
// embedded default with no Redis. The tabs reconnect on their own with the same user_id, and a
// MSG with no new OPEN_CHAT still reaches the partner: the current partner is kept in the history
// store's file, and a returning tab gets its chat back.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WsTestClient } from '../src/testing/ws-test-client.ts'
import { startServer, type ServerProcess } from './helpers/process.ts'
import { FlatTab } from './helpers/flat-client.ts'

async function stop(server: ServerProcess, signal: NodeJS.Signals): Promise<void> {
  if (server.proc.exitCode === null && server.proc.signalCode === null) server.proc.kill(signal)
  await server.exited
}

t.test('a deploy: both tabs come back by themselves and their next MSGs reach each other without a click', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-flat-restart-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const env = { HISTORY_STORE: 'sqlite', DATA_DIR: dir }
  const first = await startServer(env)
  t.teardown(() => stop(first, 'SIGKILL'))
  const url = `ws://127.0.0.1:${first.port}/ws`
  const open = (name: string) => FlatTab.open({ connect: () => WsTestClient.connect(url), display_name: name })
  const a = await open('MerryZebra445')
  const b = await open('MerryGiraffe695')
  t.teardown(() => Promise.all([a.close(), b.close()]))
  await a.until(() => a.connected && a.online.has(b.user_id), 'B online for A')
  a.openChat(b)
  await b.until(() => b.selected?.user_id === a.user_id, 'the chat on both tabs')
  a.say('before the deploy')
  await b.until(() => b.messages.length === 1, 'the first MSG')

  const closes: number[] = []
  for (const tab of [a, b]) tab.socket!.once('close', (code: number) => closes.push(code))
  await stop(first, 'SIGTERM')
  t.same(closes, [1001, 1001], 'both sockets closed with 1001, so the app reconnects')
  const second = await startServer({ ...env, PORT: String(first.port) })
  t.teardown(() => stop(second, 'SIGKILL'))

  await a.until(() => a.opens === 2 && a.connected, 'A back', 20_000)
  await b.until(() => b.opens === 2 && b.connected, 'B back', 20_000)
  await a.until(() => a.online.has(b.user_id), 'B online for A again')
  t.equal(a.selected?.user_id, b.user_id, 'A still shows the chat with B')
  t.equal(b.selected?.user_id, a.user_id, 'B still shows the chat with A')
  a.say('after the deploy, from A')
  b.say('after the deploy, from B')
  await b.until(() => b.messages.some((m) => m.content === 'after the deploy, from A'), 'A\'s MSG at B')
  await a.until(() => a.messages.some((m) => m.content === 'after the deploy, from B'), 'B\'s MSG at A')
  t.same([...a.errors, ...b.errors], [], 'no ERROR: nobody has to open the chat again')
})
