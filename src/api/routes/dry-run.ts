import type { FastifyInstance, FastifyReply } from 'fastify'
import { z } from 'zod'
import type { QueryRequest } from '../../engine/queries.js'
import type { Principal } from '../../store/keys.js'
import { dummyColumns } from '../dummy-version.js'

/**
 * `"dryRun": true` on POST /v1/queries (issue 24, point 5): the query's plan
 * run on dummy rows (engine/pipeline/dry-run.ts), free, audited, never stored
 * or cached, and marked as dummy at the top and in every value.
 */

export const dryRunField = z
  .boolean()
  .optional()
  .describe(
    'run the plan on dummy rows made from the schema alone: free, audited, never stored, marked as dummy in every field (DryRunResult)',
  )

const wrapped = z.object({ dummy: z.unknown() })

export const dryRunSchema = z
  .object({
    dummy: z.literal(true),
    kind: z.literal('dummy'),
    notice: z.string(),
    dryRunId: z.string().describe('dry_ and 24 hex digits: never a query id'),
    grant: z.string(),
    dataset: z.string(),
    sql: z.string().nullable(),
    dummyRows: z.number().int().describe('the rows of the dummy version the plan ran on'),
    columns: z.array(z.string()),
    rows: z.array(z.array(wrapped)).describe('every value wrapped as {dummy: value}'),
    intervals: z.array(z.array(z.object({ dummy: z.tuple([z.number(), z.number()]) }).nullable())),
    confidence: z.number(),
    privacy: z.object({
      dummy: z.literal(true),
      mechanism: z.string(),
      epsilon: z.number().describe('what a real answer would spend; nothing was'),
      delta: z.number(),
      charged: z.object({
        grant: z.object({ epsilon: z.literal(0), delta: z.literal(0) }),
        dataset: z.object({ epsilon: z.literal(0), delta: z.literal(0) }),
      }),
    }),
    cached: z.literal(false),
    createdAt: z.string(),
  })
  .meta({
    id: 'DryRunResult',
    description: 'A dry run: no receipt, no price, no queryId, no budget spent; it can never be mistaken for a release',
  })

/** The dry-run runner of one route plugin: its dummy versions are kept across requests. */
export function dryRunner(app: FastifyInstance) {
  const columnsOf = dummyColumns()
  return async (reply: FastifyReply, principal: Principal, query: QueryRequest): Promise<FastifyReply> => {
    const result = await app.queries.dryRun(principal, query, columnsOf)
    return reply.type('application/json; charset=utf-8').header('x-veilbox-dummy', 'true').send(JSON.stringify(result))
  }
}
