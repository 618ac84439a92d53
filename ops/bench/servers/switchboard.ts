// The service as the bench runs it: the same config loading and app as src/server.ts, plus the
// bench's process hooks (ready line, GC-and-measure on SIGUSR2 when BENCH_MEMORY_FILE is set).
// The debug hook lives here, in the bench's own entry, never in the service.
import { loadConfig } from '../../../src/config.ts'
import { buildApp } from '../../../src/app.ts'
import { announce, installMemoryHook } from './control.ts'

const config = loadConfig({ ...process.env, PORT: '0', HOST: '127.0.0.1' })
const app = await buildApp(config)
await app.listen({ port: 0, host: '127.0.0.1' })
installMemoryHook()
const address = app.server.address()
announce(typeof address === 'object' && address ? address.port : 0)
