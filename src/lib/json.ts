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

/**
 * Cheap pre-check: could this text be a JSON object? Saves a parse on plain-text echo. Given
 * the UTF-8 bytes of a text frame it reads them in place (JSON's whitespace and `{` are ASCII,
 * the same bytes as characters), so plain text costs no string at all.
 */
export function looksLikeJsonObject(text: string | Buffer): boolean {
  const bytes = typeof text !== 'string'
  for (let i = 0; i < text.length; i++) {
    const c = bytes ? text[i]! : (text as string).charCodeAt(i)
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue
    return c === 0x7b // '{'
  }
  return false
}

export { isPlainObject } from './is-plain-object.ts'

/** What JSON.stringify escapes in a string (quote, backslash, controls), or a surrogate, paired or not. */
// eslint-disable-next-line no-control-regex -- control characters are what JSON escapes
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/

/**
 * JSON.stringify of a string, the same bytes: most chat strings need no escape, and a regex test
 * is cheaper than stringify (docs/bench.md). Any that might, surrogates included, go to stringify.
 */
export function jsonString(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`
}

/**
 * A JSON object from members whose values are JSON text already (jsonString, floatJson,
 * JSON.stringify), in the order given: how a frame keeps a float's `.0`, which JSON.stringify of a
 * number drops. The keys are the caller's own literals (no escaping).
 */
export function objectJson(members: Record<string, string>): string {
  let out = '{'
  for (const key in members) out += `${out.length > 1 ? ',' : ''}"${key}":${members[key]}`
  return `${out}}`
}

/**
 * JSON.stringify, also past the few thousand levels where V8's stringify throws RangeError (and
 * JSON.parse does not, so `[[[[…]]]]` must still echo): such values go to an explicit stack.
 */
export function stringifyJson(value: unknown): string {
  try {
    return JSON.stringify(value)
  } catch (err) {
    if (!(err instanceof RangeError)) throw err
    return stringifyDeep(value)
  }
}

type Pending = { kind: 'value'; value: unknown } | { kind: 'text'; text: string } | { kind: 'leave'; value: object }

/**
 * The explicit-stack writer behind stringifyJson (exported so tests compare it with
 * JSON.stringify). Follows JSON.stringify's rules: toJSON, undefined and functions skipped in
 * objects and null in arrays, non-finite numbers as null; a cycle throws TypeError.
 */
export function stringifyDeep(root: unknown): string {
  const out: string[] = []
  const path = new Set<object>() // the objects being written, to refuse cycles as JSON.stringify does
  // The next thing to write is on top.
  const stack: Pending[] = [{ kind: 'value', value: root }]
  while (stack.length > 0) {
    const item = stack.pop()!
    if (item.kind === 'text') {
      out.push(item.text)
      continue
    }
    if (item.kind === 'leave') {
      path.delete(item.value)
      continue
    }
    let v = item.value
    if (typeof v === 'object' && v !== null && typeof (v as { toJSON?: unknown }).toJSON === 'function') {
      v = (v as { toJSON(): unknown }).toJSON()
    }
    if (v instanceof Number || v instanceof String || v instanceof Boolean) v = v.valueOf() // boxed, as JSON.stringify unboxes
    if (typeof v !== 'object' || v === null) {
      // A leaf: JSON.stringify's own output; what it cannot write (undefined, a function) is null here.
      out.push(JSON.stringify(v) ?? 'null')
      continue
    }
    if (path.has(v)) throw new TypeError('Converting circular structure to JSON')
    path.add(v)
    stack.push({ kind: 'leave', value: v })
    if (Array.isArray(v)) {
      stack.push({ kind: 'text', text: ']' })
      for (let i = v.length - 1; i >= 0; i--) {
        stack.push({ kind: 'value', value: v[i] })
        if (i > 0) stack.push({ kind: 'text', text: ',' })
      }
      stack.push({ kind: 'text', text: '[' })
    } else {
      const obj = v as Record<string, unknown>
      const keys = Object.keys(obj).filter((k) => {
        const x = obj[k]
        return x !== undefined && typeof x !== 'function' && typeof x !== 'symbol'
      })
      stack.push({ kind: 'text', text: '}' })
      for (let i = keys.length - 1; i >= 0; i--) {
        stack.push({ kind: 'value', value: obj[keys[i]!] })
        stack.push({ kind: 'text', text: `${i > 0 ? ',' : ''}${JSON.stringify(keys[i])}:` })
      }
      stack.push({ kind: 'text', text: '{' })
    }
  }
  return out.join('')
}
