import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { identifierSchema } from '../../engine/schema.js'
import { auditHead, listAudit, verifyChain } from '../../store/audit.js'
import { problems } from '../schemas.js'

const recordSchema = z
  .object({
    seq: z.number().int(),
    time: z.string(),
    actor: z.object({ principal: z.string(), role: z.string() }),
    action: z.string(),
    dataset: z.string().nullable(),
    version: z.number().int().nullable(),
    grant: z.string().nullable(),
    purpose: z.string().nullable(),
    queryHash: z.string().nullable(),
    charged: z.object({ epsilon: z.string(), delta: z.string() }).nullable(),
    outcome: z.string(),
    detail: z.record(z.string(), z.unknown()).nullable(),
    prevHash: z.string(),
    hash: z.string(),
  })
  .meta({ id: 'AuditRecord' })

const head = z.object({ seq: z.number().int(), hash: z.string() })

export default async function auditRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>()

  r.get(
    '/v1/audit',
    {
      config: { roles: ['operator'] },
      schema: {
        summary: 'The audit chain, filtered, in seq order; page with `after`',
        tags: ['audit'],
        querystring: z.strictObject({
          dataset: identifierSchema.optional(),
          actor: z.string().min(1).max(128).optional(),
          action: z.string().regex(/^[a-z]+(\.[a-z]+)*$/, 'an action such as query.release, or a prefix such as query').optional(),
          from: z.iso.datetime({ offset: true }).optional(),
          to: z.iso.datetime({ offset: true }).optional(),
          after: z.coerce.number().int().min(0).optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
        }),
        response: { 200: z.object({ records: z.array(recordSchema), next: z.number().int().nullable() }), ...problems(400, 401, 403) },
      },
    },
    async (request) => {
      const q = request.query
      const iso = (s: string | undefined) => (s === undefined ? undefined : new Date(s).toISOString())
      const from = iso(q.from)
      const to = iso(q.to)
      const page = listAudit(app.db, {
        limit: q.limit,
        ...(q.dataset ? { dataset: q.dataset } : {}),
        ...(q.actor ? { actor: q.actor } : {}),
        ...(q.action ? { action: q.action } : {}),
        ...(from ? { from } : {}),
        ...(to ? { to } : {}),
        ...(q.after !== undefined ? { after: q.after } : {}),
      })
      return page as unknown as { records: z.output<typeof recordSchema>[]; next: number | null }
    },
  )

  r.get(
    '/v1/audit/verify',
    {
      config: { roles: ['operator'] },
      schema: {
        summary: 'Recompute the whole chain; names the first bad record',
        tags: ['audit'],
        querystring: z.strictObject({ head: z.string().regex(/^[0-9a-f]{64}$/, 'a 64-hex record hash').optional() }),
        response: {
          200: z.object({
            ok: z.boolean(),
            records: z.number().int(),
            head: head.nullable(),
            badSeq: z.number().int().optional(),
            problem: z.string().optional(),
          }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (request) => {
      const result = verifyChain(app.db, request.query.head)
      return result.ok ? result : { ...result, head: auditHead(app.db) }
    },
  )

  r.get(
    '/v1/receipts/keys',
    {
      config: { roles: 'public' },
      schema: {
        summary: 'The public keys that sign answer receipts (no key needed)',
        tags: ['audit'],
        security: [],
        response: {
          200: z.object({
            keys: z.array(z.object({ keyId: z.string(), algorithm: z.literal('Ed25519'), publicKey: z.string().describe('SubjectPublicKeyInfo, PEM'), createdAt: z.string() })),
          }),
        },
      },
    },
    async () => ({
      keys: [{ keyId: app.signingKey.keyId, algorithm: 'Ed25519' as const, publicKey: app.signingKey.publicKeyPem, createdAt: app.signingKey.createdAt }],
    }),
  )
}
