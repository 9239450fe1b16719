import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { VeilboxError } from '../../errors/index.js'
import type { AuditActor } from '../../store/audit.js'
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

export default fp(
  async function auth(app: FastifyInstance) {
    app.decorateRequest('principal', null)

    // Default deny: a /v1 route that forgets to say who may call it does not start.
    app.addHook('onRoute', (route) => {
      if (route.url.startsWith('/v1/') && route.config?.roles === undefined) {
        throw new Error(`route ${route.method} ${route.url} must declare config.roles`)
      }
    })

    app.addHook('onRequest', async (request) => {
      const roles = request.routeOptions.config.roles
      if (roles === undefined || roles === 'public') return
      const header = request.headers.authorization
      if (header === undefined || header === '') {
        throw new VeilboxError('VEILBOX_ERR_AUTH_MISSING_KEY', "this route needs an API key: send 'Authorization: Bearer <key>'")
      }
      const m = BEARER.exec(header)
      const principal = m ? authenticate(app.db, m[1]!) : null
      if (!principal) {
        throw new VeilboxError('VEILBOX_ERR_AUTH_INVALID_KEY', 'the API key is not valid or has been revoked; ask an operator for a key')
      }
      request.principal = principal
      if (roles !== 'any' && !roles.includes(principal.role)) {
        throw new VeilboxError(
          'VEILBOX_ERR_AUTH_FORBIDDEN_ROLE',
          `a key with role ${principal.role} may not do this; it needs role ${roles.join(' or ')}`,
          { role: principal.role, allowed: roles },
        )
      }
    })
  },
  { name: 'auth', dependencies: ['db'] },
)
