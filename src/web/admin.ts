// The operators' console at /admin (docs/admin.md), bundled by `npm run build:web`. The page holds
// no data of its own: it reads the token from `#token=` (then keeps it in sessionStorage and takes
// it out of the address bar), asks GET /admin/api/state whether the token is good (401: it says
// so), then opens /admin/ws with the token as a subprotocol and draws what comes: a `hello` with
// the last minutes, a `tick` every second. Every piece of server text reaches the DOM through
// textContent, never as HTML (user names are user input).
import uPlot from 'uplot'
import type { AdminUser, Hello, Instances, Sample, ServerFrame, Surface, UserList } from '../admin/feed.ts'

const TOKEN_KEY = 'switchboard.admin_token'
/** Samples drawn: five minutes at one a second, as the server keeps. */
const WINDOW = 300
const CHART_HEIGHT = 150
const SURFACE_COLORS: Record<Surface, string> = { main: '#4c6ef5', echo: '#37b24d', health: '#f08c00', walker: '#ae3ec9' }
const PALETTE = ['#e03131', '#1c7ed6', '#f08c00', '#7048e8', '#0ca678', '#d6336c', '#5c940d', '#1098ad', '#e8590c', '#495057']
const MiB = 1024 * 1024

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id)
  if (!el) throw new Error(`admin page: #${id} missing`)
  return el as T
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, className?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag)
  if (text !== undefined) e.textContent = text
  if (className) e.className = className
  return e
}

// ------------------------------------------------------------------ the token

function storedToken(): string | undefined {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? undefined
  } catch {
    return undefined
  }
}

function keepToken(token: string): void {
  try {
    sessionStorage.setItem(TOKEN_KEY, token)
  } catch {
    // no storage: the token lives as long as this page
  }
}

/** `#token=…` wins; it leaves the address bar at once, so a screenshot or a shared screen does not show it. */
function readToken(): string | undefined {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash)
  if (!m) return storedToken()
  history.replaceState(null, '', location.pathname + location.search)
  let token: string
  try {
    token = decodeURIComponent(m[1]!)
  } catch {
    token = m[1]!
  }
  keepToken(token)
  return token || undefined
}

function base64url(text: string): string {
  let binary = ''
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

// ------------------------------------------------------------------ state and connection

let token = readToken()
let socket: WebSocket | undefined
let hello: Hello | undefined
let samples: Sample[] = []
let retryMs = 1000
let retryTimer: number | undefined

function setState(state: 'connecting' | 'live' | 'reconnecting' | 'refused', text: string): void {
  const badge = $('state')
  badge.dataset.state = state
  badge.textContent = text
  document.body.dataset.state = state
}

function refuse(why: string): void {
  socket?.close()
  socket = undefined
  setState('refused', 'refused (401)')
  $('console').hidden = true
  $('refused').hidden = false
  $('refused-why').textContent = why
}

function retryLater(): void {
  setState('reconnecting', `reconnecting in ${Math.round(retryMs / 1000)} s…`)
  clearTimeout(retryTimer)
  retryTimer = window.setTimeout(() => void start(), retryMs)
  retryMs = Math.min(retryMs * 2, 10_000)
}

/** Ask whether the token is good (a plain 401 to read), then open the socket. */
async function start(): Promise<void> {
  if (!token) return refuse('No admin token was given to this page.')
  let res: Response
  try {
    res = await fetch('/admin/api/state', { headers: { authorization: `Bearer ${token}` }, cache: 'no-store' })
  } catch (err) {
    if (err instanceof TypeError && /header/i.test(err.message)) return refuse('That token has characters an HTTP header cannot carry.')
    return retryLater()
  }
  if (res.status === 401) {
    const body = (await res.json().catch(() => ({}))) as { message?: string }
    return refuse(`The server refused the token: ${body.message ?? 'unauthorized'}. After a restart, npm start prints a new one.`)
  }
  if (!res.ok) return retryLater()
  connect(token)
}

function connect(t: string): void {
  setState('connecting', 'connecting…')
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/admin/ws`
  const ws = new WebSocket(url, ['switchboard-admin', `token.${base64url(t)}`])
  socket = ws
  ws.onmessage = (event) => {
    if (socket !== ws) return
    receive(JSON.parse(String(event.data)) as ServerFrame)
  }
  ws.onclose = () => {
    if (socket !== ws) return
    socket = undefined
    retryLater()
  }
}

function receive(frame: ServerFrame): void {
  switch (frame.type) {
    case 'hello':
      hello = frame
      samples = frame.history.slice(-WINDOW)
      retryMs = 1000
      $('refused').hidden = true
      $('console').hidden = false
      setState('live', 'live')
      $('close-code').setAttribute('value', String(frame.close_default.code))
      $('instances-card').hidden = !frame.redis
      drawCharts()
      return
    case 'tick':
      if (samples.length === 0 || frame.sample.t > samples[samples.length - 1]!.t) {
        samples.push(frame.sample)
        if (samples.length > WINDOW) samples.splice(0, samples.length - WINDOW)
        drawCharts()
      }
      showNow(frame.sample, frame.users)
      showUsers(frame.users)
      showInstances(frame.instances)
      showCodes()
      return
    case 'disconnected': {
      const action = $('action')
      action.dataset.kind = 'ok'
      action.textContent = `Closed ${frame.closed} connection${frame.closed === 1 ? '' : 's'} of ${nameOf(frame.user_id)} with ${frame.code} “${frame.reason}”.`
      return
    }
    case 'error': {
      const action = $('action')
      action.dataset.kind = 'error'
      action.textContent = `Refused: ${frame.message}`
    }
  }
}

// ------------------------------------------------------------------ charts

interface Chart {
  plot: uPlot | undefined
  /** The series' labels the plot was made with; new labels (a new close code) make a new plot. */
  labels: string
  container: HTMLElement
}

const charts = new Map<string, Chart>()

function css(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim()
}

function axes(): uPlot.Axis[] {
  const stroke = css('--muted')
  const grid = { stroke: css('--grid'), width: 1 }
  const ticks = { stroke: css('--grid'), width: 1 }
  const clock = (v: number) => new Date(v * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' })
  return [
    { stroke, grid, ticks, space: 90, values: (_u, vals) => vals.map(clock) },
    { stroke, grid, ticks, size: 48, values: (_u, vals) => vals.map((v) => (Math.abs(v) >= 10_000 ? `${Math.round(v / 1000)}k` : String(+v.toFixed(2)))) }
  ]
}

/** Draw one chart: `series` are [label, colour, values]; the x axis is the samples' time. */
function draw(id: string, series: [string, string, number[]][]): void {
  const container = $(id)
  let chart = charts.get(id)
  if (!chart) {
    chart = { plot: undefined, labels: '', container }
    charts.set(id, chart)
    new ResizeObserver(() => {
      const c = charts.get(id)
      if (c?.plot && container.clientWidth > 0) c.plot.setSize({ width: container.clientWidth, height: CHART_HEIGHT })
    }).observe(container)
  }
  const labels = series.map(([label]) => label).join('\n')
  const data: uPlot.AlignedData = [samples.map((s) => s.t / 1000), ...series.map(([, , values]) => values)]
  if (!chart.plot || chart.labels !== labels) {
    chart.plot?.destroy()
    chart.labels = labels
    chart.plot = new uPlot({
      width: Math.max(container.clientWidth, 200),
      height: CHART_HEIGHT,
      cursor: { drag: { x: false, y: false } },
      // Labels only: a live legend reads "--" until the pointer is over the plot.
      legend: { live: false },
      scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: axes(),
      series: [{}, ...series.map(([label, stroke]) => ({ label, stroke, width: 1.5, points: { show: false } }))]
    }, data, container)
  } else {
    chart.plot.setData(data)
  }
  const last = samples[samples.length - 1]
  container.dataset.points = String(samples.length)
  container.dataset.last = last ? JSON.stringify(series.map(([label, , values]) => [label, values[values.length - 1]])) : ''
}

const SURFACES: Surface[] = ['main', 'echo', 'health', 'walker']

function perSurface(pick: (s: Sample) => Record<Surface, number>): [string, string, number[]][] {
  const surfaces = hello?.surfaces ?? SURFACES
  return surfaces.map((surface) => [surface, SURFACE_COLORS[surface], samples.map((s) => pick(s)[surface] ?? 0)])
}

/** Every close code, error code and refusal reason seen in the window, as its own series. */
function codeSeries(): [string, string, number[]][] {
  const keys = new Set<string>()
  for (const s of samples) {
    for (const code of Object.keys(s.closes)) keys.add(`close ${code}`)
    for (const code of Object.keys(s.errors)) keys.add(`error ${code}`)
    for (const reason of Object.keys(s.refused)) keys.add(`refused ${reason}`)
  }
  const sorted = [...keys].sort()
  if (sorted.length === 0) return [['closes', PALETTE[0]!, samples.map(() => 0)]]
  return sorted.map((key, i) => {
    const [kind, code] = key.split(' ') as ['close' | 'error' | 'refused', string]
    const field = kind === 'close' ? 'closes' : kind === 'error' ? 'errors' : 'refused'
    return [key, PALETTE[i % PALETTE.length]!, samples.map((s) => s[field][code] ?? 0)]
  })
}

function drawCharts(): void {
  draw('c-conns', perSurface((s) => s.conns))
  draw('c-in', perSurface((s) => s.in))
  draw('c-out', perSurface((s) => s.out))
  draw('c-codes', codeSeries())
  draw('c-lag', [['p99', '#1c7ed6', samples.map((s) => s.lag_p99_ms)], ['max', '#e03131', samples.map((s) => s.lag_max_ms)]])
  draw('c-mem', [['heap used', '#0ca678', samples.map((s) => s.heap_used / MiB)], ['RSS', '#7048e8', samples.map((s) => s.rss / MiB)]])
}

// ------------------------------------------------------------------ numbers, tables

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0)
const fmt = (n: number) => (n >= 100 ? String(Math.round(n)) : String(+n.toFixed(1)))
const breakdown = (r: Record<string, number>) => Object.entries(r).map(([k, v]) => `${k} ${fmt(v)}`).join(' · ')

function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`
}

function showNow(s: Sample, users: UserList): void {
  $('k-conns').textContent = String(sum(s.conns))
  $('k-conns-d').textContent = breakdown(s.conns)
  $('k-users').textContent = String(users.local)
  $('k-users-d').textContent = `${users.online} online service-wide · ${users.open_chats} open chat${users.open_chats === 1 ? '' : 's'} listed`
  $('k-in').textContent = fmt(sum(s.in))
  $('k-in-d').textContent = breakdown(s.in)
  $('k-out').textContent = fmt(sum(s.out))
  $('k-out-d').textContent = breakdown(s.out)
  $('k-lag').textContent = `${fmt(s.lag_p99_ms)} ms`
  $('k-lag-d').textContent = `p99 this second · max ${fmt(s.lag_max_ms)} ms`
  $('k-mem').textContent = `${fmt(s.heap_used / MiB)} MiB`
  $('k-mem-d').textContent = `heap used · RSS ${fmt(s.rss / MiB)} MiB`
  if (hello) $('who').textContent = `instance ${hello.instance.slice(0, 8)} · v${hello.version} · up ${duration(s.t - hello.started_at)}`
}

let shownUsers = ''
let listedNames = new Map<string, string>()
const nameOf = (userId: string) => listedNames.get(userId) ?? userId

function showUsers(list: UserList): void {
  const more = list.matched > list.users.length ? ` (the ${list.users.length} newest shown; filter to find others)` : ''
  const stale = list.chats_stale ? ' Open chats as last known: the chat store (Redis) does not answer.' : ''
  $('users-summary').textContent = `${list.matched} of ${list.local} users here${more}.${stale}`
  const json = JSON.stringify(list.users)
  if (json === shownUsers) return
  shownUsers = json
  listedNames = new Map(list.users.map((u) => [u.user_id, u.display_name]))
  const body = $('users')
  body.replaceChildren()
  for (const user of list.users) {
    const row = el('tr')
    row.dataset.userId = user.user_id
    const who = el('td')
    who.append(el('div', user.display_name), el('div', user.user_id, 'uid'))
    const conns = el('td')
    for (const c of user.connections) {
      const line = el('div', undefined, 'conn')
      line.append(el('span', c.surface, 'tag'), el('span', c.dialect, c.dialect === 'flat' ? 'tag flat' : 'tag'))
      if (c.history) line.append(el('span', 'history', 'tag'))
      line.append(document.createTextNode(` since ${new Date(c.since).toLocaleTimeString()}`))
      line.title = `${c.id}, open ${duration(Date.now() - c.since)}`
      conns.append(line)
    }
    const chats = el('td')
    if (user.chats.length === 0) chats.append(el('span', '—', 'offline'))
    for (const chat of user.chats) {
      const line = el('div', `with ${chat.with_name ?? chat.with}`, chat.with_online ? undefined : 'offline')
      line.title = chat.chat_id
      chats.append(line)
    }
    const act = el('td')
    const kick = el('button', undefined, 'kick')
    kick.type = 'button'
    kick.setAttribute('aria-label', `Disconnect ${user.display_name}`)
    kick.addEventListener('click', () => disconnect(user))
    showArmed(kick, user.user_id)
    act.append(kick)
    row.append(who, conns, chats, act)
    body.append(row)
  }
}

/** How long the first click on Disconnect leaves it armed. */
const ARMED_MS = 3000
/**
 * The user whose Disconnect is armed, kept here rather than on a button: a tick that changes the
 * list rebuilds every row, and a new user listed first moves the rows, so the armed state follows
 * the user id into whichever button is theirs now. A click on another user's button arms that
 * user instead; only a second click on the same user's button closes anything.
 */
let armed: { userId: string; timer: number } | undefined

function showArmed(button: HTMLButtonElement, userId: string): void {
  const on = armed?.userId === userId
  button.dataset.armed = String(on)
  button.textContent = on ? 'Confirm' : 'Disconnect'
}

/** Arm `userId` (undefined: disarm), and show it on the rows as they are now. */
function arm(userId: string | undefined): void {
  clearTimeout(armed?.timer)
  armed = userId === undefined ? undefined : { userId, timer: window.setTimeout(() => arm(undefined), ARMED_MS) }
  for (const row of $('users').querySelectorAll<HTMLTableRowElement>('tr[data-user-id]')) {
    const button = row.querySelector<HTMLButtonElement>('button.kick')
    if (button) showArmed(button, row.dataset.userId!)
  }
}

/** Two clicks on one user's button: the first arms it for three seconds, the second closes the sockets. */
function disconnect(user: AdminUser): void {
  if (armed?.userId !== user.user_id) return arm(user.user_id)
  arm(undefined)
  const code = Number(($('close-code') as HTMLInputElement).value)
  const reason = ($('close-reason') as HTMLInputElement).value
  socket?.send(JSON.stringify({ type: 'disconnect', user_id: user.user_id, code, reason }))
}

function showInstances(instances: Instances | undefined): void {
  if (!instances) return
  const error = $('instances-error')
  const body = $('instances')
  // While Redis does not answer: why, over the last list it gave (kept if it never gave one).
  error.hidden = !('error' in instances)
  if ('error' in instances) error.textContent = `${instances.error}${instances.rows ? ' (the list below is the last it gave)' : ''}`
  if (!instances.rows) return
  body.replaceChildren()
  for (const row of instances.rows) {
    const tr = el('tr')
    const id = el('td', row.instance.slice(0, 8), row.self ? 'self' : undefined)
    id.title = row.instance + (row.self ? ' (this instance)' : '')
    if (row.self) id.append(document.createTextNode(' (this)'))
    const conns = row.stats ? el('td', String(sum(row.stats.connections)), 'num') : el('td', '—', 'num')
    if (row.stats) conns.title = breakdown(row.stats.connections)
    tr.append(
      id,
      conns,
      el('td', String(row.users_held), 'num'),
      el('td', `${fmt(row.lease_age_ms / 1000)} s`, 'num'),
      el('td', row.stats ? `${fmt(row.stats.heap_used / MiB)} MiB` : '—', 'num')
    )
    tr.title = `lease runs out in ${fmt(row.lease_left_ms / 1000)} s`
    body.append(tr)
  }
}

function showCodes(): void {
  const totals = new Map<string, number>()
  for (const s of samples) {
    for (const [kind, record] of [['close', s.closes], ['error', s.errors], ['refused', s.refused]] as const) {
      for (const [code, n] of Object.entries(record)) totals.set(`${kind}\n${code}`, (totals.get(`${kind}\n${code}`) ?? 0) + n)
    }
  }
  const body = $('codes')
  body.replaceChildren()
  for (const [key, n] of [...totals].sort((a, b) => b[1] - a[1])) {
    const [kind, code] = key.split('\n') as [string, string]
    const tr = el('tr')
    tr.append(el('td', kind), el('td', code), el('td', String(n), 'num'))
    body.append(tr)
  }
  $('codes-empty').hidden = totals.size > 0
}

// ------------------------------------------------------------------ controls

let filterTimer: number | undefined
$('filter').addEventListener('input', () => {
  clearTimeout(filterTimer)
  filterTimer = window.setTimeout(() => {
    socket?.send(JSON.stringify({ type: 'filter', q: ($('filter') as HTMLInputElement).value }))
  }, 200)
})

$('token-form').addEventListener('submit', (event) => {
  event.preventDefault()
  const value = ($('token-input') as HTMLInputElement).value.trim()
  if (!value) return
  token = value
  keepToken(value)
  ;($('token-input') as HTMLInputElement).value = ''
  retryMs = 1000
  void start()
})

void start()
