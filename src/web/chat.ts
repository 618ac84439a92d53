// The chat page at `/` (SPEC sections 7 and 9), built on the FastChat client SDK (src/client) and
// bundled by `npm run build:web`. With history the page is an inbox: every chat of the user,
// offline partners included, loaded page by page from the server's log. Every piece of user text
// reaches the DOM through textContent, never as HTML: the server strips tags too, but the page
// must not depend on that.
import {
  FastChatClient, FastChatError, isUuidV4, uuidv4,
  type ChatSummary, type ConnectionState, type HistoryPage, type IncomingMessage, type PresenceEntry, type StatusChange, type StoredMsg
} from '../client/index.ts'

const STORE = { userId: 'switchboard.user_id', name: 'switchboard.display_name', claim: 'switchboard.claim' }
/** A typing indicator whose "stopped" was lost still goes away. */
const TYPING_EXPIRES_MS = 30_000
/** Stop saying "typing" after this much quiet in the composer. */
const TYPING_IDLE_MS = 4_000
/** A peer offline this long gets a "left" notice (shorter blips, e.g. a restart, stay quiet). */
const LEFT_NOTICE_DELAY_MS = 3_000
/** Messages per HISTORY page: the newest when a chat opens, then older ones on scrolling up. */
const PAGE_SIZE = 50
/** Scrolled this close to the top, the next older page loads. */
const LOAD_OLDER_PX = 60

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

// ------------------------------------------------------------------ sign-in token (AUTH_REQUIRED)

const TOKEN_KEY = 'switchboard.token'

/**
 * The token is kept in sessionStorage: this tab, until it closes. Not localStorage, which every
 * tab and later visit of this origin would read.
 */
const tabStorage = {
  get(): string | null {
    try {
      return sessionStorage.getItem(TOKEN_KEY)
    } catch {
      return null
    }
  },
  set(value: string | null): void {
    try {
      if (value === null) sessionStorage.removeItem(TOKEN_KEY)
      else sessionStorage.setItem(TOKEN_KEY, value)
    } catch {
      // this visit only
    }
  }
}

interface TokenClaims {
  sub?: unknown
  name?: unknown
  exp?: unknown
}

/** A JWT's claims, read (not verified: the server does that) to learn whose token it is. */
function tokenClaims(jwt: string): TokenClaims | undefined {
  const parts = jwt.split('.')
  if (parts.length !== 3 || !parts[1]) return undefined
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/')
    const bytes = Uint8Array.from(atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, '=')), (c) => c.charCodeAt(0))
    const claims: unknown = JSON.parse(new TextDecoder().decode(bytes))
    return claims !== null && typeof claims === 'object' && !Array.isArray(claims) ? claims as TokenClaims : undefined
  } catch {
    return undefined
  }
}

/**
 * A `?token=` in the address (a link someone was sent): taken, then removed from the address
 * bar, so it does not stay in the history, a bookmark or a screenshot.
 */
function tokenFromAddress(): string | undefined {
  const params = new URLSearchParams(location.search)
  const value = params.get('token')
  if (value === null) return undefined
  // The other parameters stay exactly as they were written (?debug, not ?debug=).
  const query = location.search.slice(1).split('&').filter((pair) => pair !== '' && !/^token(=|$)/.test(pair)).join('&')
  history.replaceState(history.state, '', `${location.pathname}${query ? `?${query}` : ''}${location.hash}`)
  return value.trim() || undefined
}

/** The token HELLO carries, when this server wants one (or the person gave one). */
let token: string | undefined

const tokenExpired = (): boolean => {
  const exp = token === undefined ? undefined : tokenClaims(token)?.exp
  return typeof exp === 'number' && exp * 1000 <= Date.now()
}

/** Sign in with `candidate`: the chat's user id becomes its `sub`. Answers why it cannot be used, if so. */
function useToken(candidate: string): string | undefined {
  const claims = tokenClaims(candidate)
  if (!claims) return 'This is not a token: a token (JWT) is three parts separated by dots.'
  if (typeof claims.sub !== 'string' || !isUuidV4(claims.sub)) {
    return `This token is for “${typeof claims.sub === 'string' ? claims.sub : 'nobody'}”, but chat user ids are UUIDs: ask for a token whose sub is a UUID.`
  }
  if (typeof claims.exp === 'number' && claims.exp * 1000 <= Date.now()) {
    return `This token expired on ${new Date(claims.exp * 1000).toLocaleString()}: get a new one.`
  }
  token = candidate
  me.user_id = claims.sub
  tabStorage.set(candidate)
  return undefined
}

function forgetToken(): void {
  token = undefined
  tabStorage.set(null)
  me.user_id = myUserId()
}

const startToken = tokenFromAddress() ?? tabStorage.get() ?? undefined
/** Why the token this page was opened with cannot be used, shown with the join form. */
const startTokenProblem = startToken === undefined ? undefined : useToken(startToken)

/**
 * The claim the server issued this user_id (SPEC 9): without it the server refuses this user's
 * history. Read on every (re)connect, so a claim another tab just stored is used.
 */
function storedClaim(userId: string): string | undefined {
  try {
    const saved = JSON.parse(storage.get(STORE.claim) ?? 'null') as { user_id?: unknown; claim?: unknown } | null
    return saved?.user_id === userId && typeof saved.claim === 'string' ? saved.claim : undefined
  } catch {
    return undefined
  }
}

// ------------------------------------------------------------------ state

interface Conversation {
  peer: string
  name: string
  /** The conversation's log entries, swapped into #messages when it is shown; stored messages by seq. */
  items: HTMLLIElement[]
  /** Messages by message_id: own ones get their marks, incoming ones are shown once. */
  byId: Map<string, HTMLLIElement>
  unread: number
  /** History: the chat's id and the epoch of its log (the seqs shown belong to it). */
  chatId?: string
  epoch?: string
  /** Incoming messages up to this seq are counted in `unread` already (CHATS said so). */
  countedSeq: number
  /** Incoming messages up to this seq were confirmed (MSG_ACK) by this page. */
  confirmedSeq: number
  /** The newest page was loaded since the last (re)connect. */
  loaded: boolean
  /** Older messages than the oldest shown are in the log. */
  hasMore: boolean
  loading: boolean
  /** Order in the inbox: higher is more recent (CHATS order, then new messages). */
  recency: number
  typing: boolean
  typingTimer?: ReturnType<typeof setTimeout>
  leftTimer?: ReturnType<typeof setTimeout>
  saidLeft: boolean
}

const conversations = new Map<string, Conversation>()
let active: Conversation | undefined
/** chat_id → peer, for what names a chat only (resets, pages). */
const peerOfChat = new Map<string, string>()
let recencyClock = 0
let online = new Map<string, PresenceEntry>()
let joined = false
/** Composer: whether a typing:true went out for the active chat, and the timer that ends it. */
let typingSent: string | undefined
let typingIdle: ReturnType<typeof setTimeout> | undefined

const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`
// Receipts are sent by the page, for what it shows in the open chat: `received` means seen.
const client = new FastChatClient({ url: wsUrl, WebSocket, debug, history: true, autoReceipt: false, claim: () => storedClaim(me.user_id), token: () => token })
client.on('claim', ({ user_id, claim }) => storage.set(STORE.claim, JSON.stringify({ user_id, claim })))

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
  // The server ends a socket whose token expires, and takes no HELLO with it again.
  const expired = state === 'closed' && joined && tokenExpired()
  banner.dataset.expired = String(expired)
  $('banner-text').textContent = expired ? 'Your sign-in token expired.' : state === 'open' && previous === 'reconnecting' ? 'Reconnected' : BANNER[state]
  $('banner-retry').textContent = expired ? 'Sign in again' : state === 'closed' ? 'Reconnect' : 'Retry now'
  $('banner-retry').hidden = state !== 'reconnecting' && state !== 'closed'
  banner.hidden = false
  // Good news is announced, then gets out of the way.
  if (state === 'open') bannerTimer = setTimeout(() => (banner.hidden = true), previous === 'reconnecting' ? 2000 : 0)
}

client.on('state', ({ state, previous }) => {
  showState(state, previous)
  // What a chat shows may be behind after a drop (marks, messages of other tabs): reload on view.
  if (state === 'reconnecting') for (const conv of conversations.values()) conv.loaded = false
})
$('banner-retry').addEventListener('click', () => {
  if ($('banner').dataset.expired === 'true') return signOut()
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
  $('token-error').hidden = true
  const length = codePoints(name)
  if (length < 3 || length > 50) {
    showJoinError(`Use 3–50 characters (you typed ${length}).`)
    return
  }
  if (!$('token-field').hidden) {
    const pasted = $<HTMLTextAreaElement>('token').value.trim()
    if (pasted === '') return showTokenError('Paste your sign-in token: this server lets nobody in without one.')
    const problem = pasted === token ? undefined : useToken(pasted)
    if (problem) return showTokenError(problem)
  }
  button.disabled = true
  button.textContent = 'Joining…'
  try {
    await helloWithClaim(name)
    me.display_name = name
    storage.set(STORE.name, name)
    joined = true
    enterChat()
  } catch (err) {
    if (isTokenRefusal(err)) askForToken(describeTokenRefusal(err))
    else showJoinError(describeJoinError(err))
  } finally {
    button.disabled = false
    button.textContent = 'Join'
  }
}

const isClaimRefusal = (err: unknown): boolean => err instanceof FastChatError && err.code === 'UNAUTHORIZED' && /claim/.test(err.message)
const isTokenRefusal = (err: unknown): err is FastChatError => err instanceof FastChatError && err.code === 'UNAUTHORIZED' && !isClaimRefusal(err)

function describeTokenRefusal(err: FastChatError): string {
  if (err.message === 'a valid token is required') return 'This server lets people in with a sign-in token: paste yours below.'
  if (err.message === 'invalid or expired token') return 'The server refused this token: it has expired, or it was signed with another key. Paste a new one.'
  return `The server refused this token: ${err.message}.`
}

/** Show the token field with `text`: the join form asks for a token instead of failing for good. */
function askForToken(text: string): void {
  forgetToken()
  $('token-field').hidden = false
  $<HTMLTextAreaElement>('token').value = ''
  showTokenError(text)
}

function showTokenError(text: string): void {
  const error = $('token-error')
  error.textContent = text
  error.hidden = false
  $('token').setAttribute('aria-invalid', 'true')
  $('token').focus()
}

/** Forget the token and start over at the join form. */
function signOut(): void {
  forgetToken()
  client.close()
  location.reload()
}

/**
 * HELLO with the stored claim. Refused for want of the right claim: another tab of this user
 * may be getting it right now (two first visits at once), so look again after a moment; if none
 * came, this id's history is not ours (its claim was lost here): carry on as a new user.
 */
async function helloWithClaim(name: string): Promise<void> {
  // With a token the user id is its sub, and the token (not a claim) opens its history.
  if (token !== undefined) return client.hello({ user_id: me.user_id, display_name: name }).then(() => undefined)
  const sent = storedClaim(me.user_id)
  try {
    await client.hello({ user_id: me.user_id, display_name: name })
    return
  } catch (err) {
    if (!isClaimRefusal(err)) throw err
  }
  await new Promise((resolve) => setTimeout(resolve, 500))
  const now = storedClaim(me.user_id)
  if (now !== undefined && now !== sent) {
    try {
      await client.hello({ user_id: me.user_id, display_name: name })
      return
    } catch (err) {
      if (!isClaimRefusal(err)) throw err
    }
  }
  const previous = me.user_id
  me.user_id = uuidv4()
  try {
    await client.hello({ user_id: me.user_id, display_name: name })
    storage.set(STORE.userId, me.user_id)
  } catch (err) {
    me.user_id = previous
    throw err
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
  $('forget-token').hidden = token === undefined
  renderPeople()
  const first = document.querySelector<HTMLButtonElement>('#people-list button')
  ;(first ?? $('people-title')).focus()
}

$('join-form').addEventListener('submit', (e) => {
  e.preventDefault()
  void join($<HTMLInputElement>('name').value.trim())
})
$('name').addEventListener('input', () => $('name').removeAttribute('aria-invalid'))
$('token').addEventListener('input', () => $('token').removeAttribute('aria-invalid'))
$('forget-token').addEventListener('click', signOut)
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

/**
 * Online people first, then the other chats (offline partners); within each, the most recent
 * conversation first, then alphabetical.
 */
function renderPeople(): void {
  if (!joined) return
  const ids = new Set([...online.keys(), ...conversations.keys()])
  ids.delete(me.user_id)
  const people = [...ids].map((id) => ({ id, name: nameOf(id), isOnline: online.has(id), recency: conversations.get(id)?.recency ?? 0 }))
  people.sort((a, b) => Number(b.isOnline) - Number(a.isOnline) || b.recency - a.recency || a.name.localeCompare(b.name))
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
    conv = {
      peer, name: name ?? nameOf(peer), items: [], byId: new Map(), unread: 0, typing: false, saidLeft: false,
      countedSeq: 0, confirmedSeq: 0, loaded: false, hasMore: false, loading: false, recency: 0
    }
    conversations.set(peer, conv)
  } else if (name) {
    conv.name = name
  }
  return conv
}

/** The conversation of a chat_id, once something said whose chat it is. */
function conversationOfChat(chatId: string): Conversation | undefined {
  const peer = peerOfChat.get(chatId)
  return peer === undefined ? undefined : conversations.get(peer)
}

function bindChat(conv: Conversation, chatId: string): void {
  conv.chatId = chatId
  peerOfChat.set(chatId, conv.peer)
}

function touch(conv: Conversation): void {
  conv.recency = ++recencyClock
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
  confirmShown(conv)
  if (conv.chatId && !conv.loaded) void loadNewest(conv)
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

const seqOf = (li: HTMLLIElement): number | undefined => (li.dataset.seq === undefined ? undefined : Number(li.dataset.seq))

/**
 * Put a message where its seq belongs: before the first shown message with a higher seq, else
 * at the end. Messages without a seq (sending, notices) stay where they were added.
 */
function place(conv: Conversation, li: HTMLLIElement): void {
  const seq = seqOf(li)
  const at = conv.items.indexOf(li)
  if (at >= 0) conv.items.splice(at, 1)
  const before = seq === undefined ? -1 : conv.items.findIndex((other) => (seqOf(other) ?? -1) > seq)
  if (before < 0) return append(conv, li)
  conv.items.splice(before, 0, li)
  if (conv !== active) return
  const log = $('messages')
  const stick = nearEnd()
  // Inserting above what the reader looks at must not move it.
  const fromBottom = log.scrollHeight - log.scrollTop
  log.insertBefore(li, conv.items[before + 1] ?? null)
  if (stick) scrollToEnd(true)
  else log.scrollTop = log.scrollHeight - fromBottom
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

function messageItem(mine: boolean, messageId: string, content: string, at: Date, seq?: number): HTMLLIElement {
  const li = document.createElement('li')
  li.className = mine ? 'msg mine' : 'msg theirs'
  li.dataset.id = messageId
  if (seq !== undefined) li.dataset.seq = String(seq)
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

const MARKS: Record<StatusChange['status'], string> = { pending: '🕓 sending', stored: '✓ sent', delivered: '✓✓ delivered', received: '✓✓ received', failed: '⚠ not sent' }
const RANK: Record<StatusChange['status'], number> = { pending: 0, failed: 0, stored: 1, delivered: 2, received: 3 }

function mark(li: HTMLLIElement, status: StatusChange['status']): void {
  const current = li.dataset.status as StatusChange['status'] | undefined
  if (current === status) return
  // Marks only move forward: a late `delivered` must not undo `received`.
  if (current && status !== 'failed' && status !== 'pending' && RANK[status] <= RANK[current]) return
  // Nor does a failure undo one: a message the server stored was sent, whatever a resend met.
  if (current && status === 'failed' && RANK[current] >= RANK.stored) return
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

/**
 * Receipts are watermarks (SPEC 9): `delivered` or `received` for seq n holds for every earlier
 * own message of the chat, including those loaded from history.
 */
function markUpTo(conv: Conversation, seq: number, status: 'delivered' | 'received'): void {
  for (const li of conv.items) {
    const s = seqOf(li)
    if (s !== undefined && s <= seq && li.classList.contains('mine')) mark(li, status)
  }
}

client.on('status', (s) => {
  const conv = conversations.get(s.to) ?? [...conversations.values()].find((c) => c.byId.has(s.message_id))
  if (conv && s.chat_id !== undefined && conv.chatId !== s.chat_id) bindChat(conv, s.chat_id)
  if (conv && s.seq !== undefined && (s.status === 'delivered' || s.status === 'received')) markUpTo(conv, s.seq, s.status)
  const li = conv?.byId.get(s.message_id)
  if (!conv || !li || !li.classList.contains('mine')) return
  // The server's copy is what the recipient sees (markup stripped): the bubble shows that.
  if (s.content !== undefined) li.querySelector('.text')!.textContent = s.content
  if (s.seq !== undefined && seqOf(li) !== s.seq) {
    li.dataset.seq = String(s.seq)
    place(conv, li)
  }
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

/** A stored message (a HISTORY page, or a message the catch-up found) shown once, in its place. */
function showStored(conv: Conversation, m: Pick<StoredMsg, 'from' | 'content' | 'message_id' | 'timestamp' | 'seq'> & { status?: StoredMsg['status'] }): HTMLLIElement | undefined {
  const mine = m.from === me.user_id
  let li = conv.byId.get(m.message_id)
  if (li) {
    if (mine && m.status) mark(li, m.status)
    if (mine) li.querySelector('.text')!.textContent = m.content
    if (li.dataset.seq === undefined) {
      li.dataset.seq = String(m.seq)
      place(conv, li)
    }
    return undefined
  }
  li = messageItem(mine, m.message_id, m.content, new Date(m.timestamp), m.seq)
  // Another tab's message, live: at least stored; its later acks reach every tab of mine.
  if (mine) mark(li, m.status ?? 'stored')
  else if (m.status === 'received') conv.confirmedSeq = Math.max(conv.confirmedSeq, m.seq)
  conv.byId.set(m.message_id, li)
  place(conv, li)
  return li
}

/** A message without a place in a log (a server without history): appended as it comes. */
function showLive(conv: Conversation, m: IncomingMessage): HTMLLIElement {
  const mine = m.from === me.user_id
  const li = messageItem(mine, m.message_id, m.content, new Date(m.timestamp))
  if (mine) mark(li, 'delivered') // from another tab of mine
  conv.byId.set(m.message_id, li)
  append(conv, li)
  return li
}

client.on('message', (m: IncomingMessage) => {
  const mine = m.from === me.user_id
  const conv = conversation(mine ? m.to : m.from)
  if (m.chat_id !== undefined) bindChat(conv, m.chat_id)
  touch(conv)
  if (!mine) setTyping(conv, false)
  if (conv.byId.has(m.message_id) && m.seq === undefined) return // sent from this tab
  const fresh = m.seq === undefined ? showLive(conv, m) : showStored(conv, { ...m, seq: m.seq })
  if (fresh && !mine && m.status !== 'received') {
    // Counted unless CHATS counted it already (the backlog handed over after HELLO).
    if (conv === active && !document.hidden) confirmShown(conv)
    else if (m.seq === undefined || m.seq > conv.countedSeq) conv.unread++
    if (m.seq !== undefined) conv.countedSeq = Math.max(conv.countedSeq, m.seq)
  }
  renderPeople()
})

client.on('CHAT_OPENED', (c) => {
  const conv = conversation(c.target_user_id, c.target_display_name)
  if (c.last_seq !== undefined) {
    bindChat(conv, c.chat_id)
    // A chat with no log yet has nothing to load.
    if (c.last_seq === 0 && conv.items.every((li) => seqOf(li) === undefined)) conv.loaded = true
    else if (conv === active && !conv.loaded) void loadNewest(conv)
  }
  renderPeople()
})

/** CHATS (after every HELLO): the inbox, most recent first, with what is unread in each. */
client.on('chats', (chats: ChatSummary[]) => {
  for (const [i, c] of chats.entries()) {
    const conv = conversation(c.target_user_id, online.get(c.target_user_id)?.display_name ?? c.target_display_name)
    bindChat(conv, c.chat_id)
    if (conv.epoch !== undefined && conv.epoch !== c.epoch) resetConversation(conv, c.epoch)
    conv.epoch = c.epoch
    conv.recency = Math.max(conv.recency, chats.length - i)
    conv.countedSeq = c.last_seq
    conv.unread = conv === active && !document.hidden ? 0 : c.unread
  }
  recencyClock = Math.max(recencyClock, chats.length)
  if (active?.chatId && !active.loaded) void loadNewest(active)
  if (active) confirmShown(active)
  renderPeople()
})

/** A chat's log started again (or is gone): its seqs mean nothing now. */
client.on('chat_reset', ({ chat_id, epoch }) => {
  const conv = conversationOfChat(chat_id)
  if (!conv) return
  resetConversation(conv, epoch)
  if (conv === active && epoch !== undefined) void loadNewest(conv)
})

/**
 * Forget the old log's messages: with a new log (`epoch`), clear them and load again; with none
 * left, keep what is shown as plain history (no seqs: new messages follow it).
 */
function resetConversation(conv: Conversation, epoch: string | undefined): void {
  conv.epoch = epoch
  conv.countedSeq = 0
  conv.confirmedSeq = 0
  conv.hasMore = false
  conv.loaded = epoch === undefined
  for (const li of [...conv.items]) {
    if (seqOf(li) === undefined) continue
    if (epoch === undefined) {
      // Kept as it was seen; confirming it again would mean nothing.
      delete li.dataset.seq
      li.dataset.confirmed = 'true'
      continue
    }
    conv.items.splice(conv.items.indexOf(li), 1)
    conv.byId.delete(li.dataset.id!)
    li.remove()
  }
}

/** The newest page of the chat's log: shown when a chat opens, and again after a reconnect. */
async function loadNewest(conv: Conversation): Promise<void> {
  await loadPage(conv, {})
  if (conv === active) scrollToEnd(true)
}

/** The page before the oldest message shown: when the reader scrolls to the top. */
async function loadOlder(conv: Conversation): Promise<void> {
  const oldest = Math.min(...conv.items.map((li) => seqOf(li) ?? Infinity))
  if (Number.isFinite(oldest) && oldest > 1) await loadPage(conv, { before_seq: oldest })
}

async function loadPage(conv: Conversation, query: { before_seq?: number }): Promise<void> {
  if (!conv.chatId || conv.loading) return
  conv.loading = true
  const older = query.before_seq !== undefined
  try {
    const page = await client.history(conv.chatId, { ...query, limit: PAGE_SIZE })
    showPage(conv, page, older)
  } catch (err) {
    if (!(err instanceof FastChatError)) throw err
    // Not kept (expired) or not started: nothing to show. Dropped connections load again on reconnect.
    if (err.code === 'CHAT_NOT_OPENED') conv.loaded = true
    else if (err.code === 'RATE_LIMITED') notice(conv, 'Too many requests: older messages will load in a moment.', true)
  } finally {
    conv.loading = false
  }
}

function showPage(conv: Conversation, page: HistoryPage, older: boolean): void {
  if (conv.epoch !== undefined && conv.epoch !== page.epoch) {
    if (older) return // a page of a log that has since started again
    resetConversation(conv, page.epoch)
  }
  conv.epoch = page.epoch
  for (const m of page.messages) showStored(conv, m)
  const oldestShown = Math.min(...conv.items.map((li) => seqOf(li) ?? Infinity))
  // Older messages remain when this page said so, or when the newest page did not reach back to what is shown.
  conv.hasMore = older || !Number.isFinite(oldestShown) ? page.has_more : oldestShown > page.first_seq
  if (!older) conv.loaded = true
  confirmShown(conv)
  renderPeople()
}

/**
 * The open chat's incoming messages are seen: one receipt for the newest covers every earlier
 * one (a watermark), clears its unread count and shows `received` to the sender.
 */
function confirmShown(conv: Conversation): void {
  if (conv !== active || document.hidden) return
  conv.unread = 0
  let newest: HTMLLIElement | undefined
  for (const li of conv.items) {
    if (!li.classList.contains('theirs') || li.dataset.confirmed) continue
    const seq = seqOf(li)
    if (seq !== undefined && seq <= conv.confirmedSeq) continue
    if (seq === undefined || !conv.chatId) {
      // Not a stored message: confirmed one by one, as without history.
      li.dataset.confirmed = 'true'
      client.confirm(li.dataset.id!)
      continue
    }
    if (!newest || seq > seqOf(newest)!) newest = li
  }
  if (newest && conv.chatId) {
    conv.confirmedSeq = seqOf(newest)!
    client.confirm(newest.dataset.id!, conv.chatId)
  }
}

$('messages').addEventListener('scroll', () => {
  const conv = active
  if (conv?.hasMore && !conv.loading && $('messages').scrollTop < LOAD_OLDER_PX) void loadOlder(conv)
}, { passive: true })

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && active) {
    confirmShown(active)
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
const tokenName = startToken === undefined ? undefined : tokenClaims(startToken)?.name
const storedName = storage.get(STORE.name) ?? (typeof tokenName === 'string' ? tokenName : null)
if (startTokenProblem !== undefined) {
  // A link with a token that cannot work: say why, next to the field to paste a good one.
  if (storedName) $<HTMLInputElement>('name').value = storedName
  askForToken(startTokenProblem)
} else if (storedName) {
  $<HTMLInputElement>('name').value = storedName
  void join(storedName)
} else {
  $('name').focus()
}
