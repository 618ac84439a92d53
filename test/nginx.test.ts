// A real nginx (Debian's) running ops/nginx/ws.conf in front of two real instances: upgrades,
// echo, origin refusals, heartbeats, client IPs with TRUST_PROXY, the access log, /metrics kept
// off the proxy, the smoke script through the proxy, and 502 once both instances are gone.
// The 70 s sustained connection is in nginx-long.test.ts.
import t from 'tap'
import http from 'node:http'
import WebSocket from 'ws'
import { startApp, type TestApp } from './helpers/app.ts'
import { startRedis } from './helpers/redis.ts'
import { nginxSkipReason, startNginx, templateWsConf, WS_CONF, type Nginx } from './helpers/nginx.ts'
import { runSmoke } from './helpers/smoke.ts'
import { WsTestClient, ofType } from '../src/testing/ws-test-client.ts'
import { readFileSync } from 'node:fs'
import { ConfigSchema } from '../src/config.ts'

const skip = nginxSkipReason()
if (skip) t.comment(`skipping the nginx suite: ${skip}`)

const conf = readFileSync(WS_CONF, 'utf8')
/** ws.conf without comments, for assertions on directives. */
const directives = conf.split('\n').map((l) => l.replace(/#.*$/, '').trim()).filter(Boolean).join('\n')

t.test('ws.conf: WebSocket proxying essentials', async (t) => {
  t.match(directives, /map \$http_upgrade \$connection_upgrade \{\s*default\s+upgrade;\s*''\s+'';\s*\}/, 'map $http_upgrade → $connection_upgrade')
  t.match(directives, /proxy_http_version 1\.1;/)
  t.match(directives, /proxy_set_header Upgrade \$http_upgrade;/)
  t.match(directives, /proxy_set_header Connection \$connection_upgrade;/)
  t.match(directives, /proxy_set_header Host \$http_host;/, 'Host with its port, for the origin check')
  t.match(directives, /proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;/)
  t.match(directives, /proxy_set_header X-Forwarded-Proto \$scheme;/)
  t.match(directives, /upstream switchboard_api \{[^}]*server api1:8000[^}]*server api2:8000[^}]*\}/, 'upstream with both instances')

  // A location that sets any proxy_set_header loses every inherited one (Host, Upgrade, …).
  const locations = [...directives.matchAll(/location [^{]+\{([^}]*)\}/g)]
  t.ok(locations.length >= 3)
  for (const [, body] of locations) t.notMatch(body!, /proxy_set_header/, 'no proxy_set_header inside a location')

  const ws = /location ~ \^\/ws\(\/\|\$\) \{([^}]*)\}/.exec(directives)?.[1] ?? ''
  t.match(ws, /proxy_buffering off;/, 'buffering off for /ws')
  const props = ConfigSchema.properties
  const worst = 2 * (props.WS_PING_INTERVAL.default as number) + (props.WS_PING_TIMEOUT.default as number)
  for (const d of ['proxy_read_timeout', 'proxy_send_timeout']) {
    const m = new RegExp(`${d} (\\d+)s;`).exec(ws)
    t.ok(m && Number(m[1]) > worst, `${d} ${m?.[1]}s is above 2 x WS_PING_INTERVAL + WS_PING_TIMEOUT (${worst}s)`)
  }
  t.match(directives, /location = \/health \{[^}]*proxy_pass http:\/\/switchboard_health;/, '/health proxied, to an upstream whose 503s mark nothing down')
  t.match(directives, /upstream switchboard_health \{[^}]*server api1:8000 max_fails=0;[^}]*server api2:8000 max_fails=0;[^}]*\}/)

  const format = /log_format switchboard ([^;]*);/.exec(directives)?.[1] ?? ''
  t.match(format, /\$uri/)
  t.notMatch(format, /\$request\b|\$request_uri|\$args|\$query_string|\$arg_|\$http_referer/, 'no variable that carries a query string')
  t.match(directives, /access_log \S+ switchboard;/, 'the access log uses that format')
})

t.test('the test runs ws.conf with only addresses and the log path rewritten', async (t) => {
  const templated = templateWsConf(conf, { upstreams: [1111, 2222], port: 3333, accessLog: '/tmp/x.log' })
  const before = conf.split('\n')
  const after = templated.split('\n')
  t.equal(after.length, before.length)
  const changed = before.filter((l, i) => l !== after[i])
  t.same(changed.map((l) => l.trim()), [
    'server api1:8000 max_fails=3 fail_timeout=10s;',
    'server api2:8000 max_fails=3 fail_timeout=10s;',
    'server api1:8000 max_fails=0;',
    'server api2:8000 max_fails=0;',
    'listen 80;',
    'access_log /var/log/nginx/access.log switchboard;'
  ])
})

t.test('through a real nginx in front of two instances', { skip }, async (t) => {
  // Short heartbeats so they arrive within the test; TRUST_PROXY=1 as docker-compose.yml sets it.
  const env = { WS_PING_INTERVAL: '1', WS_PING_TIMEOUT: '0.5', TRUST_PROXY: '1', LOG_LEVEL: 'info' }
  const a = await startApp(env)
  const b = await startApp(env)
  const apps: TestApp[] = [a, b]
  let instancesUp = true
  t.teardown(async () => {
    if (instancesUp) await Promise.all(apps.map((s) => s.close()))
  })
  const nginx: Nginx = await startNginx([a.port, b.port])
  t.teardown(nginx.stop)
  const clients: WsTestClient[] = []
  const connect = async (path: string, headers?: Record<string, string>) => {
    const c = await WsTestClient.connect(nginx.ws(path), headers ? { headers } : {})
    clients.push(c)
    return c
  }
  t.teardown(() => clients.forEach((c) => c.terminate()))
  const metric = async (name: string, labels: string) => {
    let sum = 0
    for (const s of apps) {
      const text = await (await fetch(`${s.http}/metrics`)).text()
      const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `))
      sum += line ? Number(line.split(' ')[1]) : 0
    }
    return sum
  }

  await t.test('the upgrade answers 101 with Upgrade: websocket', async (t) => {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request(`${nginx.http}/ws/health`, {
        headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' }
      })
      req.on('upgrade', (res, socket) => {
        socket.destroy()
        resolve(res)
      })
      req.on('response', (res) => resolve(res))
      req.on('error', reject)
      req.end()
    })
    t.equal(res.statusCode, 101)
    t.equal(res.headers.upgrade?.toLowerCase(), 'websocket')
    t.equal(res.headers.connection?.toLowerCase(), 'upgrade')
    t.equal(res.headers['sec-websocket-accept'], 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=', 'the instance\'s accept key came through')
  })

  await t.test('/ws/echo round trip, and both instances take connections', async (t) => {
    const conns = await Promise.all([1, 2, 3, 4].map(() => connect('/ws/echo')))
    for (const [i, c] of conns.entries()) {
      t.equal((await c.receiveJson()).type, 'welcome')
      c.send({ type: 'test', data: `hello ${i}` })
      const echo = await c.waitFor(ofType('echo'))
      t.same(echo.original, { type: 'test', data: `hello ${i}` })
      c.send('plain text')
      t.equal((await c.waitFor(ofType('echo_raw'))).data, 'plain text')
    }
    t.ok(a.app.connections.count('echo') > 0 && b.app.connections.count('echo') > 0,
      `round-robin spread them: ${a.app.connections.count('echo')} + ${b.app.connections.count('echo')}`)
    await Promise.all(conns.map((c) => c.close()))
  })

  await t.test('a foreign Origin gets 403 through nginx; the page\'s own origin is let in', async (t) => {
    const before = await metric('switchboard_handshakes_refused_total', 'reason="origin"')
    t.equal(await WsTestClient.refusal(nginx.ws('/ws/echo'), { headers: { Origin: 'http://evil.example' } }), 403)
    t.equal(await WsTestClient.refusal(nginx.ws('/ws'), { headers: { Origin: `http://127.0.0.1:${nginx.port + 1}` } }), 403, 'same host, another port')
    t.equal(await metric('switchboard_handshakes_refused_total', 'reason="origin"'), before + 2, 'counted by the instances')
    // Same host as the page: works only because nginx passes Host with its port.
    const c = await connect('/ws/echo', { Origin: nginx.http })
    t.equal((await c.receiveJson()).type, 'welcome')
    await c.close()
  })

  await t.test('/ws/health heartbeats arrive through nginx', async (t) => {
    const c = await connect('/ws/health')
    const welcome = await c.receiveJson()
    t.equal(welcome.status, 'connected')
    const beats = [await c.waitFor(ofType('heartbeat'), { timeout: 3000 }), await c.waitFor(ofType('heartbeat'), { timeout: 3000 })]
    t.same(beats.map((b) => b.ping_number), [1, 2])
    c.send({ type: 'get_status' })
    const status = await c.waitFor(ofType('health_status'))
    t.equal(status.status, 'healthy')
    t.ok(status.ping_count >= 2)
    t.same(await c.close(), { code: 1000, reason: '' }, 'a client 1000 is answered with 1000 through nginx')
  })

  await t.test('TRUST_PROXY=1: the instance sees the client\'s address, not nginx\'s, and ignores a forged X-Forwarded-For', async (t) => {
    // The client connects from 127.0.0.2; nginx reaches the instances from 127.0.0.1. Without
    // trusting the proxy, request.ip would be 127.0.0.1.
    const mark = apps.map((s) => s.logs.length)
    const status = await new Promise<number>((resolve, reject) => {
      http.get(`${nginx.http}/health`, { localAddress: '127.0.0.2', headers: { 'X-Forwarded-For': '203.0.113.7' } }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      }).on('error', reject)
    })
    t.equal(status, 200)
    const ws = new WebSocket(nginx.ws('/ws/echo'), { localAddress: '127.0.0.2', headers: { 'X-Forwarded-For': '203.0.113.7' } })
    await new Promise((resolve, reject) => ws.once('message', resolve).once('error', reject))
    ws.close()
    const requests = apps.flatMap((s, i) => s.logs.slice(mark[i]))
      .map((l) => JSON.parse(l) as { msg: string; req?: { url: string; remoteAddress: string; ws?: boolean } })
      .filter((l) => l.msg === 'incoming request' && l.req)
      .map((l) => l.req!)
    t.same(requests.map((r) => [r.url, r.remoteAddress]).sort(), [['/health', '127.0.0.2'], ['/ws/echo', '127.0.0.2']])
    t.match(nginx.accessLog(), /^127\.0\.0\.2 .*"GET \/health HTTP\/1\.1" 200/m, 'nginx saw the same client')
  })

  await t.test('/health is proxied; /metrics and /admin stay off the proxy', async (t) => {
    const res = await fetch(`${nginx.http}/health`)
    t.equal(res.status, 200)
    t.equal((await res.json()).status, 'ok')
    t.equal((await fetch(`${nginx.http}/health/live`)).status, 200)
    t.equal((await fetch(`${nginx.http}/metrics`)).status, 404)
    t.equal((await fetch(`${nginx.http}/metrics/`)).status, 404)
    t.equal((await fetch(`${a.http}/metrics`)).status, 200, 'scraped from the instance itself')
    for (const path of ['/admin', '/admin/', '/admin/ws', '/admin/api/state']) t.equal((await fetch(`${nginx.http}${path}`)).status, 404, `${path} is per instance, not proxied`)
    const big = await fetch(`${nginx.http}/walker/Greeting`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"name":"${'x'.repeat(1_100_000)}"}` })
    t.same([big.status, big.headers.get('content-type'), await big.json()], [413, 'application/json; charset=utf-8', {
      ok: false, error: { code: 'VALIDATION', message: 'Request body is too large', details: [] }
    }], 'a body over the service\'s 1 MiB gets its JSON envelope, not nginx\'s HTML page')
    t.equal((await fetch(`${a.http}/admin`)).status, 200, 'the console is opened on the instance itself')
  })

  await t.test('the access log holds paths, never query strings', async (t) => {
    const c = await connect('/ws/echo?token=sekrit-ws-token&x=1')
    await c.receiveJson()
    await c.close()
    t.equal((await fetch(`${nginx.http}/health?token=sekrit-http-token`)).status, 200)
    t.equal((await fetch(`${nginx.http}/no/such/page?token=sekrit-404-token`)).status, 404)
    const log = await nginx.waitForAccessLog(/"GET \/ws\/echo HTTP\/1\.1" 101[^\n]*\n[\s\S]*"GET \/no\/such\/page HTTP\/1\.1" 404/)
    t.notMatch(log, /sekrit|token=|\?/, `no query string in:\n${log}`)
    t.notMatch(nginx.errorLog(), /sekrit/, 'nor in the error log')
    t.notMatch(apps.flatMap((s) => s.logs).join(''), /sekrit/, 'nor in the instances\' logs')
  })

  await t.test('ops/ws_smoke.sh passes through nginx', async (t) => {
    const run = await runSmoke([`ws://127.0.0.1:${nginx.port}`])
    t.equal(run.code, 0, run.out)
    t.equal(run.lines.filter((l) => l.startsWith('✓ ')).length, 6, run.out)
  })

  await t.test('one instance draining: nginx moves upgrades and /health to the other', async (t) => {
    a.app.lifecycle.beginShutdown() // what SIGTERM does first: /health 503, upgrades refused with 503
    t.equal((await fetch(`${a.http}/health`)).status, 503)
    for (let i = 0; i < 6; i++) {
      t.equal((await fetch(`${nginx.http}/health`)).status, 200, `/health ${i} answered by the other instance`)
      const c = await connect('/ws/echo')
      t.equal((await c.receiveJson()).type, 'welcome', `upgrade ${i} retried on the other instance`)
      await c.close()
    }
    // Retried requests log both attempts: "upstream=A, B upstream_status=503, 200".
    await nginx.waitForAccessLog(/upstream_status=503, (101|200)/)
    t.pass('the access log shows the draining instance\'s 503 retried on the other one')
  })

  await t.test('both instances gone: nginx answers 502 (the runbook\'s "502 Bad Gateway")', async (t) => {
    clients.forEach((c) => c.terminate())
    await Promise.all(apps.map((s) => s.close()))
    instancesUp = false
    t.equal((await fetch(`${nginx.http}/health`)).status, 502)
    t.equal(await WsTestClient.refusal(nginx.ws('/ws/echo')), 502)
    t.match(nginx.errorLog(), /connect\(\) failed \(111: Connection refused\) while connecting to upstream/)
  })
})

t.test('Redis away: readiness probes through nginx say 503, and never stop nginx routing to the instances', { skip }, async (t) => {
  // Both instances answer /health 503 by design while Redis is away, yet serve their own users.
  // Probes counted as failures marked both down in the traffic upstream, and nginx answered 502
  // to everything, upgrades included, for as long as something probed every few seconds.
  const redis = await startRedis()
  t.teardown(redis.close)
  await redis.stop()
  const apps = [await startApp({ REDIS_URL: redis.url }), await startApp({ REDIS_URL: redis.url })]
  t.teardown(() => Promise.all(apps.map((s) => s.close())))
  const nginx = await startNginx([apps[0]!.port, apps[1]!.port])
  t.teardown(nginx.stop)
  const probes: number[] = []
  for (let i = 0; i < 8; i++) probes.push((await fetch(`${nginx.http}/health`)).status)
  t.same(probes, Array(8).fill(503), 'every probe: 503, Redis is down')
  t.equal((await fetch(`${nginx.http}/health/live`)).status, 200, 'HTTP still reaches the instances')
  const c = await WsTestClient.connect(nginx.ws('/ws/echo'))
  t.teardown(() => c.terminate())
  t.equal((await c.receiveJson()).type, 'welcome', 'and so do WebSocket upgrades')
})
