// The HTTP benchmark's baseline: a bare Fastify route returning a constant,
// with the same server options as veilbox, in a process of its own.
import Fastify from 'fastify'
import { serverOptions } from '../src/api/app.js'
import { loadConfig } from '../src/config/index.js'

const config = loadConfig(process.env)
const app = Fastify(serverOptions(config))
app.get('/bare', async () => ({ status: 'ok' }))
const url = await app.listen({ host: '127.0.0.1', port: 0 })
process.stdout.write(`listening on ${url}\n`)
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void app.close().then(() => process.exit(0)))
