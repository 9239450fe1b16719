import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { VeilboxError } from '../../errors/index.js'
import type { AuditActor } from '../../store/audit.js'
import type { Store } from '../../store/db.js'
import { authenticate, type Principal, type Role } from '../../store/keys.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller, when a valid key was sent. */
    principal: Principal | null
  }
  interface FastifyContextConfig {
    /**
     * Roles allowed on the route. Every /v1 route must declare it; 'any' means
     * any valid key, 'public' no key at all. Routes outside /v1 without it are
     * public (health, OpenAPI, docs).
     */
    roles?: readonly Role[] | 'any' | 'public'
    /**
     * A bearer token the route also takes instead of a key of its roles
     * (the scrape token of /metrics): true when the Authorization header
     * carries it. The request then has no principal.
     */
    acceptsToken?: (authorization: string) => boolean
  }
}

/** The authenticated caller of a route that declared its roles. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new Error('route has no roles declared but reads the principal')
  return request.principal
}

export function actorOf(request: FastifyRequest): AuditActor {
  const p = principalOf(request)
  return { principal: p.name, role: p.role }
}

const BEARER = /^Bearer\s+(\S+)\s*$/i

/**
 * Failed authentications per client address, in fixed one-minute windows.
 * Past the limit, a request whose key is missing or invalid gets 429 instead
 * of 401; one with a valid key is not affected. The map is bounded: at its
 * size the oldest windows are dropped first.
 */
export class FailureLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>()

  constructor(
    readonly perMinute: number,
    private readonly maxAddresses = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts a failure; returns the seconds to wait when the address is over the limit, else null. */
  fail(address: string): number | null {
    const t = this.now()
    let w = this.windows.get(address)
    if (w === undefined || t - w.start >= 60_000) {
      this.windows.delete(address)
      w = { start: t, count: 0 }
      if (this.windows.size >= this.maxAddresses) this.windows.delete(this.windows.keys().next().value!)
      this.windows.set(address, w)
    }
    w.count += 1
    return w.count > this.perMinute ? Math.max(1, Math.ceil((w.start + 60_000 - t) / 1000)) : null
  }
}

function refuse(failures: FailureLimiter, request: FastifyRequest, err: VeilboxError): VeilboxError {
  const wait = failures.fail(request.ip)
  if (wait === null) return err
  return new VeilboxError(
    'VEILBOX_ERR_AUTH_TOO_MANY_FAILURES',
    `more than ${failures.perMinute} requests from this address had a missing or invalid key in the last minute; retry after ${wait} s with a valid key`,
    { retryAfter: wait },
    { headers: { 'retry-after': String(wait) } },
  )
}

/**
 * The principal of the request's key, which must have one of `roles`
 * ('any': any valid key), also set as request.principal; throws 401 (429
 * past the failure limit) or 403.
 * The hook below runs it for every route that declared roles; a server of
 * its own (the metrics port) calls it directly.
 */
export async function authorize(
  db: Store,
  failures: FailureLimiter,
  request: FastifyRequest,
  roles: readonly Role[] | 'any',
): Promise<Principal> {
  const header = request.headers.authorization
  if (header === undefined || header === '') {
    throw refuse(
      failures,
      request,
      new VeilboxError(
        'VEILBOX_ERR_AUTH_MISSING_KEY',
        "this route needs an API key: send 'Authorization: Bearer <key>'",
      ),
    )
  }
  const m = BEARER.exec(header)
  const principal = m ? await authenticate(db, m[1]!) : null
  if (!principal) {
    throw refuse(
      failures,
      request,
      new VeilboxError(
        'VEILBOX_ERR_AUTH_INVALID_KEY',
        'the API key is not valid or has been revoked; ask an operator for a key',
      ),
    )
  }
  request.principal = principal
  if (roles !== 'any' && !roles.includes(principal.role)) {
    throw new VeilboxError(
      'VEILBOX_ERR_AUTH_FORBIDDEN_ROLE',
      `a key with role ${principal.role} may not do this; it needs role ${roles.join(' or ')}`,
      { role: principal.role, allowed: roles },
    )
  }
  return principal
}

export default fp(
  async function auth(app: FastifyInstance, opts: { failuresPerMinute?: number }) {
    app.decorateRequest('principal', null)
    const failures = new FailureLimiter(opts.failuresPerMinute ?? 60)

    // Default deny: a /v1 route that forgets to say who may call it does not start.
    app.addHook('onRoute', (route) => {
      if (route.url.startsWith('/v1/') && route.config?.roles === undefined) {
        throw new Error(`route ${route.method} ${route.url} must declare config.roles`)
      }
    })

    app.addHook('onRequest', async (request) => {
      const config = request.routeOptions.config
      const roles = config.roles
      if (roles === undefined || roles === 'public') return
      const header = request.headers.authorization
      if (config.acceptsToken !== undefined && header !== undefined && config.acceptsToken(header)) return
      await authorize(app.db, failures, request, roles)
    })
  },
  { name: 'auth', dependencies: ['db'] },
)
