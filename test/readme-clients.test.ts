// The README's and docs/walkers.md's command-line client examples, run as a newcomer would run
// them against a live server: every `npx wscat` line (wscat is a devDependency, so no download),
// the `npm run smoke` line, and the Python example when a Python with `websockets` is at hand.
// Output shown in the docs (`# {…}` after a one-shot command, `< …` in a transcript) must be
// what the command prints; numbers and `…` in the docs stand for any value. Every websocat
// command shown has a wscat equivalent next to it, since websocat is often not installable.
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { startApp, type TestApp } from './helpers/app.ts'
import { signToken } from './helpers/tokens.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const DOCS = ['README.md', 'docs/walkers.md']
const SECRET = 'readme-clients-secret-long-enough-for-hs256'

interface Example {
  file: string
  line: number
  cmd: string
  /** One-shot (`-x`): the frames shown after it as `# {…}`. */
  frames: string[]
  /** Interactive: the transcript shown after it (`> ` typed, `< ` received). */
  transcript: string[]
}

/** Lines inside fenced code blocks, with their 1-based line numbers. */
function codeLines(file: string): Array<{ n: number; text: string }> {
  const out: Array<{ n: number; text: string }> = []
  let inside = false
  readFileSync(`${root}/${file}`, 'utf8').split('\n').forEach((text, i) => {
    if (/^```/.test(text)) inside = !inside
    else if (inside) out.push({ n: i + 1, text })
  })
  return out
}

function examples(file: string): Example[] {
  const lines = codeLines(file)
  const found: Example[] = []
  lines.forEach(({ n, text }, i) => {
    if (!/^npx wscat /.test(text)) return
    const after: string[] = []
    for (const next of lines.slice(i + 1)) {
      if (next.n !== n + after.length + 1) break // the block ended
      after.push(next.text)
    }
    const take = (re: RegExp) => {
      const k = after.findIndex((l) => !re.test(l))
      return k < 0 ? after : after.slice(0, k)
    }
    found.push({
      file,
      line: n,
      cmd: text.replace(/\s+#\s.*$/, ''),
      frames: take(/^# [{[]/).map((l) => l.slice(2)),
      transcript: take(/^(Connected \(press CTRL\+C to quit\)|[<>] .*)$/)
    })
  })
  return found
}

/** A frame shown in the docs as a pattern: `…` is anything, a number is any number. */
function framePattern(shown: string): RegExp {
  const parts = shown.split(/(…|-?\d+(?:\.\d+)?)/)
  const body = parts.map((p, i) => (i % 2 === 0 ? p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : p === '…' ? '.*' : '-?\\d+(?:\\.\\d+)?'))
  return new RegExp(`^${body.join('')}$`)
}

/** The docs' address, pointed at the test server. */
const local = (cmd: string, port: number) => cmd.replaceAll('localhost:8000', `127.0.0.1:${port}`)

function env(token: string): NodeJS.ProcessEnv {
  // Offline: `npx wscat` must resolve to the devDependency, never to a download.
  return { ...process.env, TOKEN: token, npm_config_offline: 'true', npm_config_update_notifier: 'false' }
}

/** Run a shell line with stdin held open (wscat quits when stdin ends), until it exits. */
function runShell(cmd: string, token: string, timeoutMs = 20_000, extra: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn('bash', ['-c', cmd], { cwd: root, env: { ...env(token), ...extra }, stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    p.stdout.on('data', (d) => (out += d))
    p.stderr.on('data', (d) => (err += d))
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs)
    p.on('exit', (code) => {
      clearTimeout(timer)
      p.stdin.destroy()
      resolve({ code, out, err })
    })
  })
}

async function connections(s: TestApp): Promise<number> {
  const body = (await (await fetch(`${s.http}/health`)).json()) as { connections: number }
  return body.connections
}

async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const all = DOCS.flatMap(examples)

t.test('the docs show wscat next to every websocat command', async (t) => {
  t.ok(all.length >= 10, `found ${all.length} npx wscat examples`)
  for (const file of DOCS) {
    const lines = codeLines(file)
    for (const { n, text } of lines) {
      const path = /(?:^|\|\s*)websocat\b.*?(\/ws\/[A-Za-z]+)/.exec(text)?.[1]
      if (!path) continue
      const near = all.some((e) => e.file === file && e.line > n && e.line <= n + 15 && e.cmd.includes(path))
      t.ok(near, `${file}:${n} ${text.trim()} has an npx wscat line for ${path} right after it`)
    }
  }
})

t.test('every npx wscat example prints what the docs show', async (t) => {
  // One-shot examples run against the default 30 s heartbeat (none arrives within `-w 1`, as
  // for a newcomer); transcripts that show a heartbeat against a 1 s one.
  const slow = await startApp({ JWT_SECRET: SECRET })
  t.teardown(slow.close)
  const fast = await startApp({ WS_PING_INTERVAL: '1', WS_PING_TIMEOUT: '0.5', JWT_SECRET: SECRET })
  t.teardown(fast.close)
  const token = await signToken({ sub: 'alice', name: 'Alice' }, { secret: SECRET })

  for (const ex of all) {
    const where = `${ex.file}:${ex.line} ${ex.cmd}`
    const s = ex.transcript.some((l) => l.includes('"heartbeat"')) ? fast : slow
    await until('the previous example to disconnect', async () => (await connections(s)) === 0)
    if (/ -x /.test(ex.cmd)) {
      const run = await runShell(local(ex.cmd, s.port), token)
      t.equal(run.code, 0, `${where} exits 0`, { stderr: run.err })
      const got = run.out.split('\n').filter(Boolean)
      t.ok(ex.frames.length > 0, `${where} shows its output`)
      t.equal(got.length, ex.frames.length, `${where} prints ${ex.frames.length} frame(s)`, { output: run.out })
      ex.frames.forEach((shown, i) => t.match(got[i] ?? '', framePattern(shown), `${where} frame ${i + 1}`))
      continue
    }
    // Interactive: type the `> ` lines, read the `< ` lines. When stdout is not a terminal wscat
    // prints no `Connected` and no `< `, only the frames, and its `> ` prompt after each line typed.
    const p = spawn('bash', ['-c', local(ex.cmd, s.port)], { cwd: root, env: env(token), stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    p.stdout.on('data', (d) => (out += d))
    p.stderr.on('data', (d) => (err += d))
    const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)))
    try {
      // wscat drops what is typed before it is connected: wait until the server counts it.
      await until(`${where} to connect (${err})`, async () => (await connections(s)) === 1)
      let received = 0
      for (const line of ex.transcript) {
        if (line.startsWith('> ')) p.stdin.write(`${line.slice(2)}\n`)
        if (!line.startsWith('< ')) continue
        received++
        const frames = () => out.split('\n').map((l) => l.replace(/^(> )+/, '')).filter(Boolean)
        await until(`${where} to print ${line}\n${out}`, () => frames().length >= received)
        t.match(frames()[received - 1], framePattern(line.slice(2)), `${where}: ${line.slice(0, 60)}`)
      }
      if (received === 0) t.equal(out, '', `${where} connects and waits quietly`)
    } finally {
      p.stdin.end() // wscat quits when its input ends, as at Ctrl+D
      const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('hung'), 10_000))])
      if (code === 'hung') p.kill('SIGKILL')
      t.equal(code, 0, `${where} exits 0 when its input ends`, { stderr: err })
    }
  }
})

t.test('the README\'s `npm run smoke` line, the project\'s own CLI, passes', async (t) => {
  const line = codeLines('README.md').find((l) => /^npm run smoke -- /.test(l.text))
  t.ok(line, 'the README shows npm run smoke')
  if (!line) return
  const s = await startApp({ WS_PING_INTERVAL: '1', WS_PING_TIMEOUT: '0.5' })
  t.teardown(s.close)
  const run = await runShell(local(line.text.replace(/\s+#\s.*$/, ''), s.port), '', 60_000)
  t.equal(run.code, 0, `${line.text} exits 0`, { output: run.out + run.err })
  t.match(run.out, /smoke: all 6 checks passed/)
})

/** A Python that has `websockets`: $PYTHON, else python3, else Debian's (CI installs python3-websockets); undefined when none does. */
function python(): string | undefined {
  for (const py of [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p)) {
    if (spawnSync(py, ['-c', 'import websockets'], { stdio: 'ignore' }).status === 0) return py
  }
  return undefined
}

const py = python()
t.test('the README\'s Python example runs', { skip: py ? false : 'no python3 with websockets here (pip install websockets, apt-get install python3-websockets, or set PYTHON)' }, async (t) => {
  if (!py) return
  const readme = readFileSync(`${root}/README.md`, 'utf8')
  const code = /```python\n([\s\S]*?)```/.exec(readme)?.[1]
  t.ok(code, 'the README has a Python example')
  if (!code) return
  const s = await startApp({ WS_PING_INTERVAL: '1', WS_PING_TIMEOUT: '0.5' })
  t.teardown(s.close)
  // Not spawnSync: the server runs in this process and must keep answering.
  const p = await runShell(`exec "$PY" -c "$CODE"`, '', 20_000, { PY: py, CODE: local(code, s.port) })
  t.equal(p.code, 0, 'exits 0', { stderr: p.err })
  const lines = p.out.split('\n').filter(Boolean)
  t.match(lines[0], /^\{"type":"WELCOME"/)
  t.equal(lines[1], 'hello')
  t.match(lines[2], /^\{"type":"welcome","endpoint":"\/ws\/echo"/)
  t.equal(lines[3], "{'type': 'test', 'data': 'hello'}")
  t.match(lines[4], /"status":"connected"/)
  t.match(lines[5], /"status":"healthy"/)
})
