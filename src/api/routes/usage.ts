import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { identifierSchema } from '../../schema.js'
import { datasetNotFound, getDataset } from '../../store/datasets.js'
import { readPolicy } from '../../engine/market/policy.js'
import { listGrants } from '../../store/grants.js'
import { datasetUsage, grantQueryCounts } from '../../store/usage.js'
import { toNumber } from '../../engine/dp/budget.js'
import { principalOf } from '../plugins/auth.js'
import { problems } from '../schemas.js'
import { grantView, grantViewSchema } from './grants.js'

const micro = (units: bigint) => toNumber('epsilon', units)

export default async function usageRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>()

  r.get(
    '/v1/me/usage',
    {
      config: { roles: ['analyst'] },
      schema: {
        summary: 'Your grants: purpose, expiry, spent and remaining budget, and how many queries you ran',
        tags: ['usage'],
        response: {
          200: z.object({
            analyst: z.string(),
            grants: z.array(
              grantViewSchema.extend({
                queries: z.object({ released: z.number().int(), cached: z.number().int(), refused: z.number().int() }),
              }),
            ),
            queries: z.object({ released: z.number().int(), cached: z.number().int(), refused: z.number().int() }),
          }),
          ...problems(401, 403),
        },
      },
    },
    async (request) => {
      const p = principalOf(request)
      const grants = await listGrants(app.db, { analystId: p.id })
      const counts = await grantQueryCounts(
        app.db,
        grants.map((g) => g.id),
      )
      const { currency } = await readPolicy(app.db)
      const total = { released: 0, cached: 0, refused: 0 }
      const views = grants.map((g) => {
        const c = counts.get(g.id)!
        total.released += c.released
        total.cached += c.cached
        total.refused += c.refused
        return { ...grantView(g, currency), queries: c }
      })
      return { analyst: p.name, grants: views, queries: total }
    },
  )

  const entry = z.object({
    queries: z.number().int(),
    epsilon: z.number().describe('charged to the grant'),
    datasetEpsilon: z.number().describe('charged to the dataset'),
  })

  r.get(
    '/v1/datasets/:id/usage',
    {
      config: { roles: ['operator', 'owner'] },
      schema: {
        summary: 'Spend on a dataset per grant and per purpose, by day, from the audit chain: operators, and its owner',
        tags: ['usage'],
        params: z.object({ id: identifierSchema }),
        response: {
          200: z.object({
            dataset: z.string(),
            byGrant: z.array(
              entry.extend({
                grant: z.string().nullable(),
                analyst: z.string().nullable(),
                purpose: z.string().nullable(),
              }),
            ),
            byPurpose: z.array(entry.extend({ purpose: z.string().nullable() })),
            timeline: z.array(
              entry.extend({ day: z.string(), grant: z.string().nullable(), purpose: z.string().nullable() }),
            ),
          }),
          ...problems(401, 403, 404),
        },
      },
    },
    async (request) => {
      const id = request.params.id
      const p = principalOf(request)
      const record = await getDataset(app.db, id)
      // An owner reads its own datasets' usage; another dataset is refused as an unknown one.
      if (p.role === 'owner' && record.owner?.id !== p.id) throw datasetNotFound(id)
      const rows = await datasetUsage(app.db, id)
      const analysts = new Map((await listGrants(app.db, { dataset: id })).map((g) => [g.id, g.analyst]))
      const sum = <K extends string>(key: (r: (typeof rows)[number]) => K) => {
        const m = new Map<K, { queries: number; e: bigint; d: bigint; sample: (typeof rows)[number] }>()
        for (const r of rows) {
          const k = key(r)
          const e = m.get(k) ?? { queries: 0, e: 0n, d: 0n, sample: r }
          e.queries += r.queries
          e.e += r.epsilonCharged
          e.d += r.datasetEpsilonCharged
          m.set(k, e)
        }
        return [...m.values()]
      }
      return {
        dataset: id,
        byGrant: sum((r) => String(r.grant)).map((e) => ({
          grant: e.sample.grant,
          analyst: e.sample.grant === null ? null : (analysts.get(e.sample.grant) ?? null),
          purpose: e.sample.purpose,
          queries: e.queries,
          epsilon: micro(e.e),
          datasetEpsilon: micro(e.d),
        })),
        byPurpose: sum((r) => String(r.purpose)).map((e) => ({
          purpose: e.sample.purpose,
          queries: e.queries,
          epsilon: micro(e.e),
          datasetEpsilon: micro(e.d),
        })),
        timeline: rows.map((r) => ({
          day: r.day,
          grant: r.grant,
          purpose: r.purpose,
          queries: r.queries,
          epsilon: micro(r.epsilonCharged),
          datasetEpsilon: micro(r.datasetEpsilonCharged),
        })),
      }
    },
  )
}
