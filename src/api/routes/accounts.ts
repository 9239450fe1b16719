import type { FastifyInstance, FastifyReply } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { VeilboxError } from '../../errors/index.js'
import {
  settlement,
  settlementCsv,
  signedSettlement,
  signedStatement,
  statement,
  statementCsv,
} from '../../engine/market/accounts.js'
import { readPolicy } from '../../engine/market/policy.js'
import { findOwnerPrincipal } from '../../store/market.js'
import { principalOf } from '../plugins/auth.js'
import { principalNameSchema, problems } from '../schemas.js'

const period = {
  from: z.iso.datetime({ offset: true }).describe('inclusive, ISO 8601'),
  to: z.iso.datetime({ offset: true }).describe('exclusive, ISO 8601'),
  format: z.enum(['json', 'csv']).default('json'),
}

const party = z.object({ id: z.string(), name: z.string() })

const statementSchema = z
  .object({
    kind: z.literal('veilbox.statement'),
    period: z.object({ from: z.string(), to: z.string() }),
    currency: z.string(),
    organization: z.string().nullable(),
    analyst: party.nullable(),
    lines: z.array(
      z.object({
        time: z.string(),
        queryId: z.string(),
        grant: z.string(),
        analyst: z.string(),
        organization: z.string().nullable(),
        dataset: z.string(),
        scenario: z.string(),
        epsilon: z.string().describe('epsilon charged to the dataset, exact decimal'),
        amount: z.number().int(),
      }),
    ),
    totals: z.object({ answers: z.number().int(), epsilon: z.string(), amount: z.number().int() }),
    issuedAt: z.string(),
    keyId: z.string(),
    signature: z.string(),
  })
  .meta({ id: 'Statement', description: 'Signed like certificates; amounts in minor units of the currency' })

const settlementSchema = z
  .object({
    kind: z.literal('veilbox.settlement'),
    period: z.object({ from: z.string(), to: z.string() }),
    currency: z.string(),
    feeBps: z.number().int(),
    owners: z.array(
      z.object({
        owner: party.nullable(),
        lines: z.array(
          z.object({ time: z.string(), queryId: z.string(), dataset: z.string(), amount: z.number().int() }),
        ),
        total: z.number().int(),
      }),
    ),
    totals: z.object({
      answers: z.number().int(),
      gross: z.number().int(),
      fee: z.number().int(),
      net: z.number().int(),
    }),
    issuedAt: z.string(),
    keyId: z.string(),
    signature: z.string(),
  })
  .meta({ id: 'Settlement', description: 'Signed like certificates; amounts in minor units of the currency' })

function checkPeriod(from: string, to: string): { from: string; to: string } {
  const f = new Date(from)
  const t = new Date(to)
  if (!(f.getTime() < t.getTime()))
    throw new VeilboxError(
      'VEILBOX_ERR_REQUEST_VALIDATION',
      `the period's "from" (${from}) must come before "to" (${to})`,
      {
        errors: [{ path: 'to', message: 'must come after from' }],
      },
    )
  return { from: f.toISOString(), to: t.toISOString() }
}

function csv(reply: FastifyReply, name: string, text: string): FastifyReply {
  return reply
    .type('text/csv; charset=utf-8')
    .header('content-disposition', `attachment; filename="${name}.csv"`)
    .send(text)
}

/** Statements and settlements (docs/market.md): signed, as JSON or CSV, reconciling with the money ledger. */
export default async function accountRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>()

  r.get(
    '/v1/statements',
    {
      config: { roles: ['operator', 'analyst'] },
      schema: {
        summary: "A signed statement of a period's priced answers: analysts their own, operators any organization",
        tags: ['accounts'],
        querystring: z.strictObject({ ...period, organization: z.string().min(1).max(200).optional() }),
        response: { 200: statementSchema, ...problems(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const p = principalOf(request)
      const q = request.query
      const policy = await readPolicy(app.db)
      const body = await statement(
        app.db,
        checkPeriod(q.from, q.to),
        {
          ...(q.organization === undefined ? {} : { organization: q.organization }),
          ...(p.role === 'analyst' ? { analyst: { id: p.id, name: p.name } } : {}),
        },
        policy.currency,
        new Date(),
      )
      if (q.format === 'csv') return csv(reply, 'statement', statementCsv(body, app.signingKey))
      return reply.send(signedStatement(body, app.signingKey))
    },
  )

  r.get(
    '/v1/settlements',
    {
      config: { roles: ['operator', 'owner'] },
      schema: {
        summary: "A signed settlement of a period: each owner's shares, the platform fee, the totals",
        tags: ['accounts'],
        querystring: z.strictObject({ ...period, owner: principalNameSchema.optional() }),
        response: { 200: settlementSchema, ...problems(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const p = principalOf(request)
      const q = request.query
      let ownerId: string | undefined
      if (p.role === 'owner') ownerId = p.id
      else if (q.owner !== undefined) {
        const o = await findOwnerPrincipal(app.db, q.owner)
        if (o === null)
          throw new VeilboxError('VEILBOX_ERR_MARKET_NO_OWNER', `no owner named "${q.owner}" holds an active key`, {
            owner: q.owner,
          })
        ownerId = o.id
      }
      const policy = await readPolicy(app.db)
      const body = await settlement(
        app.db,
        checkPeriod(q.from, q.to),
        ownerId === undefined ? {} : { ownerId },
        policy,
        new Date(),
      )
      if (q.format === 'csv') return csv(reply, 'settlement', settlementCsv(body, app.signingKey))
      return reply.send(signedSettlement(body, app.signingKey))
    },
  )
}
