import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import helmet from 'helmet'
import secureJson from 'secure-json-parse'
import { VeilboxError } from '../../errors/index.js'

/**
 * Security headers on every response, and rate limiting keyed by the caller's
 * principal (several keys of one principal share a bucket; anonymous callers
 * are keyed by address). It runs before the body is parsed so a flood of
 * uploads is turned away without reading them.
 */
export default fp(
  async function security(app: FastifyInstance, opts: { rateLimitPerMinute: number }) {
    // Fastify's own JSON parser folds every failure into one code; this one
    // tells a prototype-poisoning attempt apart from a syntax error.
    app.removeContentTypeParser('application/json')
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
      if (body === '') {
        done(new VeilboxError('VEILBOX_ERR_REQUEST_BAD_JSON', 'the body is empty; send a JSON object'), undefined)
        return
      }
      try {
        done(null, secureJson.parse(body as string, { protoAction: 'error', constructorAction: 'error' }))
      } catch (err) {
        done(
          err instanceof SyntaxError && /prototype/i.test(err.message)
            ? new VeilboxError('VEILBOX_ERR_REQUEST_FORBIDDEN_KEY', 'the JSON body holds a "__proto__" or "constructor" property, which is refused; remove it')
            : new VeilboxError('VEILBOX_ERR_REQUEST_BAD_JSON', `the body is not valid JSON: ${(err as Error).message}`),
          undefined,
        )
      }
    })
    // helmet's middleware, built once (the fastify wrapper rebuilds it, and re-parses
    // the policy, on every request); it sets the same headers on every response.
    const securityHeaders = helmet({
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
    app.addHook('onRequest', (request, reply, done) => {
      securityHeaders(request.raw, reply.raw, (err?: unknown) => done(err as Error | undefined))
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
