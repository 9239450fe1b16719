import type { BoundOutput } from '../../query/binder.js'
import type { Part, PlanContext } from '../context.js'
import type { ErrorBound, OutputPlan, StatedBounds } from '../types.js'

export type BoundAggregate = Extract<BoundOutput, { kind: 'aggregate' }>

/** What one aggregate's planner gives: its released quantity, the noise of each component, its expected half-width. */
export interface PlannedAggregate {
  readonly output: OutputPlan
  readonly noise: Readonly<Record<string, number>>
  readonly halfWidth: number | null
  /** The clamp range used, for aggregates that clamp. */
  readonly bounds?: StatedBounds
  /** AVG and quantiles: a stated bound on the error, from public facts. */
  readonly errorBound?: ErrorBound
}

/** The confidence each of k components must hold at so that all hold together at `confidence` (a union bound). */
export function jointly(confidence: number, k: number): number {
  return 1 - (1 - confidence) / k
}

/** States the clamp range an aggregate used: the analyst's when it gave BOUNDS. */
export function stated(out: BoundAggregate, b: { lower: number; upper: number }): StatedBounds {
  return { lower: b.lower, upper: b.upper, source: out.bounds === undefined ? 'declared' : 'analyst' }
}

/**
 * One planner per aggregate kind, as OpenDP has one constructor per
 * measurement: each takes its part of the budget and gives its mechanisms
 * (recorded as spends in the context), plain or encrypted alike.
 */
export type AggregatePlanner = (
  ctx: PlanContext,
  out: BoundAggregate,
  part: Part,
  confidence: number,
) => PlannedAggregate
