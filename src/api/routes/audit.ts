import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { identifierSchema } from '../../schema.js'
import { checkReceiptInChain, verifyReceipt } from '../../engine/receipts.js'
import { auditHead, findAuditRecord, listAudit, RECORD_ID, verifyChain } from '../../store/audit.js'
import { signCurrentHead } from '../../store/audit-heads.js'
import { verifyAudit } from '../../store/audit-verify.js'
import { receiptSchema } from './queries.js'
import { problems } from '../schemas.js'

const recordSchema = z
  .object({
    id: z
      .string()
      .optional()
      .describe(
        'opaque random id (receipts name their release record by it); records written before ids existed have none',
      ),
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

const signedHead = z
  .object({
    seq: z.number().int(),
    hash: z.string(),
    signedAt: z.string(),
    keyId: z.string(),
    signature: z.string().describe('Ed25519 over the canonical JSON of {seq, hash, signedAt, keyId}, base64'),
  })
  .meta({ id: 'SignedHead' })

const receiptKeys = z.object({
  keys: z.array(
    z.object({
      keyId: z.string(),
      algorithm: z.literal('Ed25519'),
      publicKey: z.string().describe('SubjectPublicKeyInfo, PEM'),
      createdAt: z.string(),
    }),
  ),
})

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
          action: z
            .string()
            .regex(/^[a-z]+(\.[a-z]+)*$/, 'an action such as query.release, or a prefix such as query')
            .optional(),
          from: z.iso.datetime({ offset: true }).optional(),
          to: z.iso.datetime({ offset: true }).optional(),
          after: z.coerce.number().int().min(0).optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
        }),
        response: {
          200: z.object({ records: z.array(recordSchema), next: z.number().int().nullable() }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (request) => {
      const q = request.query
      const iso = (s: string | undefined) => (s === undefined ? undefined : new Date(s).toISOString())
      const from = iso(q.from)
      const to = iso(q.to)
      const page = await listAudit(app.db, {
        limit: q.limit,
        ...(q.dataset ? { dataset: q.dataset } : {}),
        ...(q.actor ? { actor: q.actor } : {}),
        ...(q.action ? { action: q.action } : {}),
        ...(from ? { from } : {}),
        ...(to ? { to } : {}),
        ...(q.after !== undefined ? { after: q.after } : {}),
      })
      return page
    },
  )

  r.get(
    '/v1/audit/verify',
    {
      config: { roles: ['operator'] },
      schema: {
        summary:
          'Verify the audit chain: hash links, signed heads, and every ledger and stored answer against its charges in the chain',
        tags: ['audit'],
        querystring: z.strictObject({
          head: z
            .string()
            .regex(/^[0-9a-f]{64}$/, 'a 64-hex record hash')
            .optional(),
        }),
        response: {
          200: z.object({
            ok: z.boolean(),
            records: z.number().int(),
            head: head.nullable(),
            badSeq: z.number().int().optional(),
            problem: z.string().optional(),
            signedHeads: z.object({
              count: z.number().int(),
              lastSigned: z.number().int().nullable(),
              unsignedTail: z.number().int(),
            }),
            ledgers: z.object({
              ok: z.boolean(),
              grants: z.number().int(),
              datasets: z.number().int(),
              answers: z.number().int(),
              problems: z.array(z.object({ scope: z.string(), id: z.string(), problem: z.string() })),
            }),
          }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (request) => {
      const check = await verifyAudit(app.db, app.signingKey.publicKey, {
        ...(request.query.head ? { expectedHead: request.query.head } : {}),
        signIntervalMs: app.config.auditSignIntervalMs,
      })
      const c = check.chain
      return {
        ok: check.ok,
        records: c.records,
        head: c.ok ? c.head : await auditHead(app.db),
        // The first problem names the record: a broken hash link before a signature that no longer matches.
        ...(!c.ok ? { badSeq: c.badSeq } : !check.heads.ok ? { badSeq: check.heads.badSeq } : {}),
        ...(check.problem === undefined ? {} : { problem: check.problem }),
        signedHeads: check.heads.ok
          ? {
              count: check.heads.signedHeads,
              lastSigned: check.heads.lastSigned,
              unsignedTail: check.heads.unsignedTail,
            }
          : { count: check.heads.signedHeads, lastSigned: null, unsignedTail: 0 },
        ledgers: { ...check.ledgers, problems: [...check.ledgers.problems] },
      }
    },
  )

  r.get(
    '/v1/audit/head',
    {
      config: { roles: ['operator'] },
      schema: {
        summary:
          "The chain's head, signed now with the service's key: publish it elsewhere, and verify later with ?head=",
        tags: ['audit'],
        response: { 200: signedHead.nullable(), ...problems(401, 403) },
      },
    },
    async () => await signCurrentHead(app.db, app.signingKey),
  )

  r.post(
    '/v1/audit/receipts/verify',
    {
      config: { roles: ['operator'] },
      schema: {
        summary:
          "Check a receipt against the chain: its signature, the release record it names and that record's receipt digest, and the whole chain",
        description:
          "Receipts name their release record by an opaque id, never by a position in the chain. The record carries the sha256 of the receipt's signed fields, so this check (or an auditor with a copy of the chain) proves the answer was released and charged.",
        tags: ['audit'],
        body: z.strictObject({ receipt: receiptSchema }),
        response: {
          200: z.object({
            ok: z.boolean(),
            signature: z.boolean(),
            record: z.object({ id: z.string(), seq: z.number().int(), hash: z.string() }).nullable(),
            chain: z.object({ ok: z.boolean(), records: z.number().int() }),
            problem: z.string().optional(),
          }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (request) => {
      const receipt = request.body.receipt
      const sig = verifyReceipt(receipt, app.signingKey.publicKeyPem)
      const found = RECORD_ID.test(receipt.auditRecord) ? await findAuditRecord(app.db, receipt.auditRecord) : null
      const inChain = checkReceiptInChain(receipt, found)
      const chain = await verifyChain(app.db)
      const problem = !sig.ok
        ? sig.problem
        : !inChain.ok
          ? inChain.problem
          : !chain.ok
            ? `the chain does not verify: ${chain.problem} (record ${chain.badSeq})`
            : undefined
      return {
        ok: problem === undefined,
        signature: sig.ok,
        record: found === null ? null : { id: found.id!, seq: found.seq, hash: found.hash },
        chain: { ok: chain.ok, records: chain.records },
        ...(problem === undefined ? {} : { problem }),
      }
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
        response: { 200: receiptKeys },
      },
    },
    // Typed by the response schema: the handler's return type is inferred, not contextually typed, so the literal
    // 'Ed25519' would widen to string without this annotation.
    async (): Promise<z.output<typeof receiptKeys>> => ({
      keys: [
        {
          keyId: app.signingKey.keyId,
          algorithm: 'Ed25519',
          publicKey: app.signingKey.publicKeyPem,
          createdAt: app.signingKey.createdAt,
        },
      ],
    }),
  )
}
