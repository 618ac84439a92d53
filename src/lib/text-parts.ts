// A text frame's UTF-8 payload given as pieces that are written one after another and never
// joined. A PRESENCE list is mostly one slice of a buffer its entries are appended to
// (src/chat/presence-frames.ts); as pieces, the same bytes reach every socket with no copy and
// no UTF-8 encoding in user space, where a string costs a flattened copy and an encoding per
// list (docs/bench.md, "The join storm's floor"). Conn writes the pieces behind one header; a
// peer that must read the text (the flat dialect's renderer, tests) asks for toString().

export class TextParts {
  /** The payload's length in bytes: the pieces' lengths summed. */
  readonly byteLength: number
  private text: string | undefined

  /** The pieces must hold whole UTF-8 characters and must not change once handed in. */
  constructor(readonly parts: readonly Buffer[]) {
    let n = 0
    for (const p of parts) n += p.length
    this.byteLength = n
  }

  /** The payload joined into one Buffer (a copy). */
  bytes(): Buffer {
    return Buffer.concat(this.parts as Buffer[], this.byteLength)
  }

  /** The payload as one string, decoded once: every reader of the same frame gets the same string. */
  toString(): string {
    return (this.text ??= this.bytes().toString())
  }
}

/** A frame as the domain hands it to a peer: text, or text in pieces. */
export type OutText = string | TextParts
