/**
 * Batch previews (issue 24, point 3): a total epsilon split across several
 * queries, and each query previewed at its part. The rule is stated in the
 * response and docs/queries.md:
 *
 * - `weights` (the default, weight 1 each): part_i = total * w_i / sum(w),
 *   in whole micro-units, floored, the micro-units left over going one each
 *   to the first queries;
 * - `relative`: parts proportional to c_i = max over the query's COUNT and
 *   SUM outputs a of halfWidth_a(epsilon 1) / |expected_a|, the relative
 *   half-width at epsilon 1 against values the analyst states (never the
 *   private ones). A Laplace half-width is proportional to 1/epsilon, so this
 *   makes the worst relative half-widths of the queries equal (up to the
 *   grid and the micro-unit); a Gaussian one is not exactly, so they are
 *   near equal. Each query's half-widths at its part are computed, not
 *   inferred.
 */
import { VeilboxError } from '../../errors/index.js'
import { parse, toNumber, type Epsilon } from '../dp/budget.js'
import { Rational } from '../dp/rational.js'
import { targetsOf } from './accuracy.js'
import type { PreparedQuery, Preview, QueryRequest } from './types.js'

export type SplitRule = 'weights' | 'relative'

export interface BatchItem {
  readonly weight?: number
  readonly expected?: Readonly<Record<string, number>>
}

/** Whole micro-units proportional to the shares (positive finite numbers), adding up to total exactly. */
export function proportional(total: Epsilon, shares: readonly number[]): bigint[] {
  const exact = shares.map((s) => Rational.fromNumber(s))
  const sum = exact.reduce((a, b) => a.add(b))
  const parts = exact.map((s) => s.mul(Rational.of(total)).div(sum).floor())
  let left = total - parts.reduce((a, b) => a + b, 0n)
  for (let i = 0; left > 0n; i = (i + 1) % parts.length, left -= 1n) parts[i]! += 1n
  if (parts.some((p) => p < 1n)) {
    throw new VeilboxError(
      'VEILBOX_ERR_DP_INVALID_PARAMETER',
      `the total epsilon is too small to give each of the ${shares.length} queries at least one micro-unit (0.000001); ask for more`,
      {},
    )
  }
  return parts
}

/** Each query's share under the rule, from its plan at the reference epsilon (public facts only). */
export function sharesOf(rule: SplitRule, items: readonly BatchItem[], prepared: readonly PreparedQuery[]): number[] {
  if (rule === 'weights') return items.map((it) => it.weight ?? 1)
  return prepared.map((p, i) => {
    const expected = items[i]!.expected
    if (expected === undefined) {
      throw new VeilboxError(
        'VEILBOX_ERR_DP_INVALID_PARAMETER',
        `split "relative" needs expected values for every query; query ${i} has none`,
        { query: i },
      )
    }
    // Checks the names and values as a relative target would; the limits themselves are not used.
    targetsOf(p.plan, { relative: 1, expected })
    const widths = new Map(p.plan.perAggregate.map((a) => [a.name, a.halfWidth]))
    return Math.max(...Object.entries(expected).map(([name, e]) => widths.get(name)! / Math.abs(e)))
  })
}

export interface BatchRequest {
  /** The total epsilon to split, and the fields every query shares (grant, mechanism, delta, confidence, version). */
  readonly shared: Omit<QueryRequest, 'sql' | 'query' | 'weights'>
  readonly queries: readonly (BatchItem & Pick<QueryRequest, 'sql' | 'query'>)[]
  readonly split: SplitRule
}

export interface BatchPreview {
  readonly split: SplitRule
  readonly epsilon: number
  /** Every query affordable at its part, and the parts together within the grant's remaining epsilon. */
  readonly affordable: boolean
  readonly queries: readonly { readonly epsilon: number; readonly preview: Preview }[]
}

/** Splits the total, then previews each query at its part (per-answer caps as refusals, as an accuracy preview does). */
export async function previewBatch(
  req: BatchRequest,
  prepareAt: (req: QueryRequest) => Promise<PreparedQuery>,
  previewAt: (req: QueryRequest) => Promise<Preview>,
): Promise<BatchPreview> {
  const total = parse('epsilon', req.shared.epsilon, 'up')
  const one = (q: BatchRequest['queries'][number], epsilon: number): QueryRequest => ({
    ...req.shared,
    ...(q.sql === undefined ? {} : { sql: q.sql }),
    ...(q.query === undefined ? {} : { query: q.query }),
    epsilon,
  })
  const reference: PreparedQuery[] = []
  for (const q of req.queries) reference.push(await prepareAt(one(q, 1)))
  const parts = proportional(total, sharesOf(req.split, req.queries, reference))
  const queries: { epsilon: number; preview: Preview }[] = []
  for (const [i, q] of req.queries.entries()) {
    const epsilon = toNumber('epsilon', parts[i]!)
    queries.push({ epsilon, preview: await previewAt(one(q, epsilon)) })
  }
  const remaining = parse('epsilon', queries[0]!.preview.budget.remaining.epsilon, 'down', { zero: true })
  return {
    split: req.split,
    epsilon: toNumber('epsilon', total),
    affordable: queries.every((q) => q.preview.affordable) && total <= remaining,
    queries,
  }
}
