import { createHash, randomUUID, timingSafeEqual } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import problem from '../http/problem.js'
import { VeilboxError } from '../errors/index.js'
import type { Custodian } from '../engine/he/types.js'
import { datasetSpecSchema, identifierSchema } from '../schema.js'
import {
  decryptRequestIn,
  decryptRequestSchema,
  decryptResponseOut,
  keyOptionsIn,
  keyOptionsSchema,
  materialOut,
  profileOut,
} from './wire.js'

/**
 * `veilbox custodian`: the key custodian as a small HTTP service of its own,
 * beside (not inside) the compute service. It holds the secret keys in its
 * key directory and answers three things, each behind the shared bearer
 * token (compared in constant time):
 *
 *   POST /v1/datasets/{id}/keys      create a dataset's keys; the public profile back
 *   GET  /v1/datasets/{id}/public    profile, public and Galois keys
 *   POST /v1/datasets/{id}/decrypt   exact values of a released query's aggregate ciphertexts
 *
 * Every body is validated with zod; errors are problem+json with stable
 * codes; the log has method, route, status and time, never a body, a key or
 * the token (the Authorization header is redacted).
 */

export interface CustodianAppOptions {
  readonly custodian: Custodian
  readonly token: string
  readonly logger?: FastifyServerOptions['logger']
  readonly logLevel?: string
}

/** Largest request (a decryption of 16 aggregates of up to 4 MiB each, base64). */
export const CUSTODIAN_BODY_LIMIT = 128 * 1024 * 1024

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest()

export function tokenMatches(sent: string, expected: string): boolean {
  // Hashing first gives equal lengths, so the comparison time says nothing about the token.
  return timingSafeEqual(digest(sent), digest(expected))
}

const BEARER = /^Bearer\s+(\S+)\s*$/i

export async function buildCustodianApp(options: CustodianAppOptions): Promise<FastifyInstance> {
  if (options.token.length < 32)
    throw new VeilboxError('VEILBOX_ERR_CONFIG_INVALID', 'the custodian token must be at least 32 characters')
  const app = Fastify({
    logger: options.logger ?? { level: options.logLevel ?? 'info', redact: ['req.headers.authorization'] },
    genReqId: () => randomUUID(),
    bodyLimit: CUSTODIAN_BODY_LIMIT,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
  })
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  await app.register(problem)

  app.addHook('onRequest', async (request) => {
    if (request.url === '/healthz') return
    const m = BEARER.exec(request.headers.authorization ?? '')
    if (m === null)
      throw new VeilboxError(
        'VEILBOX_ERR_AUTH_MISSING_KEY',
        "the custodian needs its token: send 'Authorization: Bearer <token>'",
      )
    if (!tokenMatches(m[1]!, options.token))
      throw new VeilboxError('VEILBOX_ERR_AUTH_INVALID_KEY', "the token is not the custodian's")
  })

  const c = options.custodian
  const r = app.withTypeProvider<ZodTypeProvider>()
  const params = z.object({ id: identifierSchema })

  r.get('/healthz', async () => ({ status: 'ok' }))
  r.get('/v1/ping', async () => ({ status: 'ok' }))

  r.post(
    '/v1/datasets/:id/keys',
    { schema: { params, body: z.strictObject({ spec: datasetSpecSchema, options: keyOptionsSchema }) } },
    async (request, reply) => {
      const profile = await c.createKeys(request.params.id, request.body.spec, keyOptionsIn(request.body.options))
      request.log.info({ dataset: request.params.id, profileId: profile.id }, 'created HE keys')
      return reply.code(201).send({ profile: profileOut(profile) })
    },
  )

  r.get('/v1/datasets/:id/public', { schema: { params } }, async (request) =>
    materialOut(await c.publicMaterial(request.params.id)),
  )

  r.post('/v1/datasets/:id/decrypt', { schema: { params, body: decryptRequestSchema } }, async (request) => {
    if (request.body.dataset !== request.params.id)
      throw new VeilboxError('VEILBOX_ERR_CUSTODIAN_REFUSED', 'the release names another dataset than the route')
    const res = await c.decryptAggregates(decryptRequestIn(request.body))
    // Which query and how many aggregates: enough to match the service's audit record, nothing of the values.
    request.log.info(
      { dataset: request.params.id, queryId: res.queryId, aggregates: res.values.length },
      'decrypted a release',
    )
    return decryptResponseOut(res)
  })
  return app
}
