// Helpers for the walker tests: fixture paths, a JSON POST, and waiting for a condition (a log
// line, a reload) with a deadline instead of sleeping.
import { fileURLToPath } from 'node:url'

export const fixtureDir = (name = 'walkers') => fileURLToPath(new URL(`../fixtures/${name}/`, import.meta.url))

export interface HttpResult {
  status: number
  text: string
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any
}

/** POST `body` (a string is sent as-is, anything else as JSON) with a JSON content type. */
export async function postJson(url: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult> {
  const res = await fetch(url, {
    method: 'POST',
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
  })
  const text = await res.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, text, json }
}

/** Resolve once `check()` is truthy; reject after `timeout` ms saying what was awaited. */
export async function waitUntil<T>(check: () => T | undefined | false, what: string, timeout = 5000): Promise<T> {
  const deadline = Date.now() + timeout
  for (;;) {
    const v = check()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** The first captured log line (parsed) whose msg matches, once it appears. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function waitForLog(logs: string[], msg: RegExp, from = 0, timeout = 5000): Promise<any> {
  return waitUntil(() => logs.slice(from).map((l) => JSON.parse(l) as { msg?: string }).find((l) => l.msg !== undefined && msg.test(l.msg)), `a log line matching ${msg}`, timeout)
}
