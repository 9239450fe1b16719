import { VeilboxError } from '../../errors/index.js'
import { boundsProblem, type ColumnSpec, type DatasetSpec } from '../../schema.js'
import { split, STEP, toRational, type Epsilon, type Rho } from '../dp/budget.js'
import {
  countSensitivity,
  groupedL2Sensitivity,
  memoGaussian,
  memoHistogramQuantile,
  memoLaplace,
  perRowBound,
  sumSensitivity,
  sumSquaresSensitivity,
  type Mechanism,
  type MechanismOptions,
} from '../dp/index.js'
import type { Rational } from '../dp/rational.js'
import { quantumFor } from '../exec/quantum.js'
import type { EncryptedTaskMeasure, TaskMeasure } from '../exec/task.js'
import { MAX_HE_GROUPS } from '../he/aggregate.js'
import { columnPlan, type HeProfile } from '../he/profile.js'
import { heSensitivity } from '../release/he.js'
import type { PlannedHistogram } from './types.js'

/**
 * What the per-aggregate planners (plan/aggregates/) share: the exact
 * measures the sandbox computes (registered once per column), the mechanisms
 * (built from the declared schema and a part of the budget), and every
 * mechanism's spend, which the planner checks against the charge at the end
 * (plan/check.ts).
 *
 * Sensitivity under adding or removing one privacy unit, who owns at most
 * m = maxRowsPerUnit rows (the contribution bound): counts m; clamped sums
 * m * max(|lower|, |upper|); sums of squares m * max(lower^2, upper^2);
 * histograms m. L1 and L2 are the same: all m rows may fall in one group.
 */

/** Part of a query's budget: epsilon (Laplace) or rho (Gaussian) units. */
export type Part = Epsilon | Rho

/** One mechanism of the plan and the distance (L1 or L2 sensitivity) it was calibrated for. */
export interface Spend {
  readonly mechanism: Mechanism
  readonly sensitivity: Rational
}

/** Where an aggregate's sums come from: the plain kernel's moments or the encrypted sums. */
export interface SumSource {
  /** Index into exec.measures (plain), or -1 (he). */
  readonly measure: number
  /** Index into exec.encrypted (he only). */
  readonly encrypted?: number
  /** The bounds values are clamped to: the analyst's (BOUNDS a, b) or else the column's declared ones. */
  bounds(): { lower: number; upper: number }
  /** The grid exponent of the exact sum (plain: the kernel's quantum; he: the sum mechanism's grid). */
  exp(sum: Mechanism): number
  sumMechanism(part: Part): Mechanism
  squaresMechanism(part: Part): Mechanism
}

/** Clamp bounds an aggregate states (binder-checked to lie inside the declared ones); absent: the declared bounds. */
export type Clamp = { readonly lower: number; readonly upper: number } | undefined

/** Keys measures by column and clamp range: one column summed with two ranges is two measures. */
export function clampKey(col: ColumnSpec, clamp: Clamp): string {
  return clamp === undefined ? col.name : `${col.name}\u0000${clamp.lower}\u0000${clamp.upper}`
}

/** The bounds an aggregate of col clamps to: the analyst's when stated, else the declared ones. */
export function clampBounds(col: ColumnSpec, clamp: Clamp): { lower: number; upper: number } {
  const declared = bounds(col)
  return clamp === undefined ? declared : { lower: clamp.lower, upper: clamp.upper }
}

export function bounds(col: ColumnSpec): { lower: number; upper: number } {
  if (col.lower === undefined || col.upper === undefined) {
    throw new VeilboxError(
      'VEILBOX_ERR_QUERY_UNBOUNDED_COLUMN',
      `column ${col.name} has no declared bounds to clamp to`,
    )
  }
  const problem = boundsProblem(col)
  if (problem !== null)
    throw new VeilboxError(
      'VEILBOX_ERR_QUERY_UNBOUNDED_COLUMN',
      `column ${col.name} cannot be aggregated: ${problem}`,
      {
        column: col.name,
      },
    )
  return { lower: col.lower, upper: col.upper }
}

/** Splits k ways (or by weights) into whole units, refusing a total too small for one unit each. */
export function splitParts(kind: 'epsilon' | 'rho', total: Part, shares: number | readonly number[]): Part[] {
  const k = typeof shares === 'number' ? shares : shares.length
  if (total < BigInt(k)) {
    throw new VeilboxError(
      'VEILBOX_ERR_DP_INVALID_PARAMETER',
      `the query's ${kind} is too small to give every aggregate a part: its ${k} aggregates (or an aggregate's ${k} components) need at least one unit each (${STEP.epsilon} of epsilon, ${STEP.rho} of rho); ask for more`,
      {},
    )
  }
  return split(kind, total, shares)
}

export class PlanContext {
  readonly measures: TaskMeasure[] = []
  readonly encrypted: EncryptedTaskMeasure[] = []
  readonly histograms: PlannedHistogram[] = []
  readonly spends: Spend[] = []
  readonly gaussian: boolean
  readonly m: number
  /** How many released coordinates one unit can change: min(m, groups). */
  readonly coordinates: number
  private readonly momentsOf = new Map<string, number>()
  private readonly nonNullOf = new Map<string, number>()
  private readonly encryptedOf = new Map<string, number>()
  private readonly histogramOf = new Map<string, number>()
  private distinctIndex: number | null = null

  constructor(
    readonly spec: DatasetSpec,
    readonly groups: number,
    mechanism: 'laplace' | 'gaussian',
    /** Columns (keyed by clampKey) whose VAR or STDDEV is asked: their moments include squares. */
    private readonly needsSquares: ReadonlySet<string>,
    private readonly heProfile: HeProfile | null,
    readonly bins: number,
    /** Each quantile column's (keyed by clampKey) histogram budget: the sum of its quantiles' parts. */
    private readonly quantileParts: ReadonlyMap<string, Part>,
  ) {
    this.gaussian = mechanism === 'gaussian'
    this.m = spec.maxRowsPerUnit
    this.coordinates = Math.min(this.m, groups)
  }

  /** Splits an aggregate's part among its k components (AVG: 2, VAR: 3), in whole units. */
  split(part: Part, k: number): Part[] {
    return splitParts(this.gaussian ? 'rho' : 'epsilon', part, k)
  }

  private amount(part: Part): Rational {
    return toRational(this.gaussian ? 'rho' : 'epsilon', part)
  }

  private options(extra: MechanismOptions): MechanismOptions {
    return { coordinates: this.coordinates, ...extra }
  }

  /** A mechanism over a quantity of sensitivity l1 (Laplace) or l2 (Gaussian), recorded as a spend. */
  private mechanism(part: Part, l1: Rational, l2: Rational, extra: MechanismOptions): Mechanism {
    const options = this.options(extra)
    const mechanism = this.gaussian
      ? memoGaussian({ sensitivity: l2, rho: this.amount(part), ...options })
      : memoLaplace({ sensitivity: l1, epsilon: this.amount(part), ...options })
    this.spends.push({ mechanism, sensitivity: this.gaussian ? l2 : l1 })
    return mechanism
  }

  /** COUNT(DISTINCT unit)'s mechanism: a unit counts once in each of at most min(m, groups) groups. */
  distinctMechanism(part: Part): Mechanism {
    const k = Math.min(this.m, this.groups)
    return this.mechanism(
      part,
      countSensitivity(k),
      groupedL2Sensitivity({ maxRowsPerUnit: k, maxRowsPerGroup: 1, perRow: 1 }),
      {
        integer: true,
        inputExp: 0,
      },
    )
  }

  /**
   * Partition selection's mechanism: Laplace on each key's count of units,
   * which a unit moves in at most l0 keys by 1 (plan/selection.ts).
   */
  selectionMechanism(part: Part, l0: number): Mechanism {
    return this.mechanism(part, countSensitivity(l0), countSensitivity(l0), {
      integer: true,
      inputExp: 0,
      coordinates: l0,
    })
  }

  /** The measure index of the distinct units per group (registered once). */
  distinctUnits(): number {
    if (this.distinctIndex === null) {
      this.distinctIndex = this.measures.length
      this.measures.push({ kind: 'distinctUnits', column: this.spec.privacyUnit, maxRowsPerUnit: this.m })
    }
    return this.distinctIndex
  }

  countMechanism(part: Part): Mechanism {
    return this.mechanism(part, countSensitivity(this.m), groupedL2Sensitivity({ maxRowsPerUnit: this.m, perRow: 1 }), {
      integer: true,
      inputExp: 0,
    })
  }

  /** The plain moments (count, sum, squares) of a bounded numeric column, registered once. */
  moments(col: ColumnSpec, clamp?: Clamp): { index: number; exp: number; lower: number; upper: number } {
    const { lower, upper } = clampBounds(col, clamp)
    const exp = quantumFor(lower, upper).exp
    const key = clampKey(col, clamp)
    let index = this.momentsOf.get(key)
    if (index === undefined) {
      index = this.measures.length
      this.measures.push({
        kind: 'moments',
        column: col.name,
        lower,
        upper,
        exp,
        squares: this.needsSquares.has(key),
      })
      this.momentsOf.set(key, index)
    }
    return { index, exp, lower, upper }
  }

  /** The measure giving a column's non-null count per group: its moments when it has them. */
  nonNull(col: ColumnSpec): number {
    if ((col.type === 'integer' || col.type === 'number') && col.lower !== undefined && col.upper !== undefined) {
      return this.moments(col).index
    }
    let index = this.nonNullOf.get(col.name)
    if (index === undefined) {
      index = this.measures.length
      this.measures.push({ kind: 'nonNull', column: col.name })
      this.nonNullOf.set(col.name, index)
    }
    return index
  }

  /** A column's sums, plain or encrypted: the aggregates ask the same of both. */
  sums(col: ColumnSpec, clamp?: Clamp): SumSource {
    return col.protection === 'he' ? this.encryptedSums(col) : this.plainSums(col, clamp)
  }

  private plainSums(col: ColumnSpec, clamp: Clamp): SumSource {
    const mo = this.moments(col, clamp)
    const integer = col.type === 'integer'
    const m = this.m
    return {
      measure: mo.index,
      bounds: () => ({ lower: mo.lower, upper: mo.upper }),
      exp: () => mo.exp,
      sumMechanism: (part) =>
        this.mechanism(
          part,
          sumSensitivity({ maxRowsPerUnit: m, lower: mo.lower, upper: mo.upper, exp: mo.exp }),
          groupedL2Sensitivity({ maxRowsPerUnit: m, perRow: perRowBound(mo.lower, mo.upper, mo.exp) }),
          { integer, inputExp: mo.exp },
        ),
      squaresMechanism: (part) =>
        this.mechanism(
          part,
          sumSquaresSensitivity({ maxRowsPerUnit: m, lower: mo.lower, upper: mo.upper, exp: mo.exp }),
          groupedL2Sensitivity({
            maxRowsPerUnit: m,
            perRow: sumSquaresSensitivity({ maxRowsPerUnit: 1, lower: mo.lower, upper: mo.upper, exp: mo.exp }),
          }),
          { inputExp: 2 * mo.exp + 31 },
        ),
    }
  }

  private encryptedSums(col: ColumnSpec): SumSource {
    const profile = this.heProfile
    if (profile === null) {
      throw new VeilboxError(
        'VEILBOX_ERR_HE_KEYS_MISSING',
        `${col.name} is encrypted (he) and dataset ${this.spec.id} has no HE keys yet, so nothing can be computed on it; a custodian creates them with POST /v1/datasets/${this.spec.id}/he/keys`,
        { dataset: this.spec.id },
      )
    }
    const plan = columnPlan(profile, col.name)
    const squares = this.needsSquares.has(col.name)
    let index = this.encryptedOf.get(col.name)
    if (index === undefined) {
      if (this.groups > MAX_HE_GROUPS) {
        throw new VeilboxError(
          'VEILBOX_ERR_HE_CAPACITY_EXCEEDED',
          `an aggregate of the encrypted column ${col.name} can have at most ${MAX_HE_GROUPS} groups (each needs its own ciphertext accumulator), but this GROUP BY has ${this.groups}; group by fewer keys`,
          { groups: this.groups },
        )
      }
      if (squares && plan.squareContexts === null) {
        throw new VeilboxError(
          'VEILBOX_ERR_HE_UNSUPPORTED_COLUMN',
          `VAR and STDDEV of ${col.name} need encrypted squares, and its HE keys were made without variance`,
          { column: col.name },
        )
      }
      index = this.encrypted.length
      this.encrypted.push({ column: col.name, squares })
      this.encryptedOf.set(col.name, index)
    }
    const heMechanism = (part: Part, ofSquares: boolean): Mechanism => {
      const s = heSensitivity(plan, this.m, this.groups, ofSquares)
      return this.mechanism(part, s.l1, s.l2, {
        integer: s.integer,
        ...(s.inputExp === undefined ? {} : { inputExp: s.inputExp }),
      })
    }
    return {
      measure: -1,
      encrypted: index,
      bounds: () => bounds(col),
      exp: (sum) => sum.gridExp,
      sumMechanism: (part) => heMechanism(part, false),
      squaresMechanism: (part) => heMechanism(part, true),
    }
  }

  /** The one noisy histogram of a column, shared by its quantiles (post-processing is free). */
  histogram(col: ColumnSpec, clamp?: Clamp): number {
    const key = clampKey(col, clamp)
    let index = this.histogramOf.get(key)
    if (index === undefined) {
      const { lower, upper } = clampBounds(col, clamp)
      const part = this.quantileParts.get(key)!
      const quantile = memoHistogramQuantile({
        lower,
        upper,
        bins: this.bins,
        maxRowsPerUnit: this.m,
        groups: this.groups,
        ...(this.gaussian ? { rho: this.amount(part) } : { epsilon: this.amount(part) }),
      })
      // A unit's m rows change at most m counts by one: L1 and L2 sensitivity m.
      this.spends.push({ mechanism: quantile.mechanism, sensitivity: countSensitivity(this.m) })
      index = this.histograms.length
      this.histograms.push({ measure: this.measures.length, column: col.name, quantile })
      this.measures.push({ kind: 'histogram', column: col.name, lower, upper, bins: this.bins })
      this.histogramOf.set(key, index)
    }
    return index
  }
}
