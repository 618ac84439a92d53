// The FastChat app's heartbeat (SPEC section 10, checklist item 11): its tabs say
// {"type":"PING"} every 15 s and reconnect when the socket closes; for a minute each PING gets
// {"type":"PONG"}, no tab reconnects, and chat still flows, in memory and across two instances.
// One minute of real time, both deployments at once, in a file of its own so it runs beside others.
import t, { type Test } from 'tap'
import { deploy, inProcess, join, next, type Start } from './helpers/fastchat.ts'
import { twoInstances } from './helpers/redis.ts'
import { FlatTab } from './helpers/flat-client.ts'

const MINUTE_MS = 61_000

async function aMinuteOfHeartbeats(t: Test, start: Start, where: string): Promise<void> {
  const dep = await deploy(t, start)
  const open = (name: string) => FlatTab.open({ connect: () => dep.connect('/ws'), display_name: name, pingMs: 15_000 })
  const a = await open('MerryZebra445')
  const b = await open('MerryGiraffe695')
  t.teardown(() => Promise.all([a.close(), b.close()]))
  const eve = await join(dep, 'Enveloped Eve')
  await a.until(() => a.connected && a.online.has(b.user_id) && a.online.has(eve.user_id), 'both others online')
  a.openChat(b)
  await b.until(() => b.selected?.user_id === a.user_id, 'the chat')

  const started = Date.now()
  await new Promise((resolve) => setTimeout(resolve, MINUTE_MS))
  for (const tab of [a, b]) {
    t.ok(tab.pongs >= 4, `${where}, ${tab.display_name}: a PONG for each of its ${tab.pongs} PINGs in ${Date.now() - started} ms`)
    t.equal(tab.sent.filter((f) => f.type === 'PING').length, tab.pongs, `${where}, ${tab.display_name}: every PING answered`)
    t.same(tab.frames.filter((f) => f.type === 'PONG'), Array(tab.pongs).fill({ type: 'PONG' }), `${where}: flat PONGs`)
    t.equal(tab.opens, 1, `${where}, ${tab.display_name}: never reconnected`)
    t.equal(tab.socket?.readyState, 1, `${where}, ${tab.display_name}: still open`)
    t.same(tab.errors, [], `${where}: no error`)
  }
  a.say('still here')
  await b.until(() => b.messages.some((m) => m.content === 'still here'), `${where}: a MSG after a minute`)
  eve.client.send({ type: 'PING', data: {} })
  t.equal((await next(eve.client, 'PONG')).type, 'PONG', `${where}: the enveloped user is still served too`)
}

t.test('a minute of 15 s heartbeats: in memory and over Redis at once', async (t) => {
  await Promise.all([aMinuteOfHeartbeats(t, inProcess, 'in memory'), aMinuteOfHeartbeats(t, twoInstances, 'over Redis')])
})
