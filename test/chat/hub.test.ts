// LocalHub, without sockets: connections by user, the last one out, and a delivery written to
// the open connections but the excepted one, droppable frames skipped by slow readers.
import t from 'tap'
import { LocalHub } from '../../src/chat/hub.ts'
import { ChatSession } from '../../src/chat/session.ts'
import { FakePeer } from '../helpers/chat-fakes.ts'

const identified = (user_id: string, ref: string) => {
  const session = new ChatSession(new FakePeer(), ref, undefined)
  session.user = { user_id, display_name: user_id }
  return session as ChatSession & { user: { user_id: string; display_name: string } }
}

t.test('sessions by user; remove says when the last one left', async (t) => {
  const hub = new LocalHub()
  const a1 = identified('a', 'i/1')
  const a2 = identified('a', 'i/2')
  hub.add(a1)
  hub.add(a2)
  t.equal(hub.size, 1)
  t.equal(hub.sessionsOf('a').size, 2)
  t.equal(hub.remove(a1), false, 'one left')
  t.equal(hub.remove(a1), false, 'removing twice changes nothing')
  t.equal(hub.remove(a2), true, 'the last one')
  t.equal(hub.size, 0)
  t.equal(hub.sessionsOf('a').size, 0)
  t.equal(hub.remove(new ChatSession(new FakePeer(), 'i/3', undefined)), false, 'an unidentified session was never held')
})

t.test('deliver: open connections but `except`; droppable frames skip slow readers; the count is who took it', async (t) => {
  const hub = new LocalHub()
  const [s1, s2, s3, s4] = ['i/1', 'i/2', 'i/3', 'i/4'].map((ref) => identified('a', ref))
  for (const s of [s1!, s2!, s3!, s4!]) hub.add(s)
  const peer = (s: ChatSession) => s.peer as FakePeer
  s3!.close()
  peer(s4!).slow = true
  t.equal(hub.deliver('a', { frame: 'f1', label: 'MSG', droppable: false, except: 'i/1' }), 2)
  t.same([s1, s2, s3, s4].map((s) => peer(s!).frames), [[], ['f1'], [], ['f1']])
  t.equal(hub.deliver('a', { frame: 'f2', label: 'TYPING', droppable: true }), 2, 'the slow reader skips it')
  t.same(peer(s4!).frames, ['f1'])
  t.equal(hub.deliver('nobody', { frame: 'f3', label: 'MSG', droppable: false }), 0)
})
