/**
 * Accuracy-first previews (issue 24, point 3): the smallest epsilon, in
 * micro-units, whose plan meets a target half-width at the query's
 * confidence. The half-widths are the plan's own (`Mechanism.halfWidth`,
 * the interval math answers use: dp/mechanism.ts and dp/intervals.ts), so
 * the epsilon returned meets the target as the answer will state it, and
 * that epsilon minus one micro-unit does not.
 *
 * Only COUNT and SUM have half-widths fixed by public facts (bounds, m,
 * epsilon); a relative target is relative to a value the analyst states,
 * never to the private true value. Planning reads no data.
 */
import { isVeilboxError, VeilboxError } from '../../errors/index.js'
import { toNumber, units, type Epsilon } from '../dp/budget.js'
import { planQuery } from '../plan/index.js'
import type { Plan } from '../plan/types.js'
import type { AccuracyTarget, PreparedQuery, TargetedAggregate } from './types.js'

export type { AccuracyTarget, TargetedAggregate } from './types.js'

export interface AccuracyResult {
  /** The smallest epsilon (micro-units) meeting every target, or null when even the ceiling does not. */
  readonly epsilon: Epsilon | null
  readonly aggregates: readonly TargetedAggregate[]
}

function invalidTarget(detail: string, extra: Record<string, unknown> = {}): VeilboxError {
  return new VeilboxError('VEILBOX_ERR_DP_INVALID_PARAMETER', detail, extra)
}

/** Each targeted output's half-width limit, checked against the plan's aggregates (names and kinds are public). */
export function targetsOf(plan: Plan, target: AccuracyTarget): Map<string, number> {
  const targetable = plan.perAggregate.filter((a) => a.halfWidth !== null).map((a) => a.name)
  const out = new Map<string, number>()
  if ((target.halfWidth === undefined) === (target.relative === undefined))
    throw invalidTarget('a target gives exactly one of halfWidth (absolute) and relative (with expected)')
  if (target.halfWidth !== undefined) {
    if (!(Number.isFinite(target.halfWidth) && target.halfWidth > 0))
      throw invalidTarget(`target.halfWidth must be a positive number, not ${target.halfWidth}`)
    if (target.expected !== undefined)
      throw invalidTarget('target.expected goes with a relative target; an absolute halfWidth needs none')
    if (targetable.length === 0)
      throw invalidTarget(
        'a target half-width applies to COUNT and SUM, whose half-width depends on public facts alone; this query has neither (AVG, VAR, STDDEV and quantiles are stated as expected errors)',
      )
    for (const name of targetable) out.set(name, target.halfWidth)
    return out
  }
  const relative = target.relative!
  if (!(Number.isFinite(relative) && relative > 0))
    throw invalidTarget(`target.relative must be a positive fraction such as 0.05, not ${relative}`)
  const expected = Object.entries(target.expected ?? {})
  if (expected.length === 0)
    throw invalidTarget(
      'a relative target needs target.expected: the value you expect for each COUNT or SUM output, by name (the true value is private and is never used)',
    )
  for (const [name, value] of expected) {
    if (!targetable.includes(name))
      throw invalidTarget(
        `target.expected names ${name}, which is not a COUNT or SUM output of this query (those are: ${targetable.join(', ') || 'none'})`,
        { name },
      )
    if (!(Number.isFinite(value) && value !== 0))
      throw invalidTarget(`target.expected.${name} must be a nonzero number, not ${value}`, { name })
    out.set(name, relative * Math.abs(value))
  }
  return out
}

/** The plan of the prepared query at another epsilon, all else equal; null when the epsilon is too small to split. */
export function planAt(p: PreparedQuery, epsilon: Epsilon, weights?: readonly number[]): Plan | null {
  try {
    return planQuery(p.bound, {
      mechanism: p.plan.mechanism,
      epsilon,
      delta: p.delta,
      confidence: p.plan.confidence,
      heProfile: p.heProfile,
      ...(weights === undefined ? {} : { weights }),
      ...(p.grant.maxGroupsContributed === null ? {} : { maxGroupsContributed: p.grant.maxGroupsContributed }),
    })
  } catch (err) {
    if (isVeilboxError(err) && err.code === 'VEILBOX_ERR_DP_INVALID_PARAMETER') return null
    throw err
  }
}

function halfWidths(plan: Plan | null): Map<string, number> | null {
  if (plan === null) return null
  return new Map(plan.perAggregate.filter((a) => a.halfWidth !== null).map((a) => [a.name, a.halfWidth!]))
}

function meets(widths: Map<string, number> | null, targets: Map<string, number>): boolean {
  if (widths === null) return false
  for (const [name, limit] of targets) if (!(widths.get(name)! <= limit)) return false
  return true
}

/**
 * Bisection over micro-units of epsilon with the invariant "lo fails, hi
 * meets" (lo = 0 fails: no epsilon buys nothing): it ends with hi - lo = 1,
 * so hi meets the target and hi - 1 micro-unit does not, whether or not the
 * half-width is monotone in epsilon (grid rounding may make it step).
 */
export function epsilonForTarget(
  p: PreparedQuery,
  target: AccuracyTarget,
  ceiling: Epsilon,
  weights?: readonly number[],
): AccuracyResult {
  const targets = targetsOf(p.plan, target)
  const at = (e: bigint) => halfWidths(planAt(p, units('epsilon', e), weights))
  const report = (widths: Map<string, number> | null): TargetedAggregate[] =>
    [...targets].map(([name, limit]) => ({
      name,
      target: limit,
      halfWidth: widths?.get(name) ?? Number.POSITIVE_INFINITY,
    }))
  const top = at(ceiling)
  if (!meets(top, targets)) return { epsilon: null, aggregates: report(top) }
  let lo = 0n
  let hi: bigint = ceiling
  let best = top
  while (hi - lo > 1n) {
    const mid = (lo + hi) / 2n
    const w = at(mid)
    if (meets(w, targets)) {
      hi = mid
      best = w
    } else lo = mid
  }
  return { epsilon: units('epsilon', hi), aggregates: report(best) }
}

/** An epsilon as the request states it (a number of whole micro-units). */
export function epsilonNumber(e: Epsilon): number {
  return toNumber('epsilon', e)
}
