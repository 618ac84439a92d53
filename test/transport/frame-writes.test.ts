// Pins the speed trick of src/transport/conn.ts (writeTextFrame): Conn frames its text frames
// itself and writes each to the TCP stream as one Buffer, instead of ws's send(). Read off a raw
// TCP socket: every frame's header is RFC 6455's shortest for its length (7-bit, 16-bit, 64-bit),
// the payload is byte for byte what was meant (ASCII, multi-byte UTF-8, verbatim Buffers small
// and large), ws's Sender carries no data frame, and ws's own close frame keeps its place after
// the frames written before it. PRESENCE lists, written in pieces (TextParts), are read the same way.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import WebSocket from 'ws'
import { presenceFrame, type PresenceEntry } from '../../src/protocol/fastchat.ts'
import { startApp } from '../helpers/app.ts'
import { join } from '../helpers/fastchat.ts'
import { RawClient } from '../helpers/raw-ws.ts'

/** RFC 6455 5.2: the minimal number of bytes must be used to encode the length. */
const shortest = (n: number) => (n < 126 ? 0 : n < 65_536 ? 2 : 8)

/** ws's Sender: counted, so the test sees that no data frame goes through it. */
const SenderProto = (WebSocket as unknown as { Sender: { prototype: { send: (...a: unknown[]) => unknown } } }).Sender.prototype

t.test('Conn writes its frames itself: exact headers and bytes, none through ws', async (t) => {
  const app = await startApp({ WS_MAX_PAYLOAD: 300_000 })
  t.teardown(() => app.close())
  const wsSend = SenderProto.send
  let viaWs = 0
  SenderProto.send = function (this: unknown, ...args: unknown[]) {
    viaWs++
    return wsSend.apply(this, args)
  }
  t.teardown(() => {
    SenderProto.send = wsSend
  })

  const c = await RawClient.open(app.port, '/ws')
  t.teardown(() => c.close())
  t.notMatch(c.upgrade, /sec-websocket-extensions/i, 'permessage-deflate offered and declined: no extension, so ws never queues')
  const welcome = await c.next()
  t.same([welcome.fin, welcome.opcode], [true, 1], 'WELCOME: one whole text frame')
  t.equal(JSON.parse(welcome.payload.toString()).type, 'WELCOME')

  // Verbatim echoes of plain text: the received Buffer, copied behind its header up to 16 KiB, written as it is above.
  const multi = 'é€😀 plain '
  for (const size of [1, 125, 126, 127, 16_384, 16_385, 65_535, 65_536, 70_000, 250_000]) {
    const text = Buffer.from((size % 2 ? multi : 'ascii text ').repeat(Math.ceil(size / 10))).subarray(0, size)
    // Cut inside a character would not be valid UTF-8 (ws closes with 1007): trim back to a whole one.
    let payload = text
    while (!isValidUtf8(payload)) payload = payload.subarray(0, payload.length - 1)
    c.write(RawClient.frame(1, payload))
    const f = await c.next()
    t.same([f.fin, f.opcode, f.extended], [true, 1, shortest(payload.length)], `${payload.length} bytes: whole text frame, shortest length field`)
    t.ok(f.payload.equals(payload), `${payload.length} bytes: the same bytes back`)
  }

  // Echo envelopes: strings the server builds, short ones encoded behind their header (ASCII,
  // multi-byte, past the 7-bit length, many lengths) and ones past 1024 characters as Buffers
  // encoded once for every socket.
  const strings = ['ascii only', 'naïve – 漢字 😀 "quoted" \\ back', '😀'.repeat(450), 'é'.repeat(900), 'x'.repeat(70_000), '😀'.repeat(20_000)]
  for (let i = 0; i < 40; i++) strings.push(`${i} ${'ü€'.repeat(i * 9)}`)
  for (const s of strings) {
    c.write(RawClient.frame(1, Buffer.from(JSON.stringify({ kind: 'probe', s }))))
    const f = await c.next()
    t.equal(f.extended, shortest(f.payload.length), `envelope of ${s.length} characters: shortest length field`)
    const echo = JSON.parse(f.payload.toString('utf8'))
    t.same([echo.type, echo.data], ['echo', { kind: 'probe', s }], `envelope of ${s.length} characters: the content intact`)
    t.equal(Buffer.byteLength(f.payload.toString('utf8')), f.payload.length, 'no stray bytes')
  }
  t.equal(viaWs, 0, "no data frame went through ws's Sender")

  // A frame and then the client's close in one TCP chunk: the echo written first, ws's close frame after it.
  c.write(Buffer.concat([RawClient.frame(1, Buffer.from('last words')), RawClient.frame(8, Buffer.from([0x03, 0xe8]))]))
  const last = await c.next()
  t.same([last.opcode, last.payload.toString()], [1, 'last words'], 'the echo before the close')
  const closing = await c.next()
  t.same([closing.opcode, closing.payload.readUInt16BE(0)], [8, 1000], "then ws's close frame, 1000")
})

// PRESENCE lists are TextParts (src/chat/presence-frames.ts): the envelope's head and tail around a
// slice of the entry log, written as pieces behind one header. A full list past 64 KiB of
// multi-byte names, and then a delta, read off a raw socket: one whole frame each, shortest length
// field, byte for byte the canonical presenceFrame() of the users in the order they joined.
t.test('PRESENCE lists in pieces: exact headers and bytes, none through ws', async (t) => {
  const app = await startApp()
  t.teardown(() => app.close())
  const wsSend = SenderProto.send
  let viaWs = 0
  SenderProto.send = function (this: unknown, ...args: unknown[]) {
    // The test's own ws clients send masked frames through a Sender too: only the server's count.
    if ((args[1] as { mask?: boolean }).mask !== true) viaWs++
    return wsSend.apply(this, args)
  }
  t.teardown(() => {
    SenderProto.send = wsSend
  })
  const entries: PresenceEntry[] = []
  const joinSome = async (from: number, count: number) => {
    for (let i = from; i < from + count; i++) {
      const display_name = `${'😀é'.repeat(20)} ${i}`
      const user = await join(app, display_name)
      t.teardown(() => user.client.close())
      entries.push({ user_id: user.user_id, display_name, online: true })
    }
  }
  await joinSome(0, 330)

  const c = await RawClient.open(app.port, '/ws')
  t.teardown(() => c.close())
  await c.next() // WELCOME
  const me = { user_id: randomUUID(), display_name: 'Raw reader' }
  c.write(RawClient.frame(1, Buffer.from(JSON.stringify({ type: 'HELLO', data: { ...me, capabilities: ['presence_delta'] } }))))
  t.equal(JSON.parse((await c.next()).payload.toString()).type, 'HELLO_ACK')
  const full = await c.next()
  const expected = Buffer.from(presenceFrame([...entries, { ...me, online: true }]))
  t.ok(expected.length > 65_535, `the list is ${expected.length} bytes: past the 16-bit length`)
  t.same([full.fin, full.opcode, full.extended], [true, 1, 8], 'the full list: one whole text frame, 64-bit length')
  t.ok(full.payload.equals(expected), 'the full list: byte for byte presenceFrame()')

  // Three more join: one delta, or more if a join came after a debounce window closed; each is
  // the joins since the last, in order.
  let seen = entries.length
  await joinSome(seen, 3)
  while (seen < entries.length) {
    const delta = await c.next()
    const sizes = [1, 2, 3].filter((m) => seen + m <= entries.length)
    const m = sizes.find((k) => delta.payload.equals(Buffer.from(presenceFrame(entries.slice(seen, seen + k)))))
    t.ok(m !== undefined, `a delta from user ${seen + 1} on: byte for byte presenceFrame() of the joins it covers`)
    if (m === undefined) break
    t.same([delta.fin, delta.opcode, delta.extended], [true, 1, shortest(delta.payload.length)], 'the delta: one whole text frame, shortest length field')
    seen += m
  }
  t.equal(viaWs, 0, "no data frame went through ws's Sender")
})

function isValidUtf8(b: Buffer): boolean {
  return Buffer.from(b.toString('utf8')).equals(b)
}
