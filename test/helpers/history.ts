// Helpers for SPEC section 9 over real sockets: a history HELLO (with the claim a user was given),
// and the frames that follow it.
import { randomUUID } from 'node:crypto'
import type { WsTestClient } from '../../src/testing/ws-test-client.ts'
import { next, type Deployment, type Frame } from './fastchat.ts'

export interface HistoryUser {
  client: WsTestClient
  user_id: string
  display_name: string
  /** The claim to present from now on: the one issued, or the one presented. */
  claim: string | undefined
  ack: Frame
  presence: Frame
  chats: Frame
}

export interface HistoryJoin {
  user_id?: string
  claim?: string
  token?: string
  capabilities?: string[]
}

/** Open /ws and say a history HELLO; resolves after HELLO_ACK, PRESENCE and CHATS, which must come in that order. */
export async function joinHistory(dep: Deployment, display_name: string, opts: HistoryJoin = {}): Promise<HistoryUser> {
  const client = await dep.connect('/ws')
  await client.receiveJson() // WELCOME
  const user_id = opts.user_id ?? randomUUID()
  client.send(historyHello(user_id, display_name, opts))
  const ack = await client.receiveJson({ timeout: 5000 })
  if (ack.type !== 'HELLO_ACK') throw new Error(`history HELLO refused: ${JSON.stringify(ack)}`)
  const presence = await client.receiveJson()
  if (presence.type !== 'PRESENCE') throw new Error(`expected PRESENCE after HELLO_ACK, got ${JSON.stringify(presence)}`)
  const chats = await client.receiveJson()
  if (chats.type !== 'CHATS') throw new Error(`expected CHATS after PRESENCE, got ${JSON.stringify(chats)}`)
  return { client, user_id, display_name, claim: ack.data.claim ?? opts.claim, ack, presence, chats }
}

export function historyHello(user_id: string, display_name: string, opts: HistoryJoin = {}): Frame {
  const data: Record<string, unknown> = { user_id, display_name, capabilities: opts.capabilities ?? ['history'] }
  if (opts.claim !== undefined) data.claim = opts.claim
  if (opts.token !== undefined) data.token = opts.token
  return { type: 'HELLO', data }
}

/** The same user again on a new connection, with their claim. */
export function rejoin(dep: Deployment, user: Pick<HistoryUser, 'user_id' | 'display_name' | 'claim'>): Promise<HistoryUser> {
  return joinHistory(dep, user.display_name, { user_id: user.user_id, claim: user.claim })
}

/** `a` opens a chat with `b` (online or known); resolves with the opener's CHAT_OPENED. */
export async function openWith(a: HistoryUser, b: { user_id: string; display_name: string }): Promise<Frame> {
  a.client.send({ type: 'OPEN_CHAT', data: { target_user_id: b.user_id, target_display_name: b.display_name } })
  return next(a.client, 'CHAT_OPENED')
}

/** A HISTORY request and its answer (or the ERROR that answered it). */
export async function history(user: HistoryUser, data: Record<string, unknown>): Promise<Frame> {
  user.client.send({ type: 'HISTORY', data })
  return user.client.waitFor((m: Frame) => m.type === 'HISTORY' || m.type === 'ERROR', { timeout: 5000 })
}
