// A plain HTTP request to a WebSocket path (a browser tab on /ws, curl, a proxy that drops the
// Upgrade header) gets 426 Upgrade Required with `Upgrade: websocket` and a one-line hint,
// instead of @fastify/websocket's bare 404 that reads as "wrong URL". Every route declared with
// `{ websocket: true }` is covered (/ws, /ws/echo, /ws/health, /ws/:walker), whoever adds it.
// Registered after @fastify/websocket, whose onRequest hook sets request.ws, and after
// admission, so a draining server still answers 503 first.
import fp from 'fastify-plugin'
import type { onRequestHookHandler } from 'fastify'

/** The ws:// address to show in the hint: the request's own host when it looks like one. */
function wsUrl(host: string | undefined, secure: boolean, path: string): string {
  const h = host && /^[\w.-]+(:\d+)?$|^\[[\da-f:.]+\](:\d+)?$/i.test(host) ? host : 'localhost'
  return `${secure ? 'wss' : 'ws'}://${h}${path}`
}

export default fp(async (app) => {
  // A hook of the WebSocket routes only (no other request pays for it), callback style (no
  // promise per handshake: issue 17, connection establishment).
  const upgradeRequired: onRequestHookHandler = function (request, reply, done) {
    if (request.ws) return done()
    const path = request.url.split('?')[0] ?? request.routeOptions.url ?? '/'
    reply.code(426).header('upgrade', 'websocket').type('text/plain; charset=utf-8')
    reply.send(`${path} is a WebSocket endpoint: open it with a WebSocket client, e.g. npx wscat -c ${wsUrl(request.headers.host, request.protocol === 'https', path)} (the chat page is at /)\n`)
  }
  app.addHook('onRoute', (route) => {
    if (!route.websocket) return
    const own = route.onRequest
    route.onRequest = own === undefined ? [upgradeRequired] : [upgradeRequired, ...(Array.isArray(own) ? own : [own])]
  })
}, { name: 'upgrade-required', dependencies: ['websocket', 'admission'], fastify: '5.x' })
