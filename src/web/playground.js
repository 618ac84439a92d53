// The playground: reads /asyncapi.json, lists each surface and its client messages with their
// examples, connects, sends, and logs every frame with a timestamp. Text is always rendered as
// text (textContent), never as HTML.
const $ = (id) => document.getElementById(id)
const nav = document.querySelector('nav')
const wsBase = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`
let ws = null
let selected = null

function log(kind, text) {
  const li = document.createElement('li')
  li.className = kind
  const time = document.createElement('time')
  time.textContent = new Date().toISOString().slice(11, 23)
  li.append(time, document.createTextNode(text))
  $('log').append(li)
  li.scrollIntoView({ block: 'nearest' })
}

function setState(state) {
  $('state').textContent = state
  $('state').dataset.state = state
  $('send').disabled = state !== 'open'
  $('disconnect').disabled = state === 'closed'
  $('connect').disabled = state !== 'closed'
}

function pick(button, address, message) {
  if (selected) selected.setAttribute('aria-pressed', 'false')
  selected = button
  button.setAttribute('aria-pressed', 'true')
  const url = `${wsBase}${address}`
  if ($('url').value !== url && ws) ws.close(1000)
  $('url').value = url
  const example = message.examples?.[0]?.payload
  $('message').value = message.contentType === 'text/plain' ? String(example ?? '') : JSON.stringify(example ?? {}, null, 2)
}

async function loadDocument() {
  const doc = await (await fetch('/asyncapi.json')).json()
  $('loading').remove()
  // Dialects sharing an address (the diagnostic echo and typed actions on /ws/echo) are one
  // channel each in the document, listed under one heading.
  const headings = new Map()
  for (const [id, channel] of Object.entries(doc.channels)) {
    const name = channel.summary ?? channel.title ?? id
    const h = headings.get(channel.address)
    if (h) h.textContent += `; ${name}`
    else {
      const h2 = document.createElement('h2')
      h2.textContent = `${channel.address} — ${name}`
      nav.append(h2)
      headings.set(channel.address, h2)
    }
    const op = doc.operations[`${id}_receive`]
    for (const ref of op?.messages ?? []) {
      const message = doc.components.messages[ref.$ref.split('/').pop()]
      const b = document.createElement('button')
      b.textContent = message.name
      b.title = message.summary ?? ''
      b.dataset.address = channel.address
      b.addEventListener('click', () => pick(b, channel.address, message))
      nav.append(b)
    }
  }
  if (!$('url').value) $('url').value = `${wsBase}/ws/echo`
}

$('connect').addEventListener('click', () => {
  const url = new URL($('url').value)
  const token = $('token').value.trim()
  if (token) url.searchParams.set('token', token)
  setState('connecting')
  log('sys', `connecting to ${url.origin}${url.pathname}`)
  ws = new WebSocket(url)
  ws.addEventListener('open', () => { setState('open'); log('sys', 'open') })
  ws.addEventListener('message', (e) => log('in', typeof e.data === 'string' ? e.data : '[binary frame]'))
  ws.addEventListener('close', (e) => { setState('closed'); log('sys', `closed ${e.code}${e.reason ? ` (${e.reason})` : ''}`); ws = null })
  ws.addEventListener('error', () => log('sys', 'error'))
})
$('disconnect').addEventListener('click', () => ws?.close(1000))
$('send').addEventListener('click', () => {
  if (!ws || ws.readyState !== WebSocket.OPEN) return
  const text = $('message').value
  ws.send(text)
  log('out', text)
})
$('message').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) $('send').click()
})
$('clear').addEventListener('click', () => $('log').replaceChildren())

setState('closed')
loadDocument().catch((err) => log('sys', `could not load /asyncapi.json: ${err}`))
