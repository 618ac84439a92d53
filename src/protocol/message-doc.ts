// MessageDoc: how a dialect describes one of its messages for the AsyncAPI document and the
// playground. A protocol type, so protocol files need not import from src/docs (which imports them).
import type { TSchema } from '@sinclair/typebox'

export interface MessageDoc {
  /** Unique within its surface: the message's `type` or `action`, or a descriptive name. */
  name: string
  /**
   * The payload schema's title in the AsyncAPI document: the name generated clients give its
   * model, so letters, digits and underscores. Derived from the channel and name when left out.
   */
  title?: string
  summary?: string
  schema: TSchema
  /** At least one; client messages' examples are accepted by the server as they are. */
  examples: unknown[]
  /** Client examples that are plain text frames rather than JSON (verbatim echo). */
  text?: boolean
}

/** A dialect's messages: what clients send (receive) and what the server sends (send). */
export interface DialectDocs {
  receive: MessageDoc[]
  send: MessageDoc[]
}
