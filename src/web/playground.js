// The playground: reads /asyncapi.json, lists every surface (walkers included) with its client
// messages, pre-fills an example, connects, sends, and logs every frame with a timestamp, JSON
// pretty-printed and error replies marked. Drafts are kept per surface in localStorage. The
// Reference tab renders the same document for people. Text from the server or the document is
// always rendered as text (textContent), never as HTML.
const $ = (id) => document.getElementById(id)
const wsBase = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`
/** What the first visit shows: the diagnostic echo's JSON example. */
const DEFAULT_MESSAGE = 'echo_in_json'
const STORE = 'switchboard.playground.v1'
/** Frames the log keeps; older ones are dropped. */
const MAX_LOG = 500

let doc = null
let ws = null
/** The picked message: { key, message, channelId, channel }. */
let current = null
/** Frames the user pressed Send for while the socket was still opening. */
let pendingSend = null
/** A frame sent (Ctrl+Enter) while the socket was closing: sent on a new connection once it has closed. */
let sendAfterClose = null

// ---- storage: drafts per surface (address) and message, and the last pick ------------------
// Several tabs share one store: each change is applied to the store as saved (another tab may
// have written since), never by writing back this page's copy, which would erase their drafts;
// and the copy follows their changes (the storage event), so a pick shows their latest drafts.

/** The store as saved, by any tab; null when storage cannot be read (disabled). */
function readStore() {
  let text
  try {
    text = localStorage.getItem(STORE)
  } catch {
    return null
  }
  try {
    const v = JSON.parse(text ?? '{}')
    return v && typeof v === 'object' && !Array.isArray(v) ? v : {}
  } catch {
    return {}
  }
}

function withDrafts(v) {
  if (!v.drafts || typeof v.drafts !== 'object') v.drafts = {}
  return v
}

let store = withDrafts(readStore() ?? {})

/** Apply `change` to the store as saved now, and save it; without storage, to this page's copy. */
function updateStore(change) {
  store = withDrafts(readStore() ?? store)
  change(store)
  try {
    localStorage.setItem(STORE, JSON.stringify(store))
  } catch { /* storage full or disabled: drafts live for this page only */ }
}

window.addEventListener('storage', (e) => {
  if (e.key === STORE || e.key === null) store = withDrafts(readStore() ?? store)
})

const draftOf = (address, key) => store.drafts[address]?.[key]
function setDraft(address, key, text) {
  updateStore((s) => {
    const surface = (s.drafts[address] ??= {})
    if (text === undefined) delete surface[key]
    else surface[key] = text
    if (Object.keys(surface).length === 0) delete s.drafts[address]
  })
}

// ---- JSON rendering -------------------------------------------------------------------------

function span(cls, text) {
  const s = document.createElement('span')
  s.className = cls
  s.textContent = text
  return s
}

/** `value` as JSON.stringify(value, null, 2) would print it, with keys, strings, numbers and literals in spans. */
function jsonNode(value, depth = 0) {
  const frag = document.createDocumentFragment()
  const pad = '  '.repeat(depth)
  if (Array.isArray(value) || (value !== null && typeof value === 'object')) {
    const entries = Array.isArray(value) ? value.map((v) => [null, v]) : Object.entries(value)
    const [open, close] = Array.isArray(value) ? ['[', ']'] : ['{', '}']
    if (entries.length === 0) {
      frag.append(open + close)
      return frag
    }
    frag.append(`${open}\n`)
    entries.forEach(([k, v], i) => {
      frag.append(`${pad}  `)
      if (k !== null) frag.append(span('j-key', JSON.stringify(k)), ': ')
      frag.append(jsonNode(v, depth + 1), i < entries.length - 1 ? ',\n' : '\n')
    })
    frag.append(`${pad}${close}`)
  } else if (typeof value === 'string') frag.append(span('j-str', JSON.stringify(value)))
  else if (typeof value === 'number') frag.append(span('j-num', String(value)))
  else frag.append(span('j-lit', String(value)))
  return frag
}

function parseJson(text) {
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch (err) {
    return { ok: false, error: err }
  }
}

/** The frame's tag for the log: its type, action, or a walker envelope's outcome. */
function tagOf(v) {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return ''
  if (typeof v.type === 'string') return v.type
  if (typeof v.action === 'string') return v.action
  if (v.ok === true) return 'ok'
  if (v.ok === false) return typeof v.error?.code === 'string' ? v.error.code : 'error'
  return ''
}

/** Error replies of every dialect: a walker's ok:false, a type or action naming an error, a 4xx/5xx status. */
function isErrorFrame(v) {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false
  if (v.ok === false) return true
  if (typeof v.type === 'string' && /error/i.test(v.type)) return true
  if (typeof v.action === 'string' && /error/i.test(v.action)) return true
  const status = v.payload?.status_code ?? v.status_code
  return typeof status === 'number' && status >= 400
}

// ---- the log ---------------------------------------------------------------------------------

const DIRECTION = { in: '⬇ received', out: '⬆ sent', sys: '•' }

function log(kind, text, opts = {}) {
  const li = document.createElement('li')
  li.className = kind
  const meta = document.createElement('div')
  meta.className = 'meta'
  const time = document.createElement('time')
  time.textContent = new Date().toISOString().slice(11, 23)
  meta.append(time, span('dir', DIRECTION[kind]))
  const pre = document.createElement('pre')
  let bad = opts.bad === true
  if (kind === 'sys') {
    pre.textContent = text
  } else {
    const parsed = parseJson(text)
    if (parsed.ok && parsed.value !== null && typeof parsed.value === 'object') {
      pre.append(jsonNode(parsed.value))
      const tag = tagOf(parsed.value)
      if (tag) meta.append(span('tag', tag))
      bad ||= kind === 'in' && isErrorFrame(parsed.value)
    } else {
      pre.textContent = text
      meta.append(span('tag', parsed.ok ? 'json' : 'text'))
    }
  }
  if (bad) li.dataset.bad = 'true'
  li.append(meta, pre)
  $('log').append(li)
  // A long session (a heartbeat every 30 s) keeps the newest frames only.
  while ($('log').children.length > MAX_LOG) $('log').firstElementChild.remove()
  $('empty-log').hidden = true
  applyFilter(li)
  updateCount()
  if (!li.hidden) li.scrollIntoView({ block: 'nearest' })
}

function matches(li) {
  if ($('errors-only').checked && li.dataset.bad !== 'true') return false
  const q = $('filter').value.trim().toLowerCase()
  return !q || li.textContent.toLowerCase().includes(q)
}

function applyFilter(li) {
  li.hidden = !matches(li)
}

function updateCount() {
  const all = $('log').children.length
  const shown = [...$('log').children].filter((li) => !li.hidden).length
  $('count').textContent = all === 0 ? '' : shown === all ? `${all} frame${all === 1 ? '' : 's'}` : `${shown} of ${all} shown`
}

function refilter() {
  for (const li of $('log').children) applyFilter(li)
  updateCount()
}

// ---- connection and composer ------------------------------------------------------------------

const requiresToken = (channel) => /token \(required\)/.test(channel?.description ?? '')

function setState(state) {
  $('state').textContent = state
  $('state').dataset.state = state
  $('disconnect').disabled = state === 'closed'
  $('connect').disabled = state !== 'closed'
  updateComposer()
}

/** The send button and the line under the composer: why a frame cannot or should not be sent. */
function updateComposer() {
  const text = $('message').value
  const hint = $('hint')
  const state = $('state').dataset.state
  let level = 'info'
  let line
  if (text.trim() === '') {
    level = 'error'
    line = text === '' ? 'Empty frame: nothing to send. Pick an example or type a message.' : 'Only whitespace: nothing to send.'
  } else if (current?.message.contentType === 'application/json' && !parseJson(text).ok) {
    level = 'warn'
    line = `Not valid JSON (${parseJson(text).error.message}); it is sent as typed, and the server will say what it makes of it.`
  } else if (requiresToken(current?.channel) && !$('token').value.trim() && state !== 'open') {
    level = 'warn'
    line = 'This surface requires a token: paste one above (npm run token -- --sub you), or expect UNAUTHORIZED.'
  } else if (state === 'open') {
    line = 'Ctrl+Enter sends.'
  } else {
    line = 'Send connects first, then sends.'
  }
  hint.textContent = line
  hint.dataset.level = level
  $('send').disabled = text.trim() === '' || state === 'connecting' || state === 'closing'
  $('send').textContent = state === 'open' ? 'Send' : 'Connect & send'
}

function connect() {
  if (ws) return
  let url
  try {
    url = new URL($('url').value)
  } catch {
    log('sys', `not a URL: ${$('url').value}`, { bad: true })
    return
  }
  const token = $('token').value.trim()
  if (token) url.searchParams.set('token', token)
  setState('connecting')
  log('sys', `connecting to ${url.origin}${url.pathname}${token ? ' with a token' : ''}`)
  const socket = new WebSocket(url)
  ws = socket
  socket.addEventListener('open', () => {
    setState('open')
    log('sys', 'open')
    if (pendingSend !== null) {
      const text = pendingSend
      pendingSend = null
      sendText(text)
    }
  })
  socket.addEventListener('message', (e) => log('in', typeof e.data === 'string' ? e.data : '[binary frame]'))
  socket.addEventListener('close', (e) => {
    if (ws === socket) ws = null
    pendingSend = null
    setState('closed')
    const normal = e.code === 1000 || e.code === 1001 || e.code === 1005
    log('sys', `closed ${e.code}${e.reason ? ` (${e.reason})` : ''}`, { bad: !normal })
    if (sendAfterClose !== null && ws === null) {
      pendingSend = sendAfterClose
      sendAfterClose = null
      connect()
    }
  })
  socket.addEventListener('error', () => log('sys', 'connection error (the close code follows)', { bad: true }))
}

function disconnect() {
  if (!ws) return
  setState('closing')
  ws.close(1000)
}

function sendText(text) {
  if (!ws || ws.readyState !== WebSocket.OPEN) return
  ws.send(text)
  log('out', text)
}

function send() {
  const text = $('message').value
  if (text.trim() === '') {
    updateComposer()
    $('message').focus()
    return
  }
  if (ws && ws.readyState === WebSocket.OPEN) sendText(text)
  else if (ws && ws.readyState === WebSocket.CLOSING) {
    // Closing (Disconnect, or a pick on another surface): connect() would wait on the old
    // socket and the frame would be lost; it goes out on a new connection, to the URL shown.
    sendAfterClose = text
    log('sys', 'the connection is closing: the frame is sent on a new one once it has closed')
  } else {
    pendingSend = text
    connect()
  }
}

// ---- surfaces ------------------------------------------------------------------------------

const exampleText = (message) => {
  const example = message.examples?.[0]?.payload
  return message.contentType === 'text/plain' ? String(example ?? '') : JSON.stringify(example ?? {}, null, 2)
}

/** Messages of one direction of a channel: [key, message] in the document's order. */
function messagesOf(channelId, dir) {
  const op = doc.operations[`${channelId}_${dir}`]
  return (op?.messages ?? []).map((ref) => {
    const key = ref.$ref.split('/').pop()
    return [key, doc.components.messages[key]]
  })
}

function pick(key) {
  const found = findMessage(key)
  if (!found) return
  const [channelId, channel, message] = found
  for (const b of document.querySelectorAll('#surfaces button[aria-pressed="true"]')) b.setAttribute('aria-pressed', 'false')
  document.querySelector(`#surfaces button[data-message="${CSS.escape(key)}"]`)?.setAttribute('aria-pressed', 'true')
  current = { key, message, channelId, channel }
  const url = `${wsBase}${channel.address}`
  if ($('url').value !== url && ws) {
    log('sys', `switching to ${channel.address}: closing the current connection`)
    disconnect()
  }
  $('url').value = url
  $('message').value = draftOf(channel.address, key) ?? exampleText(message)
  $('reset').disabled = draftOf(channel.address, key) === undefined
  $('selected').textContent = `${channel.address} · ${message.name}`
  $('selected-summary').textContent = message.summary ?? ''
  updateStore((s) => { s.last = key })
  document.body.dataset.menu = 'closed'
  $('menu').setAttribute('aria-expanded', 'false')
  showTab('console')
  updateComposer()
}

function findMessage(key) {
  for (const [channelId, channel] of Object.entries(doc.channels)) {
    if (messagesOf(channelId, 'receive').some(([k]) => k === key)) return [channelId, channel, doc.components.messages[key]]
  }
  return null
}

function renderSurfaces() {
  const nav = $('surfaces')
  $('loading').remove()
  // Dialects sharing an address (/ws, /ws/echo) are one channel each in the document, listed
  // under one heading; each walker is a channel of its own.
  const groups = new Map()
  for (const [id, channel] of Object.entries(doc.channels)) {
    const name = channel.summary ?? channel.title ?? id
    let g = groups.get(channel.address)
    if (g) g.what.textContent += `; ${name}`
    else {
      const h2 = document.createElement('h2')
      const what = span('what', name)
      h2.append(document.createTextNode(`${channel.address} `), what)
      const list = document.createElement('div')
      list.className = 'group'
      nav.append(h2, list)
      groups.set(channel.address, g = { what, list })
    }
    for (const [key, message] of messagesOf(id, 'receive')) {
      const b = document.createElement('button')
      b.type = 'button'
      b.textContent = message.name
      b.title = message.summary ?? ''
      b.dataset.address = channel.address
      b.dataset.message = key
      b.setAttribute('aria-pressed', 'false')
      b.addEventListener('click', () => pick(key))
      g.list.append(b)
    }
  }
}

// ---- the reference: the AsyncAPI document for people ------------------------------------------

/** Text with `code` spans, as the document's descriptions write them. */
function prose(tag, text, cls) {
  const el = document.createElement(tag)
  if (cls) el.className = cls
  String(text ?? '').split(/(`[^`]+`)/).forEach((part) => {
    if (/^`[^`]+`$/.test(part)) {
      const c = document.createElement('code')
      c.textContent = part.slice(1, -1)
      el.append(c)
    } else if (part) el.append(part)
  })
  return el
}

const resolve = (schema) => (schema?.$ref ? doc.components.schemas[schema.$ref.split('/').pop()] ?? schema : schema)

/** A schema's type in a few characters: "string", "\"welcome\"", "integer | null", "Foo[]". */
function typeOf(schema) {
  const s = resolve(schema) ?? {}
  if (s.const !== undefined) return JSON.stringify(s.const)
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' | ')
  const alts = s.anyOf ?? s.oneOf
  if (alts) return alts.length === 6 && !s.title ? 'any JSON' : alts.map(typeOf).join(' | ')
  // A tuple (TypeBox's, or draft 2020's prefixItems): each place's type.
  const places = Array.isArray(s.items) ? s.items : s.prefixItems
  if (s.type === 'array' && places) return `[${places.map(typeOf).join(', ')}]`
  if (s.type === 'array') return `${typeOf(s.items)}[]`
  if (Array.isArray(s.type)) return s.type.join(' | ')
  return s.type ?? (s.title || 'any')
}

function notesOf(schema) {
  const s = resolve(schema) ?? {}
  const notes = []
  if (s.description) notes.push(s.description)
  if (s.default !== undefined) notes.push(`default ${JSON.stringify(s.default)} when left out`)
  for (const [k, label] of [['minLength', 'min length'], ['maxLength', 'max length'], ['minimum', 'min'], ['maximum', 'max'], ['pattern', 'pattern'], ['format', 'format'], ['minItems', 'min items'], ['maxItems', 'max items']]) {
    if (s[k] !== undefined) notes.push(`${label} ${s[k]}`)
  }
  return notes.join('; ')
}

/** Nested objects are spelled out to this depth (`data.users[].user_id` is three). */
const MAX_FIELD_DEPTH = 4

/**
 * One row per field, nested ones included: an object's properties as `data.user_id`, and those
 * of an array's object items as `data.users[].user_id`, so an enveloped message shows what is in
 * its envelope. A nested field required where it sits, inside an optional one, is required
 * "with" that one.
 */
function fieldRows(s, prefix = '', parentRequired = true, depth = 1) {
  const rows = []
  const required = new Set(s.required ?? [])
  for (const [name, prop] of Object.entries(s.properties ?? {})) {
    const path = `${prefix}${name}`
    const here = required.has(name)
    const needed = here && parentRequired ? 'yes' : here && prefix ? `with ${prefix.replace(/(\[\])?\.$/, '')}` : 'no'
    rows.push([path, typeOf(prop), needed, notesOf(prop)])
    if (depth >= MAX_FIELD_DEPTH) continue
    const p = resolve(prop) ?? {}
    const item = p.type === 'array' && !Array.isArray(p.items) ? resolve(p.items) : undefined
    if (p.properties) rows.push(...fieldRows(p, `${path}.`, here && parentRequired, depth + 1))
    else if (item?.properties) rows.push(...fieldRows(item, `${path}[].`, here && parentRequired, depth + 1))
  }
  return rows
}

function fieldsTable(schema) {
  const s = resolve(schema)
  if (!s?.properties || Object.keys(s.properties).length === 0) return null
  const table = document.createElement('table')
  table.className = 'fields'
  const head = table.createTHead().insertRow()
  for (const h of ['field', 'type', 'required', 'notes']) {
    const th = document.createElement('th')
    th.textContent = h
    head.append(th)
  }
  const body = table.createTBody()
  for (const cells of fieldRows(s)) {
    const row = body.insertRow()
    for (const text of cells) row.insertCell().textContent = text
  }
  return table
}

function messageDetails(key, message, dir) {
  const details = document.createElement('details')
  const summary = document.createElement('summary')
  const name = document.createElement('code')
  name.textContent = message.name
  summary.append(name, span('what', message.summary ?? ''), span('ctype', message.contentType ?? 'application/json'))
  if (dir === 'receive') {
    const b = document.createElement('button')
    b.type = 'button'
    b.textContent = 'Try it'
    b.dataset.message = key
    b.addEventListener('click', (e) => { e.preventDefault(); pick(key) })
    summary.append(b)
  }
  details.append(summary)
  const schema = resolve(message.payload)
  const table = fieldsTable(schema)
  if (table) details.append(table)
  details.append(prose('p', `Schema ${schema?.title ?? ''}${schema?.discriminator ? ` (discriminator \`${schema.discriminator}\`)` : ''}`, 'ref-label'))
  const pre = document.createElement('pre')
  pre.append(jsonNode(schema ?? {}))
  details.append(pre)
  for (const ex of message.examples ?? []) {
    details.append(prose('p', `Example ${ex.name ?? ''}`, 'ref-label'))
    const p = document.createElement('pre')
    if (message.contentType === 'text/plain') p.textContent = String(ex.payload)
    else p.append(jsonNode(ex.payload))
    details.append(p)
  }
  return details
}

function renderReference() {
  const root = $('reference')
  const intro = document.createElement('div')
  intro.className = 'intro'
  const h2 = document.createElement('h2')
  h2.textContent = `${doc.info.title} ${doc.info.version} — AsyncAPI ${doc.asyncapi}`
  intro.append(h2, prose('p', doc.info.description))
  const links = document.createElement('p')
  const raw = document.createElement('a')
  raw.href = '/asyncapi.json'
  raw.textContent = 'the document as JSON'
  const docs = document.createElement('a')
  docs.href = '/docs'
  docs.textContent = 'the HTTP routes at /docs'
  links.append('Servers: ', ...Object.values(doc.servers ?? {}).map((s) => `${s.protocol}://${s.host} `), '· ', raw, ' · ', docs)
  intro.append(links)
  const toc = document.createElement('ul')
  toc.id = 'toc'
  toc.setAttribute('aria-label', 'channels')
  root.append(intro, toc)
  for (const [id, channel] of Object.entries(doc.channels)) {
    const a = document.createElement('a')
    a.href = `#channel-${id}`
    a.textContent = id
    const li = document.createElement('li')
    li.append(a)
    toc.append(li)
    const article = document.createElement('article')
    article.className = 'channel card'
    article.id = `channel-${id}`
    const h3 = document.createElement('h3')
    const address = document.createElement('code')
    address.textContent = channel.address
    h3.append(address, span('id', `channel ${channel.title ?? id}`))
    article.append(h3, prose('p', channel.summary, 'summary'), prose('p', channel.description, 'desc'))
    for (const [dir, label] of [['receive', 'Client → server'], ['send', 'Server → client']]) {
      const list = messagesOf(id, dir)
      if (list.length === 0) continue
      const h4 = document.createElement('h4')
      h4.textContent = `${label} (${list.length})`
      article.append(h4, ...list.map(([key, m]) => messageDetails(key, m, dir)))
    }
    root.append(article)
  }
}

function showTab(name) {
  for (const tab of ['console', 'reference']) {
    const on = tab === name
    $(`tab-${tab}`).setAttribute('aria-selected', String(on))
    $(`tab-${tab}`).tabIndex = on ? 0 : -1
    $(tab).hidden = !on
  }
}

/** HTTP routes are tried in /docs (Swagger UI); the list names the walkers and webhooks there. */
async function renderHttpSurfaces() {
  const res = await fetch('/docs/json')
  if (!res.ok) return
  const openapi = await res.json()
  const walkers = Object.entries(openapi.paths ?? {}).filter(([path]) => /^\/(walker|webhook)\//.test(path))
  const h2 = document.createElement('h2')
  h2.append('HTTP ', span('what', 'walkers, webhooks and every other route: try them in /docs'))
  const list = document.createElement('div')
  list.className = 'group http'
  for (const [path, ops] of walkers) {
    const a = document.createElement('a')
    a.href = '/docs'
    a.textContent = `POST ${path}`
    a.title = ops.post?.summary ?? ''
    list.append(a)
  }
  const docs = document.createElement('a')
  docs.href = '/docs'
  docs.textContent = 'all routes →'
  list.append(docs)
  $('surfaces').append(h2, list)
}

async function loadDocument() {
  const res = await fetch('/asyncapi.json')
  if (!res.ok) throw new Error(`HTTP ${res.status}`)
  doc = await res.json()
  renderSurfaces()
  renderReference()
  const first = findMessage(store.last ?? '') ? store.last : findMessage(DEFAULT_MESSAGE) ? DEFAULT_MESSAGE : messagesOf(Object.keys(doc.channels)[0], 'receive')[0]?.[0]
  if (first) pick(first)
  renderHttpSurfaces().catch(() => {})
}

// ---- wiring ----------------------------------------------------------------------------------

$('connection').addEventListener('submit', (e) => { e.preventDefault(); connect() })
$('disconnect').addEventListener('click', disconnect)
$('send').addEventListener('click', send)
$('message').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
    e.preventDefault()
    send()
  }
})
$('message').addEventListener('input', () => {
  if (current) {
    const text = $('message').value
    const example = exampleText(current.message)
    setDraft(current.channel.address, current.key, text === example ? undefined : text)
    $('reset').disabled = text === example
  }
  updateComposer()
})
$('token').addEventListener('input', updateComposer)
$('reset').addEventListener('click', () => {
  if (!current) return
  setDraft(current.channel.address, current.key, undefined)
  pick(current.key)
})
$('format').addEventListener('click', () => {
  const parsed = parseJson($('message').value)
  if (!parsed.ok) return updateComposer()
  $('message').value = JSON.stringify(parsed.value, null, 2)
  $('message').dispatchEvent(new Event('input'))
})
$('filter').addEventListener('input', refilter)
$('errors-only').addEventListener('change', refilter)
$('clear').addEventListener('click', () => {
  $('log').replaceChildren()
  $('empty-log').hidden = false
  updateCount()
})
$('menu').addEventListener('click', () => {
  const open = document.body.dataset.menu !== 'open'
  document.body.dataset.menu = open ? 'open' : 'closed'
  $('menu').setAttribute('aria-expanded', String(open))
})
for (const tab of ['console', 'reference']) $(`tab-${tab}`).addEventListener('click', () => showTab(tab))
document.querySelector('[role="tablist"]').addEventListener('keydown', (e) => {
  if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return
  const next = $('tab-console').getAttribute('aria-selected') === 'true' ? 'reference' : 'console'
  showTab(next)
  $(`tab-${next}`).focus()
})

$('url').value = `${wsBase}/ws/echo`
setState('closed')
loadDocument().catch((err) => {
  $('loading').textContent = `Could not load /asyncapi.json: ${err.message}`
  log('sys', `could not load /asyncapi.json: ${err}`, { bad: true })
})
