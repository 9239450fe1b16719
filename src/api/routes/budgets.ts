import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { VeilboxError } from '../../errors/index.js'
import { toText } from '../../engine/dp/budget.js'
import { belowSpent, budgetTotals, budgetView, ledgerOf } from '../../engine/policy/pricing.js'
import { identifierSchema } from '../../schema.js'
import { datasetWindowRefresh, findDatasetBudget, setDatasetBudget } from '../../store/budgets.js'
import { datasetNotFound, findDataset } from '../../store/datasets.js'
import { actorOf, principalOf } from '../plugins/auth.js'
import { holdsGrant } from '../visibility.js'
import { ledgerViewSchema, problems } from '../schemas.js'

const budgetResponse = z
  .object({ dataset: z.string() })
  .extend(ledgerViewSchema.shape)
  .extend({
    windowRefresh: z
      .boolean()
      .describe("whether its grants' budget windows refresh; false: a window cap holds for the grant's life"),
  })
  .meta({ id: 'DatasetBudget' })

export default async function budgetRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>()

  r.put(
    '/v1/datasets/:id/budget',
    {
      config: { roles: ['operator'] },
      schema: {
        summary: "Set a dataset's total privacy budget (what is spent carries over)",
        tags: ['budgets'],
        params: z.object({ id: identifierSchema }),
        body: z.strictObject({
          epsilon: z.number().finite().min(0).max(1_000_000),
          delta: z.number().min(0).lt(1).default(0),
          windowRefresh: z
            .boolean()
            .optional()
            .describe(
              "false: its grants' budget windows never refresh (each window cap then holds for the grant's life); absent: unchanged, true for a new budget",
            ),
        }),
        response: { 200: budgetResponse, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      const { epsilon, delta, windowRefresh } = request.body
      // Totals round down (a charge rounds up): a budget never holds more than was set.
      const totals = budgetTotals(epsilon, delta)
      const { ledger, belowSpent: refused } = await setDatasetBudget(
        app.db,
        request.params.id,
        totals,
        actorOf(request),
        {
          epsilon: toText('epsilon', totals.epsilon),
          delta: toText('delta', totals.delta),
        },
        windowRefresh,
      )
      if (refused) throw belowSpent(request.params.id, ledgerOf(ledger))
      const refresh = await datasetWindowRefresh(app.db, request.params.id)
      return { dataset: request.params.id, ...budgetView(ledger), windowRefresh: refresh }
    },
  )

  r.get(
    '/v1/datasets/:id/budget',
    {
      config: { roles: ['operator', 'analyst'] },
      schema: {
        summary: "A dataset's privacy budget: total, spent, remaining (analysts: datasets they hold a grant on)",
        tags: ['budgets'],
        params: z.object({ id: identifierSchema }),
        response: { 200: budgetResponse, ...problems(401, 403, 404, 409) },
      },
    },
    async (request) => {
      const p = principalOf(request)
      // An analyst without a grant on the dataset gets what an unknown id gets: its budget is not theirs to watch.
      if (
        p.role === 'analyst'
          ? !(await holdsGrant(app, p, request.params.id))
          : (await findDataset(app.db, request.params.id)) === null
      )
        throw datasetNotFound(request.params.id)
      const ledger = await findDatasetBudget(app.db, request.params.id)
      if (!ledger) {
        throw new VeilboxError(
          'VEILBOX_ERR_BUDGET_NOT_SET',
          `dataset ${request.params.id} has no privacy budget yet; set one with PUT /v1/datasets/${request.params.id}/budget`,
          {
            dataset: request.params.id,
          },
        )
      }
      const refresh = await datasetWindowRefresh(app.db, request.params.id)
      return { dataset: request.params.id, ...budgetView(ledger), windowRefresh: refresh }
    },
  )
}
