import rateLimit from '@fastify/rate-limit'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import helmet from 'helmet'
import secureJson from 'secure-json-parse'
import { VeilboxError } from '../errors/index.js'

/**
 * What every request meets before anything else: security headers on every
 * response, refusals included (this plugin is registered before
 * authentication, so a 401 carries them too), and the JSON body parser.
 * Rate limiting, which is keyed by principal, comes after authentication
 * (rateLimits below).
 */

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

/** The security headers on a raw response: for the few answers that no hook sees (a URL that does not decode). */
export function applySecurityHeaders(request: IncomingMessage, response: ServerResponse): void {
  securityHeaders(request, response, () => {})
}

export const headers = fp(
  async function headers(app: FastifyInstance) {
    // Fastify's own JSON parser folds every failure into one code; this one
    // tells a prototype-poisoning attempt apart from a syntax error, and
    // refuses deep nesting before anything recurses over it.
    app.removeContentTypeParser('application/json')
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
      if (body === '') {
        done(new VeilboxError('VEILBOX_ERR_REQUEST_BAD_JSON', 'the body is empty; send a JSON object'), undefined)
        return
      }
      const depth = jsonDepthOver(body as string, MAX_JSON_DEPTH)
      if (depth !== null) {
        done(
          new VeilboxError(
            'VEILBOX_ERR_REQUEST_TOO_DEEP',
            `the JSON body nests more than ${MAX_JSON_DEPTH} levels deep (at character ${depth}); nest conditions less deeply`,
            {
              maxDepth: MAX_JSON_DEPTH,
              at: depth,
            },
          ),
          undefined,
        )
        return
      }
      try {
        done(null, secureJson.parse(body as string, { protoAction: 'error', constructorAction: 'error' }))
      } catch (err) {
        done(
          err instanceof SyntaxError && /prototype/i.test(err.message)
            ? new VeilboxError(
                'VEILBOX_ERR_REQUEST_FORBIDDEN_KEY',
                'the JSON body holds a "__proto__" or "constructor" property, which is refused; remove it',
              )
            : new VeilboxError('VEILBOX_ERR_REQUEST_BAD_JSON', `the body is not valid JSON: ${(err as Error).message}`),
          undefined,
        )
      }
    })
    app.addHook('onRequest', (request, reply, done) => {
      securityHeaders(request.raw, reply.raw, (err?: unknown) => done(err as Error | undefined))
    })
  },
  { name: 'headers' },
)

/**
 * Rate limiting keyed by the caller's principal (several keys of one
 * principal share a bucket; anonymous callers are keyed by address). It runs
 * before the body is parsed so a flood of uploads is turned away without
 * reading them. Failed authentications are limited separately, per address,
 * in the auth plugin.
 */
export const rateLimits = fp(
  async function rateLimits(app: FastifyInstance, opts: { rateLimitPerMinute: number }) {
    await app.register(rateLimit, {
      global: true,
      hook: 'preParsing',
      max: opts.rateLimitPerMinute,
      timeWindow: 60_000,
      // By principal id: a name issued again starts with a bucket of its own.
      keyGenerator: (request) => (request.principal ? `p:${request.principal.id}` : `ip:${request.ip}`),
      errorResponseBuilder: (_request, context) =>
        new VeilboxError(
          'VEILBOX_ERR_REQUEST_RATE_LIMITED',
          `more than ${context.max} requests in a minute; retry after ${context.after}`,
          { retryAfter: context.after },
        ),
    })
  },
  { name: 'rate-limits', dependencies: ['auth'] },
)

/**
 * Objects and arrays a JSON body may nest. Schema validation recurses over
 * the parsed value, so depth is refused on the text, before parsing: a query
 * in the JSON form needs well under 100 levels (predicates nest at most 32).
 */
export const MAX_JSON_DEPTH = 128

/** The offset at which `text` first nests deeper than `max` (outside strings), or null. One pass, no recursion. */
export function jsonDepthOver(text: string, max: number): number | null {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c)
        i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return i
    } else if (c === 0x7d || c === 0x5d) depth--
  }
  return null
}
