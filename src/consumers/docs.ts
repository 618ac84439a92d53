// A consumer's messages for the AsyncAPI document, built from its own schemas and examples.
import { Type } from '@sinclair/typebox'
import type { DialectDocs, MessageDoc } from '../protocol/message-doc.ts'
import { Authentication, authenticationFrame, Complete, ErrorFrame, HANDLER_FAILED } from '../protocol/action.ts'
import type { Consumer } from './consumer.ts'

export function consumerDocs(consumer: Consumer): DialectDocs {
  const receive: MessageDoc[] = []
  const send: MessageDoc[] = [
    { name: 'authentication', summary: 'first frame after a handshake with a token: 200 or 403', schema: Authentication, examples: [JSON.parse(authenticationFrame(true)), JSON.parse(authenticationFrame(false))] },
    { name: 'status', summary: 'a text from the consumer', schema: Type.Object({ action: Type.Literal('status'), payload: Type.String() }), examples: [{ action: 'status', payload: 'Welcome, alice!' }] },
    { name: 'complete', summary: 'the action is done', schema: Complete, examples: [{ action: 'complete', payload: null }] },
    {
      name: 'error', summary: 'an invalid action or payload, or a handler that failed', schema: ErrorFrame,
      examples: [
        { action: 'error', payload: [{ type: 'union_tag_invalid', loc: ['action'], msg: `Input tag 'nope' found using 'action' does not match any of the expected tags: ${consumer.actionNames.map((n) => `'${n}'`).join(', ')}` }] },
        JSON.parse(HANDLER_FAILED)
      ]
    }
  ]
  const seen = new Set(send.map((m) => m.name))
  for (const [name, a] of Object.entries(consumer.def.actions)) {
    receive.push({
      name,
      summary: a.description,
      schema: Type.Object({ action: Type.Literal(name), payload: a.payloadOptional ? Type.Optional(a.payload) : a.payload }, { additionalProperties: false }),
      examples: [{ action: name, payload: a.example ?? null }]
    })
    for (const [reply, { schema, example }] of Object.entries(a.replies ?? {})) {
      if (seen.has(reply)) continue
      seen.add(reply)
      send.push({ name: reply, summary: `the reply to ${name}`, schema, examples: [example] })
    }
  }
  return { receive, send }
}
