import { createHash, timingSafeEqual } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../../config/index.js'
import problem, { clientErrorHandler, frameworkErrors } from '../../http/problem.js'
import { headers } from '../../http/security.js'
import { VeilboxMetrics } from '../metrics.js'
import { problems } from '../schemas.js'
import { authorize, FailureLimiter } from './auth.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The app's Prometheus metrics (src/api/metrics.ts); the engine plugin hands them its parts. */
    metrics: VeilboxMetrics
    /** The server of VEILBOX_METRICS_PORT, when /metrics has a port of its own (listening once the app is ready). */
    metricsServer: FastifyInstance | null
  }
}

const BEARER = /^Bearer\s+(\S+)\s*$/i

/**
 * Whether an Authorization header carries the scrape token: both sides
 * hashed to 32 bytes and compared in constant time, so that neither the
 * token's length nor its first differing byte shows in the time taken.
 */
export function tokenCheck(token: string): (authorization: string) => boolean {
  const want = createHash('sha256').update(token).digest()
  return (authorization) => {
    const m = BEARER.exec(authorization)
    if (m === null) return false
    return timingSafeEqual(createHash('sha256').update(m[1]!).digest(), want)
  }
}

const routeSchema = {
  summary: 'Prometheus metrics of this node (operators, or the scrape token)',
  description:
    'The Prometheus text format: requests by route pattern and status, the sandbox and the column cache, releases, stored answers and refusals by code, epsilon charged per dataset, custodian calls, ingested rows, and the process (docs/operations.md). Nothing per analyst, grant, key or query. Open to operator keys and to the scrape token (VEILBOX_METRICS_TOKEN); with VEILBOX_METRICS_PORT it is served on that port instead, not here.',
  tags: ['operations'],
  response: problems(401, 403, 429),
}

/**
 * /metrics, and the request counts behind it. On the service's port by
 * default, behind the operator role like any /v1 route (or the scrape
 * token); with VEILBOX_METRICS_PORT, on a server of its own that answers
 * nothing else, with the same check. Registered after auth and before the
 * engine, which reports to `app.metrics`.
 */
export default fp(
  async function metrics(app: FastifyInstance, opts: { config: Config }) {
    const c = opts.config
    const m = new VeilboxMetrics({
      defaults: c.metrics,
      workers: c.workers,
      cacheBudgetBytes: c.columnCacheBytes,
    })
    app.decorate('metrics', m)
    app.decorate('metricsServer', null)
    if (!c.metrics) return

    // Every route's requests, by its pattern: never the URL, whose ids would name datasets, grants and answers.
    // A callback hook, not an async one: no promise per request.
    app.addHook('onResponse', (request, reply, done) => {
      m.request(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000)
      done()
    })

    const acceptsToken = c.metricsToken === null ? undefined : tokenCheck(c.metricsToken)
    const send = async (_request: FastifyRequest, reply: FastifyReply) => {
      const { text, contentType } = await m.scrape()
      return reply.header('cache-control', 'no-store').type(contentType).send(text)
    }

    if (c.metricsPort === null) {
      app.get(
        '/metrics',
        {
          config: { roles: ['operator'], ...(acceptsToken === undefined ? {} : { acceptsToken }) },
          schema: routeSchema,
        },
        send,
      )
      return
    }

    // A port of its own: the service's port answers /metrics with 404, this one answers nothing else.
    const server = Fastify({ logger: false, frameworkErrors, clientErrorHandler, return503OnClosing: true })
    await server.register(problem)
    await server.register(headers)
    server.decorateRequest('principal', null)
    const failures = new FailureLimiter(c.authFailuresPerMinute)
    server.addHook('onRequest', async (request) => {
      const header = request.headers.authorization
      if (acceptsToken !== undefined && header !== undefined && acceptsToken(header)) return
      await authorize(app.db, failures, request, ['operator'])
    })
    server.get('/metrics', send)
    app.metricsServer = server
    app.addHook('onReady', async () => {
      await server.listen({ host: c.metricsHost, port: c.metricsPort ?? 0 })
      app.log.info({ address: server.addresses() }, 'metrics listening on a port of their own')
    })
    app.addHook('onClose', async () => {
      await server.close()
    })
  },
  { name: 'metrics', dependencies: ['db', 'auth'] },
)
