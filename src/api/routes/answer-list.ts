import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { toNumber } from '../../engine/dp/budget.js'
import { listAnswers } from '../../store/answers.js'
import { principalOf } from '../plugins/auth.js'
import { problems } from '../schemas.js'

/** GET /v1/queries: released answers, newest first (moved out of queries.ts, which holds the answer and preview schemas). */
export default async function answerListRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>()
  r.get(
    '/v1/queries',
    {
      config: { roles: ['analyst', 'operator'] },
      schema: {
        summary: 'Released answers, newest first: analysts see their own',
        tags: ['queries'],
        querystring: z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(50) }),
        response: {
          200: z.object({
            answers: z.array(
              z.object({
                queryId: z.string(),
                grant: z.string(),
                dataset: z.string(),
                version: z.number(),
                queryHash: z.string(),
                epsilon: z.number(),
                createdAt: z.string(),
              }),
            ),
          }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) => {
      const p = principalOf(req)
      const rows = await listAnswers(app.db, p.role === 'operator' ? null : p.id, req.query.limit)
      return {
        answers: rows.map((a) => ({
          queryId: a.queryId,
          grant: a.grant,
          dataset: a.dataset,
          version: a.version,
          queryHash: a.queryHash,
          epsilon: toNumber('epsilon', a.epsilonCharged),
          createdAt: a.createdAt,
        })),
      }
    },
  )
}
