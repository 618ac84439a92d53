// Prototype-safe JSON parsing for everything that arrives off the wire. `__proto__` and
// `constructor.prototype` keys are dropped, so no later copy or merge of a parsed value can
// change an object's prototype, whatever the handler does with it.
import sjson from 'secure-json-parse'

export type Parsed = { ok: true; value: unknown } | { ok: false; error: string }

const options = { protoAction: 'remove', constructorAction: 'remove' } as const

export function parseJson(text: string): Parsed {
  try {
    return { ok: true, value: sjson.parse(text, undefined, options) }
  } catch (err) {
    return { ok: false, error: (err as Error).message }
  }
}

/** Cheap pre-check: could this text be a JSON object? Saves a parse on plain-text echo. */
export function looksLikeJsonObject(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue
    return c === 0x7b // '{'
  }
  return false
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
