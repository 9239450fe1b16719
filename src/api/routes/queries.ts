import type { FastifyInstance, FastifyReply } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { queryJsonSchema } from '../../engine/query/index.js'
import type { AccuracyTarget, Answer, Preview, QueryRequest } from '../../engine/queries.js'
import { VeilboxError } from '../../errors/index.js'
import { AnswerCache } from '../answers.js'
import { principalOf } from '../plugins/auth.js'
import { problems } from '../schemas.js'
import reportRoutes from './report.js'
import answerListRoutes from './answer-list.js'
import { dryRunField, dryRunner, dryRunSchema } from './dry-run.js'

const queryBody = z
  .strictObject({
    sql: z.string().min(1).max(65_536).optional().describe('the query in the SQL subset (docs/query-language.md)'),
    query: queryJsonSchema.optional().describe('the same query as a JSON tree, instead of sql'),
    grant: z.string().min(1).max(64).describe('the grant the query runs in'),
    epsilon: z.number().finite().gt(0).max(1_000_000).describe('the privacy budget of this answer'),
    delta: z.number().gt(0).lt(1).optional().describe("gaussian only; defaults to the grant's delta"),
    mechanism: z.enum(['laplace', 'gaussian']).optional().describe('default laplace'),
    confidence: z.number().gt(0).lt(1).optional().describe('level of the intervals, default 0.95'),
    weights: z
      .array(z.number().finite().gt(0))
      .min(1)
      .max(64)
      .optional()
      .describe('how the epsilon is split across the aggregates; default evenly'),
    version: z.number().int().min(1).optional().describe('dataset version; default the latest'),
  })
  .meta({ id: 'QueryRequest' })

const targetSchema = z
  .strictObject({
    halfWidth: z
      .number()
      .finite()
      .gt(0)
      .optional()
      .describe('the largest half-width wanted for every COUNT and SUM output, in its own units'),
    relative: z
      .number()
      .finite()
      .gt(0)
      .optional()
      .describe('the largest half-width wanted as a fraction of the expected value stated for each output in expected'),
    expected: z
      .record(z.string(), z.number().finite())
      .optional()
      .describe(
        'by COUNT or SUM output name: the value you expect (a public guess, never the private true value), which relative is a fraction of',
      ),
  })
  .meta({
    id: 'AccuracyTarget',
    description:
      'Accuracy first: the preview searches the smallest epsilon (in micro-units) whose half-widths at the confidence meet the target, up to epsilon (or 1,000,000 without it); give halfWidth, or relative with expected (docs/queries.md)',
  })

const previewBody = queryBody
  .extend({
    epsilon: queryBody.shape.epsilon
      .optional()
      .describe('the privacy budget of this answer; with a target, the most to spend'),
    target: targetSchema.optional(),
  })
  .meta({ id: 'PreviewRequest' })

/** The ceiling of an accuracy search without an epsilon: the request schema's largest. */
const MAX_EPSILON = 1_000_000

const cell = z.union([z.string(), z.number(), z.boolean(), z.null()])
const chargeView = z.object({ epsilon: z.number(), delta: z.number() })
const selectionSchema = z
  .object({
    column: z.string(),
    epsilon: z.number(),
    delta: z.number(),
    maxGroupsContributed: z.number().int(),
    threshold: z.number().describe('the smallest noisy count of units a key needs to be released'),
    noise: z.number().describe('the Laplace scale of the count of units'),
  })
  .describe('DP partition selection: what finding the GROUP BY keys in the data cost, beside the aggregates')

const perAggregate = z.looseObject({
  name: z.string(),
  aggregate: z.string(),
  column: z.string().nullable(),
  epsilon: z.number().optional(),
  rho: z.number().optional(),
  noise: z.record(z.string(), z.number()),
  halfWidth: z.number().nullable(),
  bounds: z
    .object({ lower: z.number(), upper: z.number(), source: z.enum(['analyst', 'declared']) })
    .optional()
    .describe(
      "SUM, AVG, VAR, STDDEV and quantiles: the range values were clamped to, the analyst's BOUNDS or the column's declared bounds",
    ),
  errorBound: z
    .union([
      z.object({
        kind: z.literal('avg'),
        sumHalfWidth: z.number(),
        countHalfWidth: z.number(),
        maxAbs: z.number(),
      }),
      z.object({ kind: z.literal('quantile'), rankHalfWidth: z.number(), binWidth: z.number() }),
    ])
    .optional()
    .describe(
      'AVG and quantiles, whose interval depends on the data: a bound from public facts at the confidence. AVG: error at most (sumHalfWidth + maxAbs * countHalfWidth) / (n - countHalfWidth) for n rows; quantiles: within binWidth of a value whose rank is within rankHalfWidth rows of the rank asked for',
    ),
})
const remaining = z.object({ epsilon: z.number(), delta: z.number() })
export const priceSchema = z
  .object({
    amount: z.number().int().describe('integer minor units of the currency (fen for CNY)'),
    currency: z.string(),
    text: z.string().describe('the amount for people, e.g. "12.34 CNY"'),
    scenario: z.string().describe("the grant's scenario category, whose price list applies"),
    perEpsilon: z.number().int(),
    perAnswer: z.number().int(),
  })
  .meta({ id: 'Price', description: 'What a fresh answer costs in money (docs/market.md); repeats are free' })

export const receiptSchema = z
  .object({
    queryId: z.string(),
    dataset: z.string(),
    version: z.number().int(),
    datasetCommitment: z
      .string()
      .describe(
        "the version's salted commitment (HMAC-SHA256 of its content hash under a secret per-version salt); the operator can open it to an auditor",
      ),
    joined: z
      .array(z.object({ dataset: z.string(), version: z.number().int(), datasetCommitment: z.string() }))
      .optional()
      .describe("a join's other datasets, each with the version read and its commitment"),
    publicTables: z
      .array(z.object({ dataset: z.string(), version: z.number().int(), datasetCommitment: z.string() }))
      .optional()
      .describe(
        'the public reference tables a join read (never charged), each with the version read and its commitment',
      ),
    queryHash: z.string(),
    resultHash: z.string(),
    privacy: z.looseObject({ mechanism: z.string(), epsilon: z.number(), delta: z.number() }),
    time: z.string(),
    auditRecord: z
      .string()
      .describe("opaque id of the release record in the audit chain, which carries this receipt's digest"),
    keyId: z.string(),
    signature: z.string(),
  })
  .meta({
    id: 'Receipt',
    description:
      'Ed25519 signature over the canonical JSON of the other fields; verify with GET /v1/receipts/keys. Answers released before veilbox 0.2 keep the receipt they were signed with (datasetSha256 and auditSeq in place of datasetCommitment and auditRecord).',
  })

export const answerSchema = z
  .object({
    queryId: z.string(),
    grant: z.string(),
    dataset: z.string(),
    datasets: z.array(z.string()).optional().describe('a join: every dataset it reads, `dataset` first'),
    version: z.number().int(),
    datasetCommitment: z.string(),
    queryHash: z.string(),
    sql: z.string().nullable(),
    columns: z.array(z.string()),
    rows: z.array(z.array(cell)),
    intervals: z.array(z.array(z.tuple([z.number(), z.number()]).nullable())),
    confidence: z.number(),
    privacy: z.object({
      mechanism: z.enum(['laplace', 'gaussian']),
      epsilon: z.number(),
      delta: z.number(),
      rho: z.number().optional(),
      perAggregate: z.array(perAggregate),
      selection: selectionSchema.optional(),
      charged: z.object({
        grant: chargeView,
        dataset: chargeView,
        datasets: z
          .record(z.string(), chargeView)
          .optional()
          .describe('a join: what each dataset it reads was charged'),
      }),
    }),
    budget: z.object({ remaining }),
    price: priceSchema.optional().describe('absent on answers released before the data market'),
    cached: z.boolean(),
    createdAt: z.string(),
    receipt: receiptSchema,
  })
  .meta({ id: 'Answer' })

const previewSchema = z
  .object({
    dataset: z.string(),
    version: z.number().int(),
    grant: z.string(),
    confidence: z.number(),
    cached: z.boolean(),
    privacy: z.object({
      mechanism: z.enum(['laplace', 'gaussian']),
      epsilon: z.number(),
      delta: z.number(),
      rho: z.number().optional(),
      perAggregate: z.array(perAggregate),
      selection: selectionSchema.optional(),
    }),
    charge: z.object({ grant: chargeView, dataset: chargeView }),
    budget: z.object({
      remaining,
      remainingAfter: remaining,
      dataset: z.object({ remaining, remainingAfter: remaining }),
    }),
    price: priceSchema,
    affordable: z.boolean(),
    refusal: z.object({ code: z.string(), detail: z.string(), scope: z.string() }).optional(),
    target: z
      .object({
        halfWidth: z.number().optional(),
        relative: z.number().optional(),
        expected: z.record(z.string(), z.number()).optional(),
        ceiling: z.number().describe('the most epsilon the search could propose'),
        met: z.boolean(),
        epsilon: z
          .number()
          .nullable()
          .describe(
            'the smallest epsilon meeting the target (one micro-unit less does not); null when none up to ceiling',
          ),
        aggregates: z.array(z.object({ name: z.string(), target: z.number(), halfWidth: z.number() })),
      })
      .optional()
      .describe(
        "an accuracy preview's search; the rest of the preview is at target.epsilon (or at ceiling when unmet)",
      ),
  })
  .meta({ id: 'Preview' })

function request(body: z.infer<typeof queryBody>): QueryRequest {
  return body
}

/**
 * Sends an answer's JSON as the engine made it: a fresh answer's is the text
 * stored for it, a repeat's is spliced from its stored form (answers.ts).
 * Fastify sends a string with a JSON content type as it is, without its
 * serializer; the route's response schema documents it.
 */
function sendAnswer(reply: FastifyReply, json: string): FastifyReply {
  return reply.type('application/json; charset=utf-8').send(json)
}

/** The engine's preview as the response schema types it (its per-aggregate entries copied into the schema's mutable form). */
function previewView(p: Preview): z.output<typeof previewSchema> {
  const { target, ...rest } = p
  return {
    ...rest,
    privacy: { ...p.privacy, perAggregate: p.privacy.perAggregate.map((a) => ({ ...a })) },
    ...(target === undefined
      ? {}
      : {
          target: {
            ...target,
            ...(target.expected === undefined ? {} : { expected: { ...target.expected } }),
            aggregates: target.aggregates.map((a) => ({ ...a })),
          },
        }),
  }
}

/** A preview request: an epsilon to price, or a target to meet within at most epsilon. */
function previewRequest(body: z.infer<typeof previewBody>): { req: QueryRequest; target?: AccuracyTarget } {
  const { target, epsilon, ...rest } = body
  if (target === undefined && epsilon === undefined) {
    throw new VeilboxError('VEILBOX_ERR_REQUEST_VALIDATION', 'a preview needs epsilon, or a target to meet', {
      errors: [{ path: 'body/epsilon', message: 'required without target' }],
    })
  }
  const req: QueryRequest = { ...rest, epsilon: epsilon ?? MAX_EPSILON }
  return target === undefined ? { req } : { req, target }
}

export default async function queryRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>()
  const answers = new AnswerCache()
  const load = (queryId: string) => app.queries.storedJson(queryId)
  await app.register(reportRoutes)
  await app.register(answerListRoutes)
  const runDry = dryRunner(app)

  r.post(
    '/v1/queries',
    {
      config: { roles: ['analyst'] },
      schema: {
        summary: 'Run an aggregate query inside a grant: noisy values with intervals, charged before they leave',
        description:
          'A fresh answer is charged to the grant and to the dataset in one durable transaction before it is returned. The same canonical query (same version, epsilon, mechanism) in the same grant returns the stored answer with cached: true, free.',
        tags: ['queries'],
        body: queryBody.extend({ dryRun: dryRunField }),
        response: { 200: z.union([answerSchema, dryRunSchema]), ...problems(400, 401, 403, 404, 409, 503, 504) },
      },
    },
    async (req, reply) => {
      const principal = principalOf(req)
      const { dryRun, ...body } = req.body
      if (dryRun === true) return runDry(reply, principal, request(body))
      const query = request(body)
      const selects = answers.selectsFor(query)
      let answer: Answer | null = selects ? await app.queries.repeat(principal, query, selects) : null
      if (answer === null) {
        answer = await app.queries.run(principal, query)
        answers.remember(query, answer.selects)
      }
      return sendAnswer(reply, await answers.json(answer, load))
    },
  )

  r.post(
    '/v1/queries/preview',
    {
      config: { roles: ['analyst'] },
      schema: {
        summary:
          'Price a query: what it would charge, its expected error, the budget after; spends and computes nothing',
        tags: ['queries'],
        description:
          'With target (an absolute halfWidth, or relative to expected values you state), the preview is of the smallest epsilon meeting it at the confidence, up to epsilon; target.epsilon says which, and affordable and refusal whether the grant, the dataset and the per-answer caps allow it.',
        body: previewBody,
        response: { 200: previewSchema, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (req) => {
      const { req: query, target } = previewRequest(req.body)
      return previewView(await app.queries.preview(principalOf(req), query, target))
    },
  )

  r.get(
    '/v1/queries/:queryId',
    {
      config: { roles: ['analyst', 'operator'] },
      schema: {
        summary: 'A released answer again, free',
        tags: ['queries'],
        params: z.object({
          queryId: z.string().regex(/^q_[0-9a-f]{24}$/, 'a query id looks like q_ followed by 24 hex digits'),
        }),
        response: { 200: answerSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      const answer = await app.queries.get(principalOf(req), req.params.queryId)
      return sendAnswer(reply, await answers.json(answer, load))
    },
  )
}
