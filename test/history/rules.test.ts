// The rules every history store shares (src/history/rules.ts). messageTime keeps the last
// timestamp it parsed (a speed trick: under load most stored messages of a millisecond share one);
// these pin that it answers exactly as Date.parse would, whatever the order of its inputs.
import t from 'tap'
import { messageTime, statusOf } from '../../src/history/rules.ts'

t.test('messageTime: the parsed time, the same for a repeated timestamp, the clock for one that does not parse', async (t) => {
  let clock = 1_000
  const now = () => ++clock
  const a = '2026-12-06T15:00:00.123Z'
  const b = '2026-12-06T15:00:00.124Z'
  t.equal(messageTime(a, now), Date.parse(a))
  t.equal(messageTime(a, now), Date.parse(a), 'repeated')
  t.equal(messageTime(b, now), Date.parse(b), 'another')
  t.equal(messageTime(a, now), Date.parse(a), 'back to the first')
  t.equal(messageTime('not a time', now), 1_001, 'the clock')
  t.equal(messageTime('not a time', now), 1_002, 'the clock again, not a remembered answer')
  t.equal(messageTime(b, now), Date.parse(b), 'a good one after a bad one')
  t.equal(clock, 1_002, 'the clock is read only for timestamps that do not parse')
})

t.test('statusOf: received, else delivered, else stored', async (t) => {
  t.equal(statusOf(5, 4, 3), 'stored')
  t.equal(statusOf(5, 5, 3), 'delivered')
  t.equal(statusOf(5, 7, 5), 'received')
})
