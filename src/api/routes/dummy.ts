import type { FastifyInstance, FastifyReply } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { identifierSchema } from '../../schema.js'
import { DUMMY_DEFAULT_ROWS, DUMMY_MAX_ROWS, DUMMY_NULL_RATE, dummyCsv, dummyTable } from '../../engine/dummy.js'
import { principalOf } from '../plugins/auth.js'
import { visibleDataset } from '../visibility.js'
import { problems } from '../schemas.js'

const dummyQuery = z.strictObject({
  rows: z.coerce
    .number()
    .int()
    .min(0)
    .max(DUMMY_MAX_ROWS, `at most ${DUMMY_MAX_ROWS} dummy rows a request`)
    .default(DUMMY_DEFAULT_ROWS)
    .describe(`how many rows, 0 to ${DUMMY_MAX_ROWS}; default ${DUMMY_DEFAULT_ROWS}`),
  seed: z.coerce
    .number()
    .int()
    .min(0)
    .max(0xffff_ffff)
    .default(0)
    .describe('the generator seed (0 to 2^32-1); the same seed gives the same rows'),
  format: z.enum(['json', 'csv']).optional().describe('json or csv; default from the Accept header, else json'),
})

const dummySchema = z
  .object({
    dataset: z.string(),
    dummy: z.literal(true).describe('always true: these rows are made up from the schema, not the data'),
    seed: z.number().int(),
    columns: z.array(z.string()),
    rows: z.array(z.array(z.union([z.string(), z.number(), z.boolean(), z.null()]))),
  })
  .meta({ id: 'DummyRows' })

/** Sends CSV as it is (the route's response schema documents the JSON form). */
function sendCsv(reply: FastifyReply, name: string, text: string): FastifyReply {
  return reply
    .type('text/csv; charset=utf-8')
    .header('content-disposition', `attachment; filename="${name}"`)
    .header('x-veilbox-dummy', 'true')
    .send(text)
}

/** GET /v1/datasets/{id}/dummy: rows made from the declared schema alone (engine/dummy.ts), never from a version. */
export default async function dummyRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>()
  r.get(
    '/v1/datasets/:id/dummy',
    {
      config: { roles: 'any' },
      schema: {
        summary: 'Dummy rows generated from the dataset schema alone: never the data',
        description: `Categories, bounds and nullability come from the declared columns; nullable columns are empty in ${DUMMY_NULL_RATE * 100}% of rows. No version is read: every version, and a dataset with none, gives the same rows for a seed. JSON, or CSV with format=csv or Accept: text/csv.`,
        tags: ['datasets'],
        params: z.object({ id: identifierSchema }),
        querystring: dummyQuery,
        response: { 200: dummySchema, ...problems(400, 401, 404) },
      },
    },
    async (request, reply) => {
      const record = await visibleDataset(app, principalOf(request), request.params.id)
      const { rows, seed, format } = request.query
      const table = dummyTable(record.spec, rows, seed)
      const csv = format === 'csv' || (format === undefined && /\btext\/csv\b/.test(request.headers.accept ?? ''))
      if (csv) return sendCsv(reply, `${record.spec.id}-dummy-${seed}.csv`, dummyCsv(table))
      return {
        dataset: record.spec.id,
        dummy: true as const,
        seed,
        columns: [...table.columns],
        rows: table.rows.map((r) => [...r]),
      }
    },
  )
}
