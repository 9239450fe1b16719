import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { VeilboxError } from '../errors/index.js'
import { minus, parse, toNumber, units, type Epsilon } from '../engine/dp/budget.js'
import { everyView, NO_REFRESH, windowEnd, windowEvery, windowSpent, windowStart } from '../engine/policy/window.js'
import { datasetWindowRefresh, findDatasetBudget } from '../store/budgets.js'
import type { GrantRecord } from '../store/grants.js'

/**
 * A grant's budget window and cap per answer (issue 24) as the API takes
 * and shows them, and "about N more answers of this shape fit".
 */

/** The fields POST /v1/grants takes for them. */
export const grantLimitFields = {
  templatesOnly: z
    .boolean()
    .optional()
    .describe('true: the grant runs approved templates only (POST /v1/templates/{id}/run); ad-hoc SQL is refused'),
  maxEpsilonPerAnswer: z
    .number()
    .finite()
    .gt(0)
    .max(1_000_000)
    .optional()
    .describe('the largest epsilon one answer may ask for; more is refused before anything runs'),
  window: z
    .strictObject({
      every: z
        .union([z.literal('month'), z.number().int().min(1).max(366)])
        .describe("'month' (calendar months, UTC) or a number of days counted from the grant's creation"),
      epsilon: z.number().finite().gt(0).max(1_000_000).describe('the most the grant may spend in one window'),
    })
    .optional()
    .describe(
      "a refresh window with its own cap; the grant's total still caps its whole life (docs/dp.md, Budget windows)",
    ),
}

/** The terms in the ledger's units: caps round down, never above what was asked. */
export function grantLimitTerms(b: {
  templatesOnly?: boolean | undefined
  maxEpsilonPerAnswer?: number | undefined
  window?: { every: 'month' | number; epsilon: number } | undefined
}): {
  templatesOnly: boolean
  maxEpsilonPerAnswer: bigint | null
  window: { every: string; epsilon: bigint } | null
} {
  const max =
    b.maxEpsilonPerAnswer === undefined ? null : parse('epsilon', b.maxEpsilonPerAnswer, 'down', { zero: true })
  const cap = b.window === undefined ? null : parse('epsilon', b.window.epsilon, 'down', { zero: true })
  if (max === 0n || cap === 0n) {
    const field = max === 0n ? 'maxEpsilonPerAnswer' : 'window.epsilon'
    throw new VeilboxError('VEILBOX_ERR_POLICY_BAD_GRANT', `${field} is below one micro-unit (0.000001)`, { field })
  }
  return {
    templatesOnly: b.templatesOnly === true,
    maxEpsilonPerAnswer: max,
    window: b.window === undefined || cap === null ? null : { every: windowEvery(b.window.every), epsilon: cap },
  }
}

const LIMITS = ['grant', 'window', 'dataset', 'maxEpsilonPerAnswer'] as const

export const grantLimitsSchema = z
  .object({
    maxEpsilonPerAnswer: z.number().nullable(),
    window: z
      .object({
        every: z.union([z.literal('month'), z.number().int()]),
        epsilon: z.number().describe('the cap per window'),
        start: z
          .string()
          .nullable()
          .describe("the current window's start; null when the dataset's windows never refresh"),
        end: z.string().nullable().describe('when it refreshes; null: never'),
        spent: z.number(),
        remaining: z.number(),
      })
      .nullable(),
    fits: z
      .object({
        epsilonPerAnswer: z.number(),
        basis: z.enum(['asked', 'lastAnswer']),
        answers: z.number().int().describe('floor(remaining / epsilon per answer) over the binding limit, exactly'),
        bindingLimit: z.enum(LIMITS),
      })
      .nullable()
      .describe('about how many more answers of this shape fit: null without an epsilon asked or an answer yet'),
  })
  .meta({ id: 'GrantLimits' })

export type GrantLimits = z.infer<typeof grantLimitsSchema>

/** The grant's window as of the service's clock, and how many answers at `asked` (or its last answer's epsilon) fit. */
export async function grantLimits(app: FastifyInstance, g: GrantRecord, asked?: number): Promise<GrantLimits> {
  const now = app.clock()
  let window: GrantLimits['window'] = null
  let windowLeft: Epsilon | null = null
  if (g.window !== null) {
    const start = windowStart(g.window.every, g.createdAt, now, await datasetWindowRefresh(app.db, g.dataset))
    const spent = windowSpent(g.window, start)
    windowLeft = minus(units('epsilon', g.window.epsilon), spent)
    window = {
      every: everyView(g.window.every),
      epsilon: toNumber('epsilon', g.window.epsilon),
      start: start === NO_REFRESH ? null : start,
      end: windowEnd(g.window.every, start),
      spent: toNumber('epsilon', spent),
      remaining: toNumber('epsilon', windowLeft),
    }
  }
  const basis: 'asked' | 'lastAnswer' = asked !== undefined ? 'asked' : 'lastAnswer'
  const epsilon = asked !== undefined ? parse('epsilon', asked, 'up') : await lastAnswerEpsilon(app, g.id)
  return {
    maxEpsilonPerAnswer: g.maxEpsilonPerAnswer === null ? null : toNumber('epsilon', g.maxEpsilonPerAnswer),
    window,
    fits: epsilon === null ? null : await fits(app, g, epsilon, basis, windowLeft),
  }
}

async function lastAnswerEpsilon(app: FastifyInstance, grant: string): Promise<Epsilon | null> {
  const micro = await app.db.value<number | bigint>(
    'SELECT epsilon_micro FROM answers WHERE grant_id = $1 ORDER BY created_at DESC, query_id DESC LIMIT 1',
    [grant],
  )
  if (micro === undefined || BigInt(micro) <= 0n) return null
  return units('epsilon', BigInt(micro))
}

/** N = floor(remaining / epsilon) for each limit, the smallest wins (the first listed on a tie). */
async function fits(
  app: FastifyInstance,
  g: GrantRecord,
  epsilon: Epsilon,
  basis: 'asked' | 'lastAnswer',
  windowLeft: Epsilon | null,
): Promise<NonNullable<GrantLimits['fits']>> {
  const view = { epsilonPerAnswer: toNumber('epsilon', epsilon), basis }
  if (g.maxEpsilonPerAnswer !== null && epsilon > g.maxEpsilonPerAnswer)
    return { ...view, answers: 0, bindingLimit: 'maxEpsilonPerAnswer' }
  const left: [(typeof LIMITS)[number], bigint][] = [['grant', g.ledger.epsilonTotal - g.ledger.epsilonSpent]]
  if (windowLeft !== null) left.push(['window', windowLeft])
  for (const d of g.datasets) {
    const b = await findDatasetBudget(app.db, d)
    left.push(['dataset', b === null ? 0n : b.epsilonTotal - b.epsilonSpent])
  }
  let best = left[0]!
  for (const l of left) if (l[1] < best[1]) best = l
  const n = best[1] <= 0n ? 0n : best[1] / epsilon
  return { ...view, answers: Number(n), bindingLimit: best[0] }
}
