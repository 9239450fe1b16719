// The HTTP benchmark's baselines, in a process of their own, with the same
// server options as veilbox:
//   GET  /bare   a bare Fastify route returning a constant (the reference of ratioToBare);
//   POST /stack  a constant answer (BARE_STACK_BODY, a stored answer's JSON) behind
//                veilbox's own HTTP stack: its security headers, rate limit, JSON
//                body parser and request-id header, but no authentication, no
//                database and no audit. It is the ceiling for any authenticated
//                query route on this machine: what is left after it is veilbox's work.
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import { serverOptions } from '../src/api/app.js'
import { headers, rateLimits } from '../src/http/security.js'
import { loadConfig } from '../src/config/index.js'

const config = loadConfig(process.env)
const app = Fastify(serverOptions(config))
app.get('/bare', async () => ({ status: 'ok' }))
const stackBody = process.env.BARE_STACK_BODY ?? '{"status":"ok"}'
await app.register(async (stack) => {
  // The rate limit runs after authentication (it keys by principal); here no
  // request has one, so an empty stand-in keeps that order.
  await stack.register(headers)
  await stack.register(fp(async () => {}, { name: 'auth' }))
  await stack.register(rateLimits, { rateLimitPerMinute: config.rateLimitPerMinute })
  stack.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })
  stack.post('/stack', async (_request, reply) => reply.type('application/json; charset=utf-8').send(stackBody))
})
const url = await app.listen({ host: '127.0.0.1', port: 0 })
process.stdout.write(`listening on ${url}\n`)
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void app.close().then(() => process.exit(0)))
