import type { Delta, Epsilon, Rho } from '../dp/budget.js'
import type { HistogramQuantile, Mechanism } from '../dp/index.js'
import type { GroupLayout } from '../exec/grouping.js'
import type { ExecTask } from '../exec/task.js'
import type { HeProfile } from '../he/profile.js'
import type { BoundQuery } from '../query/binder.js'
import type { NoiseReservation } from './noise.js'

/** The plan's values: what the planner (plan/index.ts) makes of a bound query. */

export type MechanismKind = 'laplace' | 'gaussian'

export interface PlanOptions {
  readonly mechanism: MechanismKind
  /** The query's epsilon: the charge (Laplace), or with delta the target rho is calibrated to (Gaussian). */
  readonly epsilon: Epsilon
  /** Gaussian: the delta the query's rho is calibrated to. Laplace: partition selection's delta (0 without one). */
  readonly delta: Delta
  readonly confidence: number
  /** One positive weight per aggregate, in select order. */
  readonly weights?: readonly number[]
  /** Histogram bins for quantiles. */
  readonly bins?: number
  /** The HE profile of the version queried: needed when the query aggregates he columns. */
  readonly heProfile?: HeProfile | null
  /** Partition selection's per-unit key bound, the grant's in place of the dataset's; default the dataset's, else 1. */
  readonly maxGroupsContributed?: number
}

export const DEFAULT_QUANTILE_BINS = 128

/** A released quantity, by its role in the answer. */
export type OutputPlan =
  | { readonly kind: 'group'; readonly name: string; readonly key: number }
  | {
      readonly kind: 'count'
      readonly name: string
      readonly label: string
      readonly source: number | 'rows'
      readonly mech: Mechanism
    }
  | {
      readonly kind: 'sum'
      readonly name: string
      readonly label: string
      readonly measure: number
      readonly mech: Mechanism
      readonly exp: number
      readonly encrypted?: number
    }
  | {
      readonly kind: 'avg'
      readonly name: string
      readonly label: string
      readonly measure: number
      /** Index into exec.encrypted when the column is he; `measure` is then unused. */
      readonly encrypted?: number
      readonly exp: number
      readonly sum: Mechanism
      readonly count: Mechanism
      readonly lower: number
      readonly upper: number
    }
  | {
      readonly kind: 'var' | 'stddev'
      readonly name: string
      readonly label: string
      readonly measure: number
      readonly encrypted?: number
      readonly exp: number
      readonly sum: Mechanism
      readonly count: Mechanism
      readonly squares: Mechanism
      readonly lower: number
      readonly upper: number
    }
  | {
      readonly kind: 'quantile'
      readonly name: string
      readonly label: string
      readonly histogram: number
      readonly p: number
    }

export interface PlannedHistogram {
  readonly measure: number
  readonly column: string
  readonly quantile: HistogramQuantile
}

export interface AggregatePrivacy {
  readonly name: string
  readonly aggregate: string
  readonly column: string | null
  /** Laplace: this aggregate's epsilon. */
  readonly epsilon?: number
  /** Gaussian: this aggregate's rho (zCDP). */
  readonly rho?: number
  /** Noise scale (Laplace b or Gaussian sigma) of each released component, in value units. */
  readonly noise: Readonly<Record<string, number>>
  /** Expected half-width of the released value's interval at the confidence level; null when it depends on the data (ratios, quantiles). */
  readonly halfWidth: number | null
  /** The range values were clamped to (SUM, AVG, VAR, STDDEV, quantiles): the analyst's BOUNDS, or the declared ones. */
  readonly bounds?: StatedBounds
  /** AVG and quantiles, whose error depends on the data: a stated bound (docs/queries.md, "Accuracy-first previews"). */
  readonly errorBound?: ErrorBound
}

/**
 * An upper bound on the error of an aggregate whose interval depends on the
 * data, from public facts alone, holding with probability at least the
 * confidence (a union bound over the noisy components). AVG: at most
 * (sumHalfWidth + maxAbs * countHalfWidth) / (n - countHalfWidth) for a group
 * of n rows with n > countHalfWidth. Quantiles: the value released lies
 * within binWidth of a value whose true rank is within rankHalfWidth rows of
 * the rank asked for (p n); how far that is in value depends on the data.
 */
export type ErrorBound =
  | {
      readonly kind: 'avg'
      readonly sumHalfWidth: number
      readonly countHalfWidth: number
      readonly maxAbs: number
    }
  | { readonly kind: 'quantile'; readonly rankHalfWidth: number; readonly binWidth: number }

/** The clamp range an aggregate used, and whose it was: the analyst's (`BOUNDS a, b`) or the column's declared. */
export interface StatedBounds {
  readonly lower: number
  readonly upper: number
  readonly source: 'analyst' | 'declared'
}

/**
 * DP partition selection (docs/dp.md): the keys of the query's one GROUP BY
 * column come from the data, and a key is released only when its noisy count
 * of units passes a threshold set so that a key one unit alone holds is
 * released with probability at most delta / maxGroupsContributed (exactly:
 * 1 - (1 - delta)^(1 / maxGroupsContributed)).
 */
export interface PlannedSelection {
  readonly column: string
  /** The exact measure: distinct units per key (exec/distinct.ts). */
  readonly measure: number
  /** Laplace on the units count, sensitivity maxGroupsContributed. */
  readonly mech: Mechanism
  readonly maxGroupsContributed: number
  /** A released count passes when its grid units are above this. */
  readonly passUnits: bigint
  /** The smallest count that passes, in units of the data (a count). */
  readonly threshold: number
  readonly epsilon: number
  readonly delta: number
}

/** What an answer states about its partition selection, apart from the aggregates'. */
export interface SelectionPrivacy {
  readonly column: string
  readonly epsilon: number
  readonly delta: number
  readonly maxGroupsContributed: number
  /** The smallest noisy count of units a key needs to be released. */
  readonly threshold: number
  /** Laplace scale of the count's noise. */
  readonly noise: number
}

export interface Plan {
  readonly bound: BoundQuery
  /** The sandbox's part; the caller adds dataset and version. */
  readonly exec: Omit<ExecTask, 'dataset' | 'version'>
  readonly layout: GroupLayout | null
  readonly groups: number
  readonly outputs: readonly OutputPlan[]
  readonly histograms: readonly PlannedHistogram[]
  readonly mechanism: MechanismKind
  readonly confidence: number
  /** Laplace: the epsilon charged (0 for Gaussian). */
  readonly epsilon: Epsilon
  /** Gaussian: the rho spent (0 for Laplace). */
  readonly rho: Rho
  /** The delta charged besides the mechanism's: partition selection's; 0 without one. */
  readonly selectionDelta: Delta
  /** Partition selection, when a GROUP BY key has no declared domain; null otherwise. */
  readonly selection: PlannedSelection | null
  /** Its cost, as answers and previews state it; null without one. */
  readonly selectionPrivacy: SelectionPrivacy | null
  readonly perAggregate: readonly AggregatePrivacy[]
  /**
   * Reserves and draws every mechanism's noise ahead of the release, while the
   * sandbox computes (plan/noise.ts). Each mechanism of the reservation
   * releases once.
   */
  reserveNoise(): Promise<NoiseReservation>
  /** The values of a group's keys, typed as the columns declare them. */
  groupKeys(code: number): (string | number | boolean | null)[]
}
