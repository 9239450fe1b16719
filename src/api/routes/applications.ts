import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { applicationView } from '../../engine/market/application-view.js'
import type { DatasetUse, Narrowing } from '../../engine/market/terms.js'
import {
  decide,
  submitApplication,
  visibleApplication,
  visibleApplications,
  withdraw,
} from '../../engine/market/applications.js'
import type { ApplicationRecord } from '../../store/applications.js'
import { MAX_MONEY_CAP } from '../../engine/market/dataset.js'
import { scenarioSchema } from '../../engine/market/policy.js'
import { GRANT_AGGREGATES } from '../../engine/policy/grant.js'
import { identifierSchema } from '../../schema.js'
import { principalOf } from '../plugins/auth.js'
import { problems } from '../schemas.js'
import { visibleDataset } from '../visibility.js'

const aggregates = z.array(z.enum(GRANT_AGGREGATES)).min(1).max(GRANT_AGGREGATES.length)
const columns = z.array(identifierSchema).min(1).max(256)
const epsilon = z.number().finite().gt(0).max(1_000_000)
const delta = z.number().min(0).lt(1)
const moneyCap = z.number().int().min(0).max(MAX_MONEY_CAP).describe('minor units of the currency (fen for CNY)')
const reason = z.string().trim().min(3).max(2000)

const useSchema = z.object({
  dataset: z.string(),
  columns: z.array(z.string()).nullable(),
  aggregates: z.array(z.string()).nullable(),
})

const narrowSchema = z.strictObject({
  datasets: z
    .array(
      z.strictObject({
        dataset: identifierSchema,
        columns: columns.optional(),
        aggregates: aggregates.optional(),
      }),
    )
    .max(16)
    .optional(),
  epsilon: epsilon.optional(),
  delta: delta.optional(),
  moneyCap: moneyCap.optional(),
})

export const applicationViewSchema = z
  .object({
    id: z.string(),
    state: z.enum(['pending', 'approved', 'denied', 'withdrawn', 'expired']),
    analyst: z.object({ id: z.string(), name: z.string() }),
    organization: z.string(),
    purpose: z.string(),
    scenario: z.string(),
    datasets: z.array(useSchema),
    epsilon: z.number(),
    delta: z.number(),
    moneyCap: z.number().int().nullable(),
    durationDays: z.number().int(),
    submittedAt: z.string(),
    expiresAt: z.string().describe('a pending application takes decisions until then, and is expired after'),
    decidedAt: z.string().nullable(),
    parties: z.array(
      z.object({
        party: z.enum(['operator', 'owner']),
        owner: z.object({ id: z.string(), name: z.string() }).nullable(),
        datasets: z.array(z.string()),
        decision: z.enum(['approve', 'deny']).nullable(),
        reason: z.string().nullable(),
        by: z.string().nullable(),
        at: z.string().nullable(),
        narrow: narrowSchema.nullable(),
      }),
    ),
    approved: z
      .object({
        datasets: z.array(useSchema),
        epsilon: z.number(),
        delta: z.number(),
        moneyCap: z.number().int().nullable(),
      })
      .nullable()
      .describe('what every approval allowed, once approved'),
    grants: z
      .array(z.string())
      .describe('the grant made when the last approval landed: one, covering every dataset named'),
  })
  .meta({ id: 'Application' })

type ViewOut = z.output<typeof applicationViewSchema>

function useOut(u: DatasetUse): ViewOut['datasets'][number] {
  return {
    dataset: u.dataset,
    columns: u.columns === null ? null : [...u.columns],
    aggregates: u.aggregates === null ? null : [...u.aggregates],
  }
}

function narrowOut(n: Narrowing): z.output<typeof narrowSchema> {
  return {
    ...(n.datasets === undefined
      ? {}
      : {
          datasets: n.datasets.map((d) => ({
            dataset: d.dataset,
            ...(d.columns === undefined ? {} : { columns: [...d.columns] }),
            ...(d.aggregates === undefined ? {} : { aggregates: [...d.aggregates] }),
          })),
        }),
    ...(n.epsilon === undefined ? {} : { epsilon: n.epsilon }),
    ...(n.delta === undefined ? {} : { delta: n.delta }),
    ...(n.moneyCap === undefined ? {} : { moneyCap: n.moneyCap }),
  }
}

/** The engine's view in the schema's mutable form. */
function view(a: ApplicationRecord): ViewOut {
  const v = applicationView(a)
  return {
    ...v,
    datasets: v.datasets.map(useOut),
    parties: v.parties.map((p) => ({
      ...p,
      datasets: [...p.datasets],
      narrow: p.narrow === null ? null : narrowOut(p.narrow),
    })),
    approved: v.approved === null ? null : { ...v.approved, datasets: v.approved.datasets.map(useOut) },
    grants: [...v.grants],
  }
}

const appId = z.string().regex(/^a_[0-9a-f]{16}$/, 'an application id looks like a_ followed by 16 hex digits')

/** Applications for a use of data (docs/market.md): submit, decide, withdraw. */
export default async function applicationRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>()

  r.post(
    '/v1/applications',
    {
      config: { roles: ['analyst'] },
      schema: {
        summary: 'Apply for one use of data: purpose, scenario, datasets, columns, aggregates, budget, duration',
        description:
          'Checked at once against the negative list, the level policy and the datasets; a refusal names the rule and stores nothing. The operator and the owner of each dataset named then approve or deny.',
        tags: ['applications'],
        body: z.strictObject({
          purpose: z.string().trim().min(3).max(500),
          scenario: scenarioSchema,
          organization: z.string().trim().min(2).max(200),
          datasets: z
            .array(
              z.strictObject({
                dataset: identifierSchema,
                columns: columns.nullable().optional().describe('absent or null: every column'),
                aggregates: aggregates.nullable().optional().describe('absent or null: every aggregate'),
              }),
            )
            .min(1)
            .max(16),
          epsilon,
          delta: delta.default(0),
          moneyCap: moneyCap.optional(),
          durationDays: z.number().int().min(1).max(3650),
        }),
        response: { 201: applicationViewSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const p = principalOf(request)
      const b = request.body
      // A dataset the analyst may not see is refused exactly as an unknown one.
      const records = []
      for (const d of b.datasets) records.push(await visibleDataset(app, p, d.dataset))
      const a = await submitApplication(
        app.db,
        p,
        {
          purpose: b.purpose,
          scenario: b.scenario,
          organization: b.organization,
          datasets: b.datasets.map((d) => ({
            dataset: d.dataset,
            columns: d.columns ?? null,
            aggregates: d.aggregates ?? null,
          })),
          epsilon: b.epsilon,
          delta: b.delta,
          moneyCap: b.moneyCap ?? null,
          durationDays: b.durationDays,
        },
        records,
        new Date(),
      )
      return reply.code(201).send(view(a))
    },
  )

  r.get(
    '/v1/applications',
    {
      config: { roles: ['operator', 'owner', 'analyst'] },
      schema: {
        summary: 'Applications: analysts see their own, owners those naming their datasets, operators all',
        tags: ['applications'],
        querystring: z.strictObject({
          state: z.enum(['pending', 'approved', 'denied', 'withdrawn', 'expired']).optional(),
        }),
        response: { 200: z.object({ applications: z.array(applicationViewSchema) }), ...problems(400, 401, 403) },
      },
    },
    async (request) => ({
      applications: (await visibleApplications(app.db, principalOf(request), request.query.state)).map(view),
    }),
  )

  r.get(
    '/v1/applications/:id',
    {
      config: { roles: ['operator', 'owner', 'analyst'] },
      schema: {
        summary: 'One application with each party decision',
        tags: ['applications'],
        params: z.object({ id: appId }),
        response: { 200: applicationViewSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => view(await visibleApplication(app.db, principalOf(request), request.params.id)),
  )

  r.post(
    '/v1/applications/:id/approve',
    {
      config: { roles: ['operator', 'owner'] },
      schema: {
        summary: 'Approve, with a reason, optionally narrowing the columns, aggregates, budget or money cap',
        description:
          'The last approval makes the grants, in the same transaction. An owner narrows only its own datasets.',
        tags: ['applications'],
        params: z.object({ id: appId }),
        body: z.strictObject({ reason, narrow: narrowSchema.optional() }),
        response: { 200: applicationViewSchema, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request) =>
      view(
        await decide(
          app.db,
          principalOf(request),
          request.params.id,
          { kind: 'approve', reason: request.body.reason, narrow: request.body.narrow ?? null },
          new Date(),
        ),
      ),
  )

  r.post(
    '/v1/applications/:id/deny',
    {
      config: { roles: ['operator', 'owner'] },
      schema: {
        summary: 'Deny, with a reason: the application ends',
        tags: ['applications'],
        params: z.object({ id: appId }),
        body: z.strictObject({ reason }),
        response: { 200: applicationViewSchema, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request) =>
      view(
        await decide(
          app.db,
          principalOf(request),
          request.params.id,
          { kind: 'deny', reason: request.body.reason, narrow: null },
          new Date(),
        ),
      ),
  )

  r.post(
    '/v1/applications/:id/withdraw',
    {
      config: { roles: ['analyst'] },
      schema: {
        summary: 'Withdraw: a pending application closes; an approved one closes and its grants are revoked',
        tags: ['applications'],
        params: z.object({ id: appId }),
        response: { 200: applicationViewSchema, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request) => view(await withdraw(app.db, principalOf(request), request.params.id, new Date())),
  )
}
