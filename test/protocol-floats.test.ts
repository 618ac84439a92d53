// The smoke-test dialects' times are floats (SPEC section 0: `1699564800.123`, the seeds'
// `"connection_age_seconds":30.0`), as their Python servers write them: a whole second keeps its
// `.0`, which JSON.stringify of a JavaScript number drops (a client checking for a float refused
// one frame in a thousand). Each frame of our own that carries a time, at a whole second.
import t from 'tap'
import { floatJson, secondsJson } from '../src/lib/clock.ts'
import { objectJson } from '../src/lib/json.ts'
import { lowerPongFrame, mainEchoFrame } from '../src/protocol/main.ts'
import { echoEnvelope, echoRawFrame, echoWelcomeFrame, serverPingFrame } from '../src/protocol/echo.ts'
import { healthConnectedFrame, healthStatusFrame, heartbeatFrame } from '../src/protocol/health.ts'

const WHOLE = 1_699_564_800_000

t.test('floatJson keeps a fraction; objectJson writes members in order', async (t) => {
  t.same([floatJson(30), floatJson(0), floatJson(1111.5), floatJson(-2), secondsJson(WHOLE), secondsJson(WHOLE + 123)], ['30.0', '0.0', '1111.5', '-2.0', '1699564800.0', '1699564800.123'])
  t.equal(objectJson({ b: '1', a: '"x"', c: '[]' }), '{"b":1,"a":"x","c":[]}')
  t.equal(objectJson({}), '{}')
})

t.test('every frame with a time writes it as a float at a whole second', async (t) => {
  const id = 'echo_client_1699564800000_12345'
  t.equal(lowerPongFrame(id, WHOLE), `{"type":"pong","timestamp":1699564800.0,"client_id":"${id}"}`)
  t.equal(mainEchoFrame('{"a":1}', 'ws_client_1', 2, WHOLE), '{"type":"echo","data":{"a":1},"timestamp":1699564800.0,"client_id":"ws_client_1","server_processing_ms":2.0}')
  t.equal(serverPingFrame(id, WHOLE), `{"type":"server_ping","timestamp":1699564800.0,"client_id":"${id}"}`)
  t.equal(echoRawFrame('hi "there"', WHOLE, id), `{"type":"echo_raw","data":"hi \\"there\\"","server_timestamp":1699564800.0,"client_id":"${id}"}`)
  t.equal(echoWelcomeFrame(id, WHOLE, { ping_interval: 30, ping_timeout: 10 }), `{"type":"welcome","endpoint":"/ws/echo","client_id":"${id}","server_time":1699564800.0,"config":{"ping_interval":30,"ping_timeout":10}}`)
  t.equal(echoEnvelope('{"a":1}', WHOLE, `"${id}"`, 2000), `{"type":"echo","original":{"a":1},"server_timestamp":1699564800.0,"client_id":"${id}","latency_info":{"received_at":1699564800.0,"connection_age_ms":2000.0}}`)
  t.equal(heartbeatFrame(3, WHOLE, 90, id), `{"type":"heartbeat","ping_number":3,"timestamp":1699564800.0,"connection_age_seconds":90.0,"client_id":"${id}"}`)
  t.equal(healthStatusFrame(30, 1, 2, WHOLE, id), `{"type":"health_status","status":"healthy","connection_age_seconds":30.0,"ping_count":1,"pong_count":2,"timestamp":1699564800.0,"client_id":"${id}"}`)
  t.equal(healthConnectedFrame(id, WHOLE, { ping_interval: 30, ping_timeout: 10, expected_min_connection_duration: 30 }, { allowed_origins: ['*'], public_base_url: 'http://localhost:8000', ws_public_url: 'ws://localhost:8000/ws' }),
    `{"type":"health_status","status":"connected","client_id":"${id}","server_time":1699564800.0,"config":{"ping_interval":30,"ping_timeout":10,"expected_min_connection_duration":30},"environment":{"allowed_origins":["*"],"public_base_url":"http://localhost:8000","ws_public_url":"ws://localhost:8000/ws"}}`)
})
