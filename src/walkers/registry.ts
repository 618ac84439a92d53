// The walkers this process serves, by name, with their field validators compiled once. Walkers
// are grouped by the file that defined them so a hot reload can swap one file's walkers as a
// unit, and a reload that would clash with another file leaves everything as it was.
import { Kind, type TObject } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import { Value } from '@sinclair/typebox/value'
import type { WalkerErrorDetail } from '../protocol/walker.ts'
import type { Walker, WalkerContext, WalkerProtocol } from './define.ts'

/** A validation answer lists at most this many problems; the first few are what a client fixes. */
const MAX_DETAILS = 20
const TOO_DEEP: WalkerErrorDetail = { path: '', message: 'Input is nested too deeply to validate' }

export type Prepared = { ok: true; fields: Record<string, unknown> } | { ok: false; details: WalkerErrorDetail[] }

export class WalkerLoadError extends Error {
  override readonly name: string = 'WalkerLoadError'

  constructor(readonly file: string, message: string, options?: ErrorOptions) {
    super(`${file}: ${message}`, options)
  }
}

/** A file defines a walker name another file already serves: worth trying again when that one goes. */
export class WalkerNameClashError extends WalkerLoadError {
  override readonly name = 'WalkerNameClashError'
}

export class LoadedWalker {
  readonly name: string
  readonly protocol: WalkerProtocol
  readonly public: boolean
  readonly broadcast: boolean
  readonly description: string | undefined
  /** The schema as validated: unknown fields are refused unless the walker allowed them. */
  readonly fields: TObject
  private readonly check: TypeCheck<TObject>
  /** The fields' defaults as plain assignments, when that is all Value.Default would do. */
  private readonly defaults: [string, unknown][] | undefined

  constructor(private readonly walker: Walker, readonly file: string) {
    this.name = walker.name
    this.protocol = walker.protocol
    this.public = walker.public
    this.broadcast = walker.broadcast
    this.description = walker.description
    const f = walker.fields
    this.fields = f.additionalProperties === undefined ? { ...f, additionalProperties: false } : f
    try {
      this.check = TypeCompiler.Compile(this.fields)
    } catch (err) {
      throw new WalkerLoadError(file, `walker "${walker.name}": fields schema does not compile: ${(err as Error).message}`, { cause: err })
    }
    this.defaults = plainDefaults(this.fields)
  }

  /** Fill defaults into `input` (a fresh object the caller owns) and validate it. */
  prepare(input: Record<string, unknown>): Prepared {
    try {
      const value = this.defaults ? assignDefaults(input, this.defaults) : Value.Default(this.fields, input) as Record<string, unknown>
      if (this.check.Check(value)) return { ok: true, fields: value }
      const details: WalkerErrorDetail[] = []
      for (const e of this.check.Errors(value)) {
        details.push({ path: e.path, message: e.message })
        if (details.length === MAX_DETAILS) break
      }
      return { ok: false, details }
    } catch (err) {
      // A recursive schema walks the input as deep as it goes: thousands of levels (a few KB of
      // JSON) overflow the stack. That is the client's input failing validation, not the walker.
      if (err instanceof RangeError) return { ok: false, details: [TOO_DEEP] }
      throw err
    }
  }

  run(fields: Record<string, unknown>, ctx: WalkerContext): void | Promise<void> {
    return this.walker.run(fields as never, ctx)
  }
}

/**
 * The usual walker's defaults (primitive values on top-level fields), filled by assignment instead
 * of a Value.Default walk per message; undefined when the schema needs the full walk.
 */
function plainDefaults(fields: TObject): [string, unknown][] | undefined {
  if (Object.hasOwn(fields, 'default') || countDefaults(fields.additionalProperties) !== 0) return undefined
  const defaults: [string, unknown][] = []
  for (const [key, prop] of Object.entries(fields.properties)) {
    const n = countDefaults(prop)
    if (n === 0) continue
    const value: unknown = Object.hasOwn(prop, 'default') ? prop.default : undefined
    const primitive = value === null || ['string', 'number', 'boolean'].includes(typeof value)
    if (n !== 1 || !primitive) return undefined
    defaults.push([key, value])
  }
  return defaults
}

/** Default annotations in a schema tree; Infinity when it refers elsewhere (it could hold more). */
function countDefaults(node: unknown): number {
  if (typeof node !== 'object' || node === null) return 0
  const schema = Kind in node
  if (schema && ['Ref', 'This', 'Import'].includes((node as { [Kind]: string })[Kind])) return Infinity
  let n = schema && Object.hasOwn(node, 'default') ? 1 : 0
  for (const [key, child] of Object.entries(node)) {
    // On a schema, `default`, `const`, `enum` and `examples` hold values, not schemas.
    if (schema && ['default', 'const', 'enum', 'examples'].includes(key)) continue
    n += countDefaults(child)
  }
  return n
}

function assignDefaults(input: Record<string, unknown>, defaults: [string, unknown][]): Record<string, unknown> {
  for (const [key, value] of defaults) if (input[key] === undefined) input[key] = value
  return input
}

export class WalkerRegistry {
  private readonly byName = new Map<string, LoadedWalker>()
  private readonly byFile = new Map<string, LoadedWalker[]>()

  get(name: string): LoadedWalker | undefined {
    return this.byName.get(name)
  }

  /** Every walker, sorted by name (the OpenAPI document and logs read better that way). */
  list(): LoadedWalker[] {
    return [...this.byName.values()].sort((a, b) => a.name.localeCompare(b.name))
  }

  get size(): number {
    return this.byName.size
  }

  /**
   * Make `walkers` what `file` defines, replacing whatever it defined before. All or nothing:
   * on a compile error or a name another file already uses it throws WalkerLoadError and
   * changes nothing.
   */
  setFile(file: string, walkers: Walker[]): { added: string[]; removed: string[] } {
    const next = new Map<string, LoadedWalker>()
    for (const w of walkers) {
      if (next.has(w.name)) throw new WalkerLoadError(file, `walker name "${w.name}" is defined twice in this file`)
      const other = this.byName.get(w.name)
      if (other && other.file !== file) {
        throw new WalkerNameClashError(file, `duplicate walker name "${w.name}" (already defined in ${other.file})`)
      }
      next.set(w.name, new LoadedWalker(w, file))
    }
    const removed = this.removeFile(file).filter((name) => !next.has(name))
    for (const [name, loaded] of next) this.byName.set(name, loaded)
    this.byFile.set(file, [...next.values()])
    return { added: [...next.keys()], removed }
  }

  /** Forget what `file` defined; returns the names that went. */
  removeFile(file: string): string[] {
    const old = this.byFile.get(file) ?? []
    this.byFile.delete(file)
    for (const w of old) this.byName.delete(w.name)
    return old.map((w) => w.name)
  }
}
