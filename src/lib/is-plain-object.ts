// The one "is this a JSON object?" predicate, for the server and the browser client alike: a
// file of its own so the client bundle need not pull in json.ts's Node-side parser.
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
