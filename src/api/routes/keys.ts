import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { createKey, listKeys, revokeKey, rotateKey } from '../../store/keys.js'
import { actorOf, principalOf } from '../plugins/auth.js'
import { keyInfoSchema, principalNameSchema, problems, roleSchema } from '../schemas.js'

export default async function keyRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>()

  r.get(
    '/v1/me',
    {
      config: { roles: 'any' },
      schema: {
        summary: 'Who this key speaks for: the principal id, its name and role, and the key id (never the secret)',
        tags: ['keys'],
        response: {
          200: z.object({ id: z.string(), name: z.string(), role: roleSchema, keyId: z.string() }),
          ...problems(401),
        },
      },
    },
    async (request) => {
      const p = principalOf(request)
      return { id: p.id, name: p.name, role: p.role, keyId: p.keyId }
    },
  )

  r.post(
    '/v1/keys',
    {
      config: { roles: ['operator'] },
      schema: {
        summary: 'Create an API key for a new principal (the key is shown once)',
        description:
          "Each key belongs to a principal with a stable id. A name whose key was revoked may be issued again, but that makes a new principal: it inherits none of the old one's grants, answers or rate-limit bucket. To replace the key of the same principal, rotate it.",
        tags: ['keys'],
        body: z.strictObject({ role: roleSchema, name: principalNameSchema }),
        response: {
          201: z.object({
            key: z.string(),
            keyId: z.string(),
            principalId: z.string(),
            name: z.string(),
            role: roleSchema,
          }),
          ...problems(400, 401, 403, 409),
        },
      },
    },
    async (request, reply) => {
      const created = await createKey(app.db, request.body, actorOf(request))
      return reply.code(201).send(created)
    },
  )

  r.get(
    '/v1/keys',
    {
      config: { roles: ['operator'] },
      schema: {
        summary: 'List active keys (never their secrets)',
        tags: ['keys'],
        response: { 200: z.object({ keys: z.array(keyInfoSchema) }), ...problems(401, 403) },
      },
    },
    async () => ({ keys: await listKeys(app.db) }),
  )

  r.post(
    '/v1/keys/:name/rotate',
    {
      config: { roles: ['operator'] },
      schema: {
        summary: "Rotate a principal's key: a new key (shown once) for the same principal, the old one revoked at once",
        description: 'Grants, answers and the rate-limit bucket stay with the principal. Audited as key.rotate.',
        tags: ['keys'],
        params: z.object({ name: principalNameSchema }),
        response: {
          201: z.object({
            key: z.string(),
            keyId: z.string(),
            principalId: z.string(),
            name: z.string(),
            role: roleSchema,
          }),
          ...problems(401, 403, 404),
        },
      },
    },
    async (request, reply) => reply.code(201).send(await rotateKey(app.db, request.params.name, actorOf(request))),
  )

  r.delete(
    '/v1/keys/:name',
    {
      config: { roles: ['operator'] },
      schema: {
        summary: 'Revoke the active key of a principal',
        tags: ['keys'],
        params: z.object({ name: principalNameSchema }),
        response: { 200: z.object({ revoked: keyInfoSchema }), ...problems(401, 403, 404) },
      },
    },
    async (request) => ({ revoked: await revokeKey(app.db, request.params.name, actorOf(request)) }),
  )
}
