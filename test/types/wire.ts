// Compile-time pin: every plain type of src/protocol/wire.ts (what the client package publishes)
// is exactly its schema's Static<> (what the server validates and writes). `npm run typecheck`
// fails on the first drift, in either direction, naming the type.
import type * as W from '../../src/protocol/wire.ts'
import type * as F from '../../src/protocol/fastchat.ts'
import type * as M from '../../src/protocol/main.ts'

/** true only when A and B are the same type (the identity check of conditional types). */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
type Pin<T extends true> = T

export type Pins = [
  Pin<Same<W.Hello, F.Hello>>,
  Pin<Same<W.OpenChat, F.OpenChat>>,
  Pin<Same<W.ClientMsg, F.ClientMsg>>,
  Pin<Same<W.ClientMsgAck, F.ClientMsgAck>>,
  Pin<Same<W.ClientTyping, F.ClientTyping>>,
  Pin<Same<W.Ping, F.Ping>>,
  Pin<Same<W.ClientHistory, F.ClientHistory>>,
  Pin<Same<W.ClientMessage, F.ClientMessage>>,
  Pin<Same<W.Welcome, M.Welcome>>,
  Pin<Same<W.HelloAck, F.HelloAck>>,
  Pin<Same<W.PresenceEntry, F.PresenceEntry>>,
  Pin<Same<W.PresenceList, F.PresenceList>>,
  Pin<Same<W.ChatOpened, F.ChatOpened>>,
  Pin<Same<W.ServerMsg, F.ServerMsg>>,
  Pin<Same<W.ServerMsgAck, F.ServerMsgAck>>,
  Pin<Same<W.ServerTyping, F.ServerTyping>>,
  Pin<Same<W.Pong, F.Pong>>,
  Pin<Same<W.ErrorMessage, F.ErrorMessage>>,
  Pin<Same<W.ChatSummary, F.ChatSummary>>,
  Pin<Same<W.Chats, F.Chats>>,
  Pin<Same<W.StoredMsg, F.StoredMsg>>,
  Pin<Same<W.ServerHistory, F.ServerHistory>>
]
