import helmet from '@fastify/helmet'
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { VeilboxError } from '../../errors/index.js'

/**
 * Security headers on every response, and rate limiting keyed by the caller's
 * principal (several keys of one principal share a bucket; anonymous callers
 * are keyed by address). It runs before the body is parsed so a flood of
 * uploads is turned away without reading them.
 */
export default fp(
  async function security(app: FastifyInstance, opts: { rateLimitPerMinute: number }) {
    await app.register(helmet, {
      contentSecurityPolicy: {
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'", "'unsafe-inline'"],
          imgSrc: ["'self'", 'data:'],
          connectSrc: ["'self'"],
          frameAncestors: ["'none'"],
        },
      },
    })
    await app.register(rateLimit, {
      global: true,
      hook: 'preParsing',
      max: opts.rateLimitPerMinute,
      timeWindow: 60_000,
      keyGenerator: (request) => (request.principal ? `p:${request.principal.name}` : `ip:${request.ip}`),
      errorResponseBuilder: (_request, context) =>
        new VeilboxError(
          'VEILBOX_ERR_REQUEST_RATE_LIMITED',
          `more than ${context.max} requests in a minute; retry after ${context.after}`,
          { retryAfter: context.after },
        ),
    })
  },
  { name: 'security', dependencies: ['auth'] },
)
