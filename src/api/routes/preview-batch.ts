import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { queryJsonSchema } from '../../engine/query/index.js'
import type { BatchPreview } from '../../engine/queries.js'
import { principalOf } from '../plugins/auth.js'
import { problems } from '../schemas.js'

/** One query's preview: the Preview of POST /v1/queries/preview, as that route documents it. */
const previewSchema = z
  .looseObject({
    dataset: z.string(),
    privacy: z.looseObject({ epsilon: z.number(), perAggregate: z.array(z.looseObject({ name: z.string() })) }),
    affordable: z.boolean(),
  })
  .describe("as POST /v1/queries/preview's response (Preview)")

const batchBody = z
  .strictObject({
    grant: z.string().min(1).max(64).describe('the grant the queries would run in'),
    epsilon: z.number().finite().gt(0).max(1_000_000).describe('the total epsilon to split across the queries'),
    delta: z.number().gt(0).lt(1).optional().describe("gaussian only; defaults to the grant's delta"),
    mechanism: z.enum(['laplace', 'gaussian']).optional().describe('default laplace'),
    confidence: z.number().gt(0).lt(1).optional().describe('level of the intervals, default 0.95'),
    version: z.number().int().min(1).optional().describe('dataset version; default the latest'),
    split: z
      .enum(['weights', 'relative'])
      .optional()
      .describe(
        "weights (default): parts proportional to each query's weight (default 1); relative: parts that make the queries' worst half-widths relative to their expected values equal",
      ),
    queries: z
      .array(
        z.strictObject({
          sql: z.string().min(1).max(65_536).optional(),
          query: queryJsonSchema.optional(),
          weight: z.number().finite().gt(0).optional().describe('split weights: its share'),
          expected: z
            .record(z.string(), z.number().finite())
            .optional()
            .describe('split relative: the value you expect per COUNT or SUM output, by name (never the private one)'),
        }),
      )
      .min(1)
      .max(16),
  })
  .meta({ id: 'BatchPreviewRequest' })

const batchSchema = z
  .object({
    split: z.enum(['weights', 'relative']),
    epsilon: z.number(),
    affordable: z
      .boolean()
      .describe("every query affordable at its part, and the parts together within the grant's remaining epsilon"),
    queries: z.array(z.object({ epsilon: z.number(), preview: previewSchema })),
  })
  .meta({ id: 'BatchPreview' })

function batchView(b: BatchPreview): z.output<typeof batchSchema> {
  return {
    ...b,
    queries: b.queries.map((q) => ({
      epsilon: q.epsilon,
      preview: {
        ...q.preview,
        privacy: { ...q.preview.privacy, perAggregate: q.preview.privacy.perAggregate.map((a) => ({ ...a })) },
      },
    })),
  }
}

export default async function previewBatchRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>()
  r.post(
    '/v1/queries/preview/batch',
    {
      config: { roles: ['analyst'] },
      schema: {
        summary: 'Split a total epsilon across several queries and preview each at its part; spends nothing',
        description:
          'The split rule is stated in docs/queries.md (Batch previews): by weights, or to make the relative half-widths against stated expected values equal.',
        tags: ['queries'],
        body: batchBody,
        response: { 200: batchSchema, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (req) => {
      const { queries, split, ...shared } = req.body
      return batchView(await app.queries.previewBatch(principalOf(req), { shared, queries, split: split ?? 'weights' }))
    },
  )
}
