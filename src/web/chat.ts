// The chat page at `/` (SPEC section 7), built on the FastChat client SDK (src/client) and
// bundled by `npm run build:web`. Every piece of user text reaches the DOM through textContent,
// never as HTML: the server strips tags too, but the page must not depend on that.
import {
  FastChatClient, FastChatError, isUuidV4, uuidv4,
  type ConnectionState, type PresenceEntry, type ServerMsg, type StatusChange
} from '../client/index.ts'

const STORE = { userId: 'switchboard.user_id', name: 'switchboard.display_name' }
/** A typing indicator whose "stopped" was lost still goes away. */
const TYPING_EXPIRES_MS = 30_000
/** Stop saying "typing" after this much quiet in the composer. */
const TYPING_IDLE_MS = 4_000
/** A peer offline this long gets a "left" notice (shorter blips, e.g. a restart, stay quiet). */
const LEFT_NOTICE_DELAY_MS = 3_000

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id)
  if (!el) throw new Error(`chat page: #${id} missing`)
  return el as T
}

const debug = new URLSearchParams(location.search).has('debug')
  ? (event: string, details?: unknown) => console.debug('[fastchat]', event, details ?? '')
  : undefined

// ------------------------------------------------------------------ identity

/** localStorage may be unavailable (disabled, private mode): the page then works for this visit only. */
const storage = {
  get(key: string): string | null {
    try {
      return localStorage.getItem(key)
    } catch {
      return null
    }
  },
  set(key: string, value: string | null): void {
    try {
      if (value === null) localStorage.removeItem(key)
      else localStorage.setItem(key, value)
    } catch {
      // not persisted; fine for this visit
    }
  }
}

function myUserId(): string {
  const stored = storage.get(STORE.userId)
  if (isUuidV4(stored)) return stored
  const id = uuidv4()
  storage.set(STORE.userId, id)
  return id
}

const me = { user_id: myUserId(), display_name: '' }

// ------------------------------------------------------------------ state

interface Conversation {
  peer: string
  name: string
  /** The conversation's log entries, swapped into #messages when it is shown. */
  items: HTMLLIElement[]
  /** Messages by message_id: own ones get their marks, incoming ones are shown once. */
  byId: Map<string, HTMLLIElement>
  unread: number
  typing: boolean
  typingTimer?: ReturnType<typeof setTimeout>
  leftTimer?: ReturnType<typeof setTimeout>
  saidLeft: boolean
}

const conversations = new Map<string, Conversation>()
let active: Conversation | undefined
let online = new Map<string, PresenceEntry>()
let joined = false
/** Composer: whether a typing:true went out for the active chat, and the timer that ends it. */
let typingSent: string | undefined
let typingIdle: ReturnType<typeof setTimeout> | undefined

const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`
const client = new FastChatClient({ url: wsUrl, WebSocket, debug })

// ------------------------------------------------------------------ connection banner

const BANNER: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  open: 'Connected',
  reconnecting: 'Connection lost — reconnecting…',
  closed: 'Disconnected.'
}
let bannerTimer: ReturnType<typeof setTimeout> | undefined

function showState(state: ConnectionState, previous?: ConnectionState): void {
  const banner = $('banner')
  clearTimeout(bannerTimer)
  banner.dataset.state = state
  $('banner-text').textContent = state === 'open' && previous === 'reconnecting' ? 'Reconnected' : BANNER[state]
  $('banner-retry').textContent = state === 'closed' ? 'Reconnect' : 'Retry now'
  $('banner-retry').hidden = state !== 'reconnecting' && state !== 'closed'
  banner.hidden = false
  // Good news is announced, then gets out of the way.
  if (state === 'open') bannerTimer = setTimeout(() => (banner.hidden = true), previous === 'reconnecting' ? 2000 : 0)
}

client.on('state', ({ state, previous }) => showState(state, previous))
$('banner-retry').addEventListener('click', () => {
  if (client.state === 'closed') client.connect()
  else client.reconnectNow()
})
// The browser knows before any timer that the network is back.
window.addEventListener('online', () => client.reconnectNow())

// ------------------------------------------------------------------ joining

function codePoints(text: string): number {
  return [...text].length
}

async function join(name: string): Promise<void> {
  const error = $('name-error')
  const button = $<HTMLButtonElement>('join-button')
  error.hidden = true
  const length = codePoints(name)
  if (length < 3 || length > 50) {
    showJoinError(`Use 3–50 characters (you typed ${length}).`)
    return
  }
  button.disabled = true
  button.textContent = 'Joining…'
  try {
    await client.hello({ user_id: me.user_id, display_name: name })
    me.display_name = name
    storage.set(STORE.name, name)
    joined = true
    enterChat()
  } catch (err) {
    showJoinError(describeJoinError(err))
  } finally {
    button.disabled = false
    button.textContent = 'Join'
  }
}

function describeJoinError(err: unknown): string {
  if (!(err instanceof FastChatError)) return 'Could not join. Try again.'
  const field = (err.details.errors as { path?: string; message?: string }[] | undefined)?.find((e) => e.path === '/data/display_name')
  if (field?.message) return `This name ${field.message}.`
  return err.message
}

function showJoinError(text: string): void {
  const error = $('name-error')
  error.textContent = text
  error.hidden = false
  $<HTMLInputElement>('name').setAttribute('aria-invalid', 'true')
  $<HTMLInputElement>('name').focus()
}

function enterChat(): void {
  document.body.dataset.view = 'people'
  $('join').hidden = true
  $('people').hidden = false
  $('chat').hidden = false
  $('me').hidden = false
  $('me-name').textContent = me.display_name
  renderPeople()
  const first = document.querySelector<HTMLButtonElement>('#people-list button')
  ;(first ?? $('people-title')).focus()
}

$('join-form').addEventListener('submit', (e) => {
  e.preventDefault()
  void join($<HTMLInputElement>('name').value.trim())
})
$('name').addEventListener('input', () => $('name').removeAttribute('aria-invalid'))
$('leave').addEventListener('click', () => {
  // An identity cannot change on a connection (SPEC: "already identified"): start over.
  storage.set(STORE.name, null)
  client.close()
  location.reload()
})

// ------------------------------------------------------------------ people

function avatar(name: string, id: string): HTMLElement {
  const el = document.createElement('span')
  el.className = 'avatar'
  el.setAttribute('aria-hidden', 'true')
  el.textContent = [...name.trim()][0]?.toUpperCase() ?? '?'
  let hash = 0
  for (const c of id) hash = (hash * 31 + c.charCodeAt(0)) >>> 0
  el.style.background = `hsl(${hash % 360} 55% 45%)`
  return el
}

function nameOf(userId: string): string {
  return online.get(userId)?.display_name ?? conversations.get(userId)?.name ?? 'Someone'
}

/** Online people first, then conversations with people who left; alphabetical within each. */
function renderPeople(): void {
  if (!joined) return
  const ids = new Set([...online.keys(), ...conversations.keys()])
  ids.delete(me.user_id)
  const people = [...ids].map((id) => ({ id, name: nameOf(id), isOnline: online.has(id) }))
  people.sort((a, b) => Number(b.isOnline) - Number(a.isOnline) || a.name.localeCompare(b.name))
  const list = $('people-list')
  const focused = document.activeElement instanceof HTMLElement ? document.activeElement.dataset.user : undefined
  list.replaceChildren(...people.map((p) => personItem(p.id, p.name, p.isOnline)))
  // Re-rendering must not steal keyboard focus from the person it was on.
  if (focused) list.querySelector<HTMLButtonElement>(`button[data-user="${CSS.escape(focused)}"]`)?.focus()
  $('nobody').hidden = people.length > 0
  $('people-title').textContent = `Online (${people.filter((p) => p.isOnline).length})`
  const unread = [...conversations.values()].reduce((n, c) => n + c.unread, 0)
  document.title = unread ? `(${unread}) Switchboard chat` : 'Switchboard chat'
}

function personItem(id: string, name: string, isOnline: boolean): HTMLLIElement {
  const conv = conversations.get(id)
  const li = document.createElement('li')
  const button = document.createElement('button')
  button.type = 'button'
  button.dataset.user = id
  button.dataset.online = String(isOnline)
  if (active?.peer === id) button.setAttribute('aria-current', 'true')
  const who = document.createElement('span')
  who.className = 'who'
  who.textContent = name
  const sub = document.createElement('span')
  sub.className = 'sub'
  sub.dataset.typing = String(conv?.typing ?? false)
  sub.textContent = conv?.typing ? 'typing…' : isOnline ? 'online' : 'offline'
  button.append(avatar(name, id), who, sub)
  if (conv?.unread) {
    const badge = document.createElement('span')
    badge.className = 'badge'
    badge.textContent = String(conv.unread)
    badge.setAttribute('aria-label', `${conv.unread} unread`)
    button.append(badge)
  }
  button.addEventListener('click', () => openConversation(id))
  li.append(button)
  return li
}

client.on('presence', ({ users, changes }) => {
  online = users
  // The server's copy of my name is the cleaned one (markup stripped, trimmed): show and keep that.
  const mine = users.get(me.user_id)?.display_name
  if (joined && mine !== undefined && mine !== me.display_name) {
    me.display_name = mine
    storage.set(STORE.name, mine)
    $('me-name').textContent = mine
  }
  for (const c of changes) {
    const conv = conversations.get(c.user_id)
    if (!conv) continue
    if (c.online) {
      conv.name = c.display_name
      clearTimeout(conv.leftTimer)
      conv.leftTimer = undefined
      if (conv.saidLeft) notice(conv, `${conv.name} is back online`)
      conv.saidLeft = false
    } else {
      setTyping(conv, false)
      conv.leftTimer ??= setTimeout(() => {
        conv.leftTimer = undefined
        if (online.has(conv.peer)) return
        conv.saidLeft = true
        notice(conv, `${conv.name} left the chat`, true)
      }, LEFT_NOTICE_DELAY_MS)
    }
  }
  renderPeople()
  renderHeader()
})

// ------------------------------------------------------------------ conversations

function conversation(peer: string, name?: string): Conversation {
  let conv = conversations.get(peer)
  if (!conv) {
    conv = { peer, name: name ?? nameOf(peer), items: [], byId: new Map(), unread: 0, typing: false, saidLeft: false }
    conversations.set(peer, conv)
  } else if (name) {
    conv.name = name
  }
  return conv
}

function openConversation(peer: string): void {
  stopTyping()
  const conv = conversation(peer)
  active = conv
  conv.unread = 0
  document.body.dataset.view = 'chat'
  $('placeholder').hidden = true
  for (const id of ['messages', 'typing', 'composer']) $(id).hidden = false
  document.querySelector<HTMLElement>('.chat-head')!.hidden = false
  $('messages').replaceChildren(...conv.items)
  scrollToEnd(true)
  renderHeader()
  renderPeople()
  $('text').focus()
  client.openChat(peer, conv.name).catch((err: unknown) => {
    if (err instanceof FastChatError && err.code === 'USER_NOT_FOUND') notice(conv, `${conv.name} is offline: messages cannot be delivered now`, true)
    else if (err instanceof FastChatError && err.code !== 'CLOSED') notice(conv, `Could not open the chat: ${err.message}`, true)
  })
}

function closeConversation(): void {
  stopTyping()
  const peer = active?.peer
  active = undefined
  document.body.dataset.view = 'people'
  renderPeople()
  if (peer) document.querySelector<HTMLButtonElement>(`#people-list button[data-user="${CSS.escape(peer)}"]`)?.focus()
}

function renderHeader(): void {
  if (!active) return
  $('chat-title').textContent = active.name
  const status = $('peer-status')
  const isOnline = online.has(active.peer)
  status.dataset.online = String(isOnline)
  status.textContent = isOnline ? 'online' : 'offline'
  const typing = $('typing')
  typing.textContent = active.typing ? `${active.name} is typing…` : ''
}

function append(conv: Conversation, li: HTMLLIElement): void {
  conv.items.push(li)
  if (conv !== active) return
  const stick = nearEnd()
  $('messages').append(li)
  scrollToEnd(stick)
}

function nearEnd(): boolean {
  const log = $('messages')
  return log.scrollHeight - log.scrollTop - log.clientHeight < 80
}

function scrollToEnd(really: boolean): void {
  if (!really) return
  const log = $('messages')
  log.scrollTop = log.scrollHeight
}

function notice(conv: Conversation, text: string, bad = false): void {
  const li = document.createElement('li')
  li.className = bad ? 'notice bad' : 'notice'
  li.textContent = text
  append(conv, li)
}

const TIME = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' })

function messageItem(mine: boolean, messageId: string, content: string, at: Date): HTMLLIElement {
  const li = document.createElement('li')
  li.className = mine ? 'msg mine' : 'msg theirs'
  li.dataset.id = messageId
  const text = document.createElement('p')
  text.className = 'text'
  text.textContent = content
  const meta = document.createElement('p')
  meta.className = 'meta'
  const time = document.createElement('time')
  time.dateTime = at.toISOString()
  time.textContent = TIME.format(at)
  meta.append(time)
  if (mine) {
    const mark = document.createElement('span')
    mark.className = 'mark'
    meta.append(mark)
  }
  li.append(text, meta)
  return li
}

const MARKS: Record<StatusChange['status'], string> = { pending: '🕓 sending', stored: '✓ sent', delivered: '✓ delivered', received: '✓✓ received', failed: '⚠ not sent' }
const RANK: Record<StatusChange['status'], number> = { pending: 0, failed: 0, stored: 1, delivered: 2, received: 3 }

function mark(li: HTMLLIElement, status: StatusChange['status']): void {
  const current = li.dataset.status as StatusChange['status'] | undefined
  if (current === status) return
  // Marks only move forward: a late `delivered` must not undo `received`.
  if (current && status !== 'failed' && status !== 'pending' && RANK[status] <= RANK[current]) return
  li.dataset.status = status
  li.querySelector('.mark')!.textContent = MARKS[status]
  if (status !== 'failed') li.querySelector('.error')?.remove()
}

function sendMessage(conv: Conversation, content: string, messageId = uuidv4()): void {
  let li = conv.byId.get(messageId)
  if (!li) {
    li = messageItem(true, messageId, content, new Date())
    conv.byId.set(messageId, li)
    append(conv, li)
  }
  mark(li, 'pending')
  // Marks follow the client's `status` events; the promise only needs its rejection handled.
  client.send(conv.peer, content, { message_id: messageId }).catch(() => {})
}

function describeSendError(conv: Conversation, err: FastChatError | undefined): string {
  switch (err?.code) {
    case 'RATE_LIMITED': {
      const wait = Number(err.details.retry_after_ms)
      return `Not sent: too many messages.${Number.isFinite(wait) ? ` Try again in ${Math.ceil(wait / 1000)} s.` : ''}`
    }
    case 'USER_NOT_FOUND': return `Not sent: ${conv.name} left the chat.`
    case 'VALIDATION': {
      const field = (err.details.errors as { message?: string }[] | undefined)?.[0]?.message
      return field ? `Not sent: the text ${field}.` : `Not sent: ${err.message}.`
    }
    case 'CLOSED': return 'Not sent: disconnected.'
    default: return `Not sent: could not reach ${conv.name}.`
  }
}

client.on('status', (s) => {
  const conv = conversations.get(s.to) ?? [...conversations.values()].find((c) => c.byId.has(s.message_id))
  const li = conv?.byId.get(s.message_id)
  if (!conv || !li || !li.classList.contains('mine')) return
  mark(li, s.status)
  if (s.status !== 'failed') return
  const error = document.createElement('p')
  error.className = 'error'
  error.setAttribute('role', 'alert')
  error.textContent = describeSendError(conv, s.error)
  // Retrying with the same message_id is safe: the server delivers a message id once.
  if (s.error?.code !== 'VALIDATION') {
    const retry = document.createElement('button')
    retry.type = 'button'
    retry.textContent = 'Retry'
    retry.addEventListener('click', () => sendMessage(conv, li.querySelector('.text')!.textContent ?? '', s.message_id))
    error.append(retry)
  }
  li.querySelector('.error')?.remove()
  li.append(error)
})

client.on('message', (m: ServerMsg['data']) => {
  const mine = m.from === me.user_id
  const conv = conversation(mine ? m.to : m.from)
  if (conv.byId.has(m.message_id)) return // sent from this tab
  const li = messageItem(mine, m.message_id, m.content, new Date(m.timestamp))
  if (mine) li.querySelector('.mark')!.textContent = MARKS.delivered // from another tab of mine
  conv.byId.set(m.message_id, li)
  if (!mine) setTyping(conv, false)
  append(conv, li)
  if (!mine && (conv !== active || document.hidden)) conv.unread++
  renderPeople()
})

client.on('CHAT_OPENED', (c) => {
  conversation(c.target_user_id, c.target_display_name)
  renderPeople()
})

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && active) {
    active.unread = 0
    renderPeople()
  }
})

// ------------------------------------------------------------------ typing

function setTyping(conv: Conversation, typing: boolean): void {
  clearTimeout(conv.typingTimer)
  conv.typing = typing
  if (typing) conv.typingTimer = setTimeout(() => setTyping(conv, false), TYPING_EXPIRES_MS)
  renderHeader()
  renderPeople()
}

client.on('TYPING', ({ user_id, is_typing }) => {
  const conv = conversations.get(user_id)
  if (conv) setTyping(conv, is_typing)
})

/**
 * One `true` when typing starts and one `false` after a quiet spell: the server allows 10
 * TYPING a minute. Sending a message needs no `false` (the receiver clears the indicator on it).
 */
function onComposerInput(): void {
  const text = $<HTMLTextAreaElement>('text')
  autoGrow(text)
  if (!active) return
  if (text.value.trim() === '') return stopTyping()
  if (typingSent !== active.peer) {
    stopTyping()
    if (client.typing(true, active.peer)) typingSent = active.peer
  }
  clearTimeout(typingIdle)
  typingIdle = setTimeout(stopTyping, TYPING_IDLE_MS)
}

function stopTyping(quiet = false): void {
  clearTimeout(typingIdle)
  if (typingSent && !quiet) client.typing(false, typingSent)
  typingSent = undefined
}

function autoGrow(text: HTMLTextAreaElement): void {
  text.style.height = 'auto'
  text.style.height = `${text.scrollHeight + 2}px`
}

const composer = $<HTMLFormElement>('composer')
composer.addEventListener('submit', (e) => {
  e.preventDefault()
  const text = $<HTMLTextAreaElement>('text')
  const content = text.value
  if (!active || content.trim() === '') return
  stopTyping(true)
  sendMessage(active, content)
  text.value = ''
  autoGrow(text)
  text.focus()
})
$('text').addEventListener('input', onComposerInput)
$('text').addEventListener('keydown', (e) => {
  // Enter sends, Shift+Enter is a new line; not while an IME is composing a character.
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault()
    composer.requestSubmit()
  }
})
$('text').addEventListener('blur', () => stopTyping())
$('back').addEventListener('click', closeConversation)
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && document.body.dataset.view === 'chat' && matchMedia('(max-width: 640px)').matches) closeConversation()
})

// ------------------------------------------------------------------ start

showState('connecting')
client.connect()
const storedName = storage.get(STORE.name)
if (storedName) {
  $<HTMLInputElement>('name').value = storedName
  void join(storedName)
} else {
  $('name').focus()
}
