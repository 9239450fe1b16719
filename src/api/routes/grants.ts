import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { VeilboxError } from '../../errors/index.js'
import { toText } from '../../engine/dp/budget.js'
import { GRANT_AGGREGATES } from '../../engine/policy/grant.js'
import { budgetTotals, budgetView } from '../../engine/policy/pricing.js'
import { identifierSchema } from '../../schema.js'
import { MAX_MONEY_CAP, recordLevels } from '../../engine/market/dataset.js'
import { moneyNumber } from '../../engine/market/money.js'
import { checkUse, readPolicy, scenarioSchema } from '../../engine/market/policy.js'
import { scopeReview } from '../../engine/market/scope.js'
import { getDataset, listDatasets } from '../../store/datasets.js'
import {
  createGrant,
  DEFAULT_SCENARIO,
  getGrant,
  listGrants,
  revokeGrant,
  type GrantRecord,
} from '../../store/grants.js'
import type { Principal } from '../../store/keys.js'
import { actorOf, principalOf } from '../plugins/auth.js'
import { ledgerViewSchema, principalNameSchema, problems } from '../schemas.js'

export const grantViewSchema = z
  .object({
    id: z.string(),
    analyst: z.string().describe("the analyst's name when the grant was made"),
    analystId: z
      .string()
      .describe('the analyst principal the grant belongs to; a name revoked and issued again is another principal'),
    dataset: z.string(),
    purpose: z.string(),
    columns: z.array(z.string()).nullable().describe('null: every column'),
    aggregates: z.array(z.string()).nullable().describe('null: every aggregate'),
    expiresAt: z.string(),
    createdAt: z.string(),
    createdBy: z.string(),
    revokedAt: z.string().nullable(),
    status: z.enum(['active', 'expired', 'revoked']),
    budget: ledgerViewSchema,
    application: z.string().nullable().describe('the application it was made from; null for a direct grant'),
    scenario: z.string().describe('the scenario category of use: its prices and level rules apply'),
    organization: z.string().nullable(),
    money: z
      .object({ cap: z.number().int().nullable(), spent: z.number().int(), currency: z.string() })
      .describe('money spent by its fresh answers and the cap, in minor units of the currency'),
  })
  .meta({ id: 'Grant' })

export function grantView(g: GrantRecord, currency: string, now = Date.now()): z.infer<typeof grantViewSchema> {
  return {
    id: g.id,
    analyst: g.analyst,
    analystId: g.analystId,
    dataset: g.dataset,
    purpose: g.purpose,
    columns: g.columns === null ? null : [...g.columns],
    aggregates: g.aggregates === null ? null : [...g.aggregates],
    expiresAt: g.expiresAt,
    createdAt: g.createdAt,
    createdBy: g.createdBy,
    revokedAt: g.revokedAt,
    status: g.revokedAt !== null ? 'revoked' : Date.parse(g.expiresAt) <= now ? 'expired' : 'active',
    budget: budgetView(g.ledger),
    application: g.applicationId,
    scenario: g.scenario,
    organization: g.organization,
    money: {
      cap: g.moneyCap === null ? null : moneyNumber(g.moneyCap),
      spent: moneyNumber(g.moneySpent),
      currency,
    },
  }
}

const scopeSchema = z
  .object({
    grant: z.string(),
    answers: z.number().int().describe('fresh answers released in the grant'),
    columns: z.array(z.object({ name: z.string(), used: z.boolean(), answers: z.number().int() })),
    aggregates: z.array(z.object({ name: z.string(), used: z.boolean(), answers: z.number().int() })),
    unused: z
      .object({ columns: z.array(z.string()), aggregates: z.array(z.string()) })
      .describe('granted but never used: what a renewal should leave out'),
  })
  .meta({ id: 'ScopeReview' })

const grantId = z.string().regex(/^g_[0-9a-f]{16}$/, 'a grant id looks like g_ followed by 16 hex digits')

/** The datasets an owner holds. */
async function ownedDatasets(app: FastifyInstance, ownerId: string): Promise<Set<string>> {
  return new Set((await listDatasets(app.db)).filter((d) => d.owner?.id === ownerId).map((d) => d.spec.id))
}

/** A grant the principal may read: operators any, analysts their own, owners those on their datasets. */
async function visibleGrant(app: FastifyInstance, p: Principal, id: string): Promise<GrantRecord> {
  const grant = await getGrant(app.db, id)
  const mine =
    p.role === 'operator' ||
    (p.role === 'analyst' && grant.analystId === p.id) ||
    (p.role === 'owner' && (await ownedDatasets(app, p.id)).has(grant.dataset))
  if (!mine) {
    throw new VeilboxError('VEILBOX_ERR_POLICY_NOT_YOUR_GRANT', `grant ${grant.id} was made for another analyst`, {
      grant: grant.id,
    })
  }
  return grant
}

export default async function grantRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>()

  r.post(
    '/v1/grants',
    {
      config: { roles: ['operator'] },
      schema: {
        summary: 'Authorize one analyst for one purpose on one dataset, with a privacy budget and an expiry',
        tags: ['grants'],
        body: z.strictObject({
          analyst: principalNameSchema,
          dataset: identifierSchema,
          purpose: z.string().trim().min(3).max(500),
          columns: z.array(identifierSchema).min(1).max(256).optional(),
          aggregates: z.array(z.enum(GRANT_AGGREGATES)).min(1).optional(),
          epsilon: z.number().finite().gt(0).max(1_000_000),
          delta: z.number().min(0).lt(1).default(0),
          expiresAt: z.iso.datetime({ offset: true }),
          scenario: scenarioSchema.default(DEFAULT_SCENARIO).describe('the scenario category of use'),
          organization: z.string().trim().min(2).max(200).optional(),
          moneyCap: z.number().int().min(0).max(MAX_MONEY_CAP).optional().describe('minor units (fen for CNY)'),
        }),
        response: { 201: grantViewSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const b = request.body
      const record = await getDataset(app.db, b.dataset)
      const { spec } = record
      if (Date.parse(b.expiresAt) <= Date.now()) {
        throw new VeilboxError('VEILBOX_ERR_POLICY_BAD_GRANT', `expiresAt ${b.expiresAt} is not in the future`, {
          field: 'expiresAt',
        })
      }
      const known = new Set(spec.columns.map((c) => c.name))
      for (const c of b.columns ?? []) {
        if (!known.has(c)) {
          throw new VeilboxError(
            'VEILBOX_ERR_POLICY_BAD_GRANT',
            `dataset ${b.dataset} has no column ${c} (it has: ${[...known].join(', ')})`,
            { field: 'columns', column: c },
          )
        }
      }
      // A direct grant meets the same negative list and level policy as an application (docs/market.md).
      const policy = await readPolicy(app.db)
      checkUse(policy, {
        spec,
        levels: recordLevels(record),
        columns: b.columns ?? null,
        scenario: b.scenario,
      })
      // Totals round down (a charge rounds up): the grant never allows more than was asked for.
      const totals = budgetTotals(b.epsilon, b.delta)
      if (totals.epsilon === 0n) {
        throw new VeilboxError(
          'VEILBOX_ERR_POLICY_BAD_GRANT',
          `epsilon ${b.epsilon} is below one micro-unit (0.000001), the smallest budget a grant can hold`,
          { field: 'epsilon' },
        )
      }
      const grant = await createGrant(
        app.db,
        {
          analyst: b.analyst,
          dataset: b.dataset,
          purpose: b.purpose,
          columns: b.columns ? [...new Set(b.columns)] : null,
          aggregates: b.aggregates ? [...new Set(b.aggregates)] : null,
          epsilonTotal: totals.epsilon,
          deltaTotal: totals.delta,
          expiresAt: new Date(b.expiresAt).toISOString(),
          scenario: b.scenario,
          organization: b.organization ?? null,
          applicationId: null,
          moneyCap: b.moneyCap === undefined ? null : BigInt(b.moneyCap),
        },
        actorOf(request),
        { epsilon: toText('epsilon', totals.epsilon), delta: toText('delta', totals.delta) },
      )
      return reply.code(201).send(grantView(grant, policy.currency))
    },
  )

  r.get(
    '/v1/grants',
    {
      config: { roles: ['operator', 'analyst', 'owner'] },
      schema: {
        summary:
          'Grants: operators see all (filter by dataset, analyst), analysts their own, owners those on their datasets',
        tags: ['grants'],
        querystring: z.strictObject({ dataset: identifierSchema.optional(), analyst: principalNameSchema.optional() }),
        response: { 200: z.object({ grants: z.array(grantViewSchema) }), ...problems(400, 401, 403) },
      },
    },
    async (request) => {
      const p = principalOf(request)
      // An analyst sees the grants of their principal, never those made for an earlier holder of their name.
      const who =
        p.role === 'operator'
          ? request.query.analyst === undefined
            ? {}
            : { analyst: request.query.analyst }
          : { analystId: p.id }
      const grants = await listGrants(app.db, {
        ...(p.role === 'owner' ? {} : who),
        ...(request.query.dataset === undefined ? {} : { dataset: request.query.dataset }),
      })
      const owned = p.role === 'owner' ? await ownedDatasets(app, p.id) : null
      const { currency } = await readPolicy(app.db)
      return {
        grants: grants.filter((g) => owned === null || owned.has(g.dataset)).map((g) => grantView(g, currency)),
      }
    },
  )

  r.get(
    '/v1/grants/:id',
    {
      config: { roles: ['operator', 'analyst', 'owner'] },
      schema: {
        summary: 'One grant with its budget: total, spent, remaining',
        tags: ['grants'],
        params: z.object({ id: grantId }),
        response: { 200: grantViewSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const grant = await visibleGrant(app, principalOf(request), request.params.id)
      return grantView(grant, (await readPolicy(app.db)).currency)
    },
  )

  r.get(
    '/v1/grants/:id/scope',
    {
      config: { roles: ['operator', 'analyst', 'owner'] },
      schema: {
        summary: 'Minimum necessary, measured: which granted columns and aggregates its answers used',
        tags: ['grants'],
        params: z.object({ id: grantId }),
        response: { 200: scopeSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const grant = await visibleGrant(app, principalOf(request), request.params.id)
      const review = await scopeReview(app.db, grant, (await getDataset(app.db, grant.dataset)).spec)
      return {
        ...review,
        columns: review.columns.map((c) => ({ ...c })),
        aggregates: review.aggregates.map((a) => ({ ...a })),
        unused: { columns: [...review.unused.columns], aggregates: [...review.unused.aggregates] },
      }
    },
  )

  r.delete(
    '/v1/grants/:id',
    {
      config: { roles: ['operator'] },
      schema: {
        summary: 'Revoke a grant: no query runs in it afterwards',
        tags: ['grants'],
        params: z.object({ id: grantId }),
        response: { 200: grantViewSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) =>
      grantView(await revokeGrant(app.db, request.params.id, actorOf(request)), (await readPolicy(app.db)).currency),
  )
}
