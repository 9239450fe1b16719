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
import { grantLimitFields, grantLimits, grantLimitsSchema, grantLimitTerms } from '../grant-limits.js'
import { actorOf, principalOf } from '../plugins/auth.js'
import { ledgerViewSchema, principalNameSchema, problems } from '../schemas.js'

export const grantViewSchema = z
  .object({
    id: z.string(),
    analyst: z.string().describe("the analyst's name when the grant was made"),
    analystId: z
      .string()
      .describe('the analyst principal the grant belongs to; a name revoked and issued again is another principal'),
    dataset: z.string().describe('the first of datasets'),
    datasets: z.array(z.string()).describe('every dataset the grant covers (one, or several for joins)'),
    purpose: z.string(),
    columns: z
      .array(z.string())
      .nullable()
      .describe(
        "null: every column; `dataset.column` names one dataset's column, a plain name that column in any of them",
      ),
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
    maxGroupsContributed: z
      .number()
      .int()
      .nullable()
      .describe("partition selection: the most keys one unit counts in, for this grant's queries; null: the dataset's"),
    templatesOnly: z.boolean().describe('the grant runs approved templates only; ad-hoc SQL is refused'),
    limits: grantLimitsSchema
      .optional()
      .describe('GET /v1/grants/{id} only: the cap per answer, the budget window now, and how many more answers fit'),
  })
  .meta({ id: 'Grant' })

export function grantView(g: GrantRecord, currency: string, now = Date.now()): z.infer<typeof grantViewSchema> {
  return {
    id: g.id,
    analyst: g.analyst,
    analystId: g.analystId,
    dataset: g.dataset,
    datasets: [...g.datasets],
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
    maxGroupsContributed: g.maxGroupsContributed,
    templatesOnly: g.templatesOnly,
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
    (p.role === 'owner' && (await ownedDatasets(app, p.id).then((own) => grant.datasets.some((d) => own.has(d)))))
  if (!mine) {
    throw new VeilboxError('VEILBOX_ERR_POLICY_NOT_YOUR_GRANT', `grant ${grant.id} was made for another analyst`, {
      grant: grant.id,
    })
  }
  return grant
}

/** The most datasets one grant may cover. */
const MAX_GRANT_DATASETS = 8

/** A grant's column entry: a column name, or `dataset.column`. */
const grantColumnSchema = z
  .string()
  .regex(
    /^([a-z_][a-z0-9_]{0,62}\.)?[a-z_][a-z0-9_]{0,62}$/,
    'must be a column name, or dataset.column: lower-case letters, digits and _, each part starting with a letter or _',
  )

/** The datasets a grant request names: exactly one of dataset and datasets, each once. */
function grantDatasets(b: { dataset?: string | undefined; datasets?: string[] | undefined }): string[] {
  if ((b.dataset === undefined) === (b.datasets === undefined)) {
    throw new VeilboxError(
      'VEILBOX_ERR_REQUEST_VALIDATION',
      'name the grant\'s data with exactly one of "dataset" (one) and "datasets" (several, for joins)',
      { errors: [{ path: 'body', message: 'exactly one of dataset and datasets' }] },
    )
  }
  const names = b.datasets ?? [b.dataset!]
  const twice = names.find((d, i) => names.indexOf(d) !== i)
  if (twice !== undefined) {
    throw new VeilboxError('VEILBOX_ERR_POLICY_BAD_GRANT', `datasets names ${twice} twice; list each dataset once`, {
      field: 'datasets',
      dataset: twice,
    })
  }
  return names
}

/**
 * Each dataset's granted columns, from entries that are plain names (a
 * column of any dataset that has it) or `dataset.column`; every entry must
 * name a column of a dataset the grant covers. A dataset no entry reaches
 * gets an empty list: the grant lets the query read none of its columns.
 */
function grantColumns(
  records: readonly { spec: { id: string; columns: readonly { name: string }[] } }[],
  columns: readonly string[] | null,
): Map<string, string[]> {
  const out = new Map<string, string[]>()
  if (columns === null) return out
  for (const r of records) out.set(r.spec.id, [])
  for (const entry of columns) {
    const dot = entry.indexOf('.')
    const dataset = dot < 0 ? null : entry.slice(0, dot)
    const column = dot < 0 ? entry : entry.slice(dot + 1)
    const targets = records.filter((r) => dataset === null || r.spec.id === dataset)
    if (dataset !== null && targets.length === 0) {
      throw new VeilboxError(
        'VEILBOX_ERR_POLICY_BAD_GRANT',
        `column ${entry} names dataset ${dataset}, which the grant does not cover (it covers: ${records.map((r) => r.spec.id).join(', ')})`,
        { field: 'columns', column: entry },
      )
    }
    const holders = targets.filter((r) => r.spec.columns.some((c) => c.name === column))
    if (holders.length === 0) {
      const detail =
        targets.length === 1
          ? `dataset ${targets[0]!.spec.id} has no column ${column} (it has: ${targets[0]!.spec.columns.map((c) => c.name).join(', ')})`
          : `none of the datasets ${targets.map((r) => r.spec.id).join(', ')} has a column ${column}`
      throw new VeilboxError('VEILBOX_ERR_POLICY_BAD_GRANT', detail, {
        field: 'columns',
        column: entry,
      })
    }
    for (const h of holders) out.get(h.spec.id)!.push(column)
  }
  return out
}

export default async function grantRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>()

  r.post(
    '/v1/grants',
    {
      config: { roles: ['operator'] },
      schema: {
        summary:
          'Authorize one analyst for one purpose on one dataset (or several, for joins), with a privacy budget and an expiry',
        tags: ['grants'],
        body: z.strictObject({
          analyst: principalNameSchema,
          dataset: identifierSchema.optional().describe('the dataset; or give datasets'),
          datasets: z
            .array(identifierSchema)
            .min(1)
            .max(MAX_GRANT_DATASETS)
            .optional()
            .describe('several datasets, for queries that join them; each answer charges every dataset it reads'),
          purpose: z.string().trim().min(3).max(500),
          columns: z
            .array(grantColumnSchema)
            .min(1)
            .max(256)
            .optional()
            .describe("column names, or `dataset.column` to name one dataset's column"),
          aggregates: z.array(z.enum(GRANT_AGGREGATES)).min(1).optional(),
          epsilon: z.number().finite().gt(0).max(1_000_000),
          delta: z.number().min(0).lt(1).default(0),
          expiresAt: z.iso.datetime({ offset: true }),
          scenario: scenarioSchema.default(DEFAULT_SCENARIO).describe('the scenario category of use'),
          organization: z.string().trim().min(2).max(200).optional(),
          moneyCap: z.number().int().min(0).max(MAX_MONEY_CAP).optional().describe('minor units (fen for CNY)'),
          maxGroupsContributed: z
            .number()
            .int()
            .min(1)
            .max(100)
            .optional()
            .describe(
              "partition selection: the most keys of a selected GROUP BY column one unit counts in, for this grant's queries, in place of the dataset's",
            ),
          ...grantLimitFields,
        }),
        response: { 201: grantViewSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const b = request.body
      const names = grantDatasets(b)
      const records = []
      for (const d of names) records.push(await getDataset(app.db, d))
      if (Date.parse(b.expiresAt) <= Date.now()) {
        throw new VeilboxError('VEILBOX_ERR_POLICY_BAD_GRANT', `expiresAt ${b.expiresAt} is not in the future`, {
          field: 'expiresAt',
        })
      }
      const columnsOf = grantColumns(records, b.columns ?? null)
      // A direct grant meets the same negative list and level policy as an application (docs/market.md), per dataset.
      const policy = await readPolicy(app.db)
      for (const record of records) {
        checkUse(policy, {
          spec: record.spec,
          levels: recordLevels(record),
          columns: columnsOf.get(record.spec.id) ?? null,
          scenario: b.scenario,
        })
      }
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
          dataset: names[0]!,
          datasets: names,
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
          maxGroupsContributed: b.maxGroupsContributed ?? null,
          ...grantLimitTerms(b),
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
        summary: 'One grant with its budget, its window and cap per answer, and how many more answers fit',
        tags: ['grants'],
        params: z.object({ id: grantId }),
        querystring: z.strictObject({
          epsilon: z.coerce.number().finite().gt(0).max(1_000_000).optional().describe('the shape: epsilon per answer'),
        }),
        response: { 200: grantViewSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const grant = await visibleGrant(app, principalOf(request), request.params.id)
      const limits = await grantLimits(app, grant, request.query.epsilon)
      return { ...grantView(grant, (await readPolicy(app.db)).currency), limits }
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
