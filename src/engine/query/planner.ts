import { VeilboxError } from '../../errors/index.js'
import {
  countSensitivity,
  groupedL2Sensitivity,
  memoGaussian,
  memoHistogramQuantile,
  memoLaplace,
  perRowBound,
  Rational,
  splitMicro,
  sumSensitivity,
  sumSquaresSensitivity,
  toMicro,
  zcdpForEpsilonDelta,
  type EndReservation,
  type HistogramQuantile,
  type Mechanism,
  type MechanismOptions,
} from '../dp/index.js'
import { decodeGroup, groupLayout, type GroupLayout } from '../exec/grouping.js'
import { quantumFor } from '../exec/quantum.js'
import type { EncryptedTaskMeasure, ExecTask, TaskMeasure, TaskPredicate } from '../exec/task.js'
import { MAX_HE_GROUPS } from '../he/aggregate.js'
import { columnPlan, type HeColumnPlan, type HeProfile } from '../he/profile.js'
import { heSensitivity } from '../release/he.js'
import { boundsProblem, type ColumnSpec } from '../../schema.js'
import type { BoundOutput, BoundPredicate, BoundQuery } from './binder.js'

/**
 * The planner turns a bound query into (1) the exact aggregates a sandbox must
 * compute, as an ExecTask that names no key, budget or secret, and (2) one DP
 * mechanism per released quantity, with the query's budget split across them.
 * Nothing here reads data: the plan, its price and its expected errors come
 * from the declared schema and the request alone.
 *
 * Budget split. A query's epsilon (Laplace) or rho (Gaussian) is split across
 * its aggregates, evenly unless weights are given; within an aggregate AVG
 * spends half on its sum and half on its count, VAR and STDDEV a third each on
 * count, sum and sum of squares. Quantiles of one column share one noisy
 * histogram, which gets the sum of their parts (post-processing is free).
 * Every part is a whole micro-unit (epsilon) or pico-unit (rho) and the parts
 * add up to at most the query's charge (splitMicro).
 *
 * Sensitivity under adding or removing one privacy unit, who owns at most
 * m = maxRowsPerUnit rows (the contribution bound): counts m; clamped sums
 * m * max(|lower|, |upper|); sums of squares m * max(lower^2, upper^2);
 * histograms m. L1 and L2 are the same: all m rows may fall in one group.
 */

export type MechanismKind = 'laplace' | 'gaussian'

export interface PlanOptions {
  readonly mechanism: MechanismKind
  readonly epsilon: number
  /** Gaussian only: the delta the query's rho is calibrated to. */
  readonly delta: number
  readonly confidence: number
  /** One positive weight per aggregate, in select order. */
  readonly weights?: readonly number[]
  /** Histogram bins for quantiles. */
  readonly bins?: number
  /** The HE profile of the version queried: needed when the query aggregates he columns. */
  readonly heProfile?: HeProfile | null
}

export const DEFAULT_QUANTILE_BINS = 128
export const PICO = 1_000_000_000_000n

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
  /** Laplace: the epsilon charged, in micro-units. */
  readonly epsilonMicro: bigint
  /** Gaussian: the rho spent, in pico-units (0 for Laplace). */
  readonly rhoPico: bigint
  readonly perAggregate: readonly AggregatePrivacy[]
  /**
   * Reserves and draws every mechanism's noise ahead of the release; resolves
   * to the function that ends the reservations, to call once the release is
   * over (released or failed).
   */
  prepare(): Promise<EndReservation>
  /** The values of a group's keys, typed as the columns declare them. */
  groupKeys(code: number): (string | boolean | null)[]
}

function fail(detail: string, extra: Record<string, unknown> = {}): VeilboxError {
  return new VeilboxError('VEILBOX_ERR_DP_INVALID_PARAMETER', detail, extra)
}

function checkOptions(o: PlanOptions, aggregates: number): void {
  if (o.mechanism !== 'laplace' && o.mechanism !== 'gaussian')
    throw fail(`mechanism must be "laplace" or "gaussian", got ${String(o.mechanism)}`)
  if (!(typeof o.epsilon === 'number' && Number.isFinite(o.epsilon) && o.epsilon > 0))
    throw fail(`epsilon must be a finite number greater than 0, got ${String(o.epsilon)}`)
  if (!(o.confidence > 0 && o.confidence < 1))
    throw fail(`confidence must lie strictly between 0 and 1, got ${String(o.confidence)}`)
  if (o.mechanism === 'gaussian' && !(o.delta > 0 && o.delta < 1)) {
    throw fail(`the gaussian mechanism needs a delta strictly between 0 and 1, got ${String(o.delta)}`)
  }
  if (o.weights !== undefined && o.weights.length !== aggregates) {
    throw fail(`weights must give one positive number per aggregate (${aggregates}), got ${o.weights.length}`, {
      weights: o.weights,
    })
  }
}

/** Splits a whole number of units k ways (or by weights): whole parts adding up to the total. */
function split(total: bigint, shares: number | readonly number[], what: string): bigint[] {
  const k = typeof shares === 'number' ? shares : shares.length
  if (total < BigInt(k)) {
    throw fail(
      `the query's ${what} is too small to give every aggregate a part: its ${k} aggregates (or an aggregate's ${k} components) need at least one unit each (1e-6 of epsilon, 1e-12 of rho); ask for more`,
    )
  }
  return splitMicro(total, shares)
}

function toTaskPredicate(p: BoundPredicate): TaskPredicate {
  switch (p.kind) {
    case 'compare':
      return { kind: 'cmp', column: p.column.name, op: p.op, value: p.value as number | string | boolean }
    case 'in':
      return {
        kind: 'in',
        column: p.column.name,
        values: p.values as (number | string | boolean)[],
        negated: p.negated,
      }
    case 'between':
      return { kind: 'between', column: p.column.name, low: p.low, high: p.high, negated: p.negated }
    case 'isNull':
      return { kind: 'isNull', column: p.column.name, negated: p.negated }
    case 'and':
    case 'or':
      return { kind: p.kind, operands: p.operands.map(toTaskPredicate) }
    case 'not':
      return { kind: 'not', operand: toTaskPredicate(p.operand) }
  }
}

function bounds(col: ColumnSpec): { lower: number; upper: number } {
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
      { column: col.name },
    )
  return { lower: col.lower, upper: col.upper }
}

export function planQuery(bound: BoundQuery, options: PlanOptions): Plan {
  const aggregates = bound.outputs.filter(
    (o): o is Extract<BoundOutput, { kind: 'aggregate' }> => o.kind === 'aggregate',
  )
  checkOptions(options, aggregates.length)
  const spec = bound.dataset
  const m = spec.maxRowsPerUnit
  const gaussian = options.mechanism === 'gaussian'
  const bins = options.bins ?? DEFAULT_QUANTILE_BINS

  const layout =
    bound.groupBy.length === 0
      ? null
      : groupLayout(
          bound.groupBy.map((g) => ({
            dictionary: g.strategy.domain.map((v) => String(v)),
            nullable: g.column.nullable ?? false,
          })),
        )
  const groups = layout?.count ?? 1
  const coordinates = Math.min(m, groups)

  // The charge, then each aggregate's whole-unit part of it.
  const epsilonMicro = toMicro(options.epsilon)
  const totalUnits = gaussian
    ? BigInt(Math.floor(zcdpForEpsilonDelta(options.epsilon, options.delta) * 1e12))
    : epsilonMicro
  if (totalUnits <= 0n)
    throw fail(`epsilon ${options.epsilon} with delta ${options.delta} leaves no zCDP budget (rho < 1e-12)`)
  const parts = split(totalUnits, options.weights ?? aggregates.length, gaussian ? 'rho' : 'epsilon')
  const unitScale = gaussian ? PICO : 1_000_000n
  const asRational = (units: bigint) => Rational.of(units, unitScale)

  // Exact measures: moments per column (with squares when a VAR/STDDEV needs them), histograms per column.
  const measures: TaskMeasure[] = []
  const momentsOf = new Map<string, number>()
  const needsSquares = new Set(aggregates.filter((a) => a.fn === 'var' || a.fn === 'stddev').map((a) => a.column!.name))
  const moments = (col: ColumnSpec): { index: number; exp: number; lower: number; upper: number } => {
    const { lower, upper } = bounds(col)
    const exp = quantumFor(lower, upper).exp
    let index = momentsOf.get(col.name)
    if (index === undefined) {
      index = measures.length
      measures.push({ kind: 'moments', column: col.name, lower, upper, exp, squares: needsSquares.has(col.name) })
      momentsOf.set(col.name, index)
    }
    return { index, exp, lower, upper }
  }
  const nonNullOf = new Map<string, number>()
  const nonNull = (col: ColumnSpec): number => {
    if (col.type === 'integer' || col.type === 'number') {
      if (col.lower !== undefined && col.upper !== undefined) return moments(col).index
    }
    let index = nonNullOf.get(col.name)
    if (index === undefined) {
      index = measures.length
      measures.push({ kind: 'nonNull', column: col.name })
      nonNullOf.set(col.name, index)
    }
    return index
  }

  // Encrypted (he) columns: masked sums on ciphertexts, one measure per column (with squares when a VAR/STDDEV needs them).
  const encrypted: EncryptedTaskMeasure[] = []
  const encryptedOf = new Map<string, number>()
  const hePlan = (col: ColumnSpec): HeColumnPlan => {
    const profile = options.heProfile
    if (profile === undefined || profile === null) {
      throw new VeilboxError(
        'VEILBOX_ERR_HE_KEYS_MISSING',
        `${col.name} is encrypted (he) and dataset ${spec.id} has no HE keys yet, so nothing can be computed on it; a custodian creates them with POST /v1/datasets/${spec.id}/he/keys`,
        { dataset: spec.id },
      )
    }
    return columnPlan(profile, col.name)
  }
  const encryptedMeasure = (col: ColumnSpec): { index: number; plan: HeColumnPlan } => {
    const plan = hePlan(col)
    let index = encryptedOf.get(col.name)
    if (index === undefined) {
      if (groups > MAX_HE_GROUPS) {
        throw new VeilboxError(
          'VEILBOX_ERR_HE_CAPACITY_EXCEEDED',
          `an aggregate of the encrypted column ${col.name} can have at most ${MAX_HE_GROUPS} groups (each needs its own ciphertext accumulator), but this GROUP BY has ${groups}; group by fewer keys`,
          { groups },
        )
      }
      if (needsSquares.has(col.name) && plan.squareContexts === null) {
        throw new VeilboxError(
          'VEILBOX_ERR_HE_UNSUPPORTED_COLUMN',
          `VAR and STDDEV of ${col.name} need encrypted squares, and its HE keys were made without variance`,
          { column: col.name },
        )
      }
      index = encrypted.length
      encrypted.push({ column: col.name, squares: needsSquares.has(col.name) })
      encryptedOf.set(col.name, index)
    }
    return { index, plan }
  }

  const common = (extra: MechanismOptions): MechanismOptions => ({ coordinates, ...extra })
  const countMech = (units: bigint): Mechanism =>
    gaussian
      ? memoGaussian({
          sensitivity: groupedL2Sensitivity({ maxRowsPerUnit: m, perRow: 1 }),
          rho: asRational(units),
          ...common({ integer: true, inputExp: 0 }),
        })
      : memoLaplace({
          sensitivity: countSensitivity(m),
          epsilon: asRational(units),
          ...common({ integer: true, inputExp: 0 }),
        })
  const sumMech = (units: bigint, col: ColumnSpec, exp: number): Mechanism => {
    const { lower, upper } = bounds(col)
    const integer = col.type === 'integer'
    return gaussian
      ? memoGaussian({
          sensitivity: groupedL2Sensitivity({ maxRowsPerUnit: m, perRow: perRowBound(lower, upper, exp) }),
          rho: asRational(units),
          ...common({ integer, inputExp: exp }),
        })
      : memoLaplace({
          sensitivity: sumSensitivity({ maxRowsPerUnit: m, lower, upper, exp }),
          epsilon: asRational(units),
          ...common({ integer, inputExp: exp }),
        })
  }
  const heMech = (units: bigint, plan: HeColumnPlan, squares: boolean): Mechanism => {
    const s = heSensitivity(plan, m, groups, squares)
    const opts = common({ integer: s.integer, ...(s.inputExp === undefined ? {} : { inputExp: s.inputExp }) })
    return gaussian
      ? memoGaussian({ sensitivity: s.l2, rho: asRational(units), ...opts })
      : memoLaplace({ sensitivity: s.l1, epsilon: asRational(units), ...opts })
  }
  const squaresMech = (units: bigint, col: ColumnSpec, exp: number): Mechanism => {
    const { lower, upper } = bounds(col)
    const inputExp = 2 * exp + 31
    return gaussian
      ? memoGaussian({
          sensitivity: groupedL2Sensitivity({
            maxRowsPerUnit: m,
            perRow: sumSquaresSensitivity({ maxRowsPerUnit: 1, lower, upper, exp }),
          }),
          rho: asRational(units),
          ...common({ inputExp }),
        })
      : memoLaplace({
          sensitivity: sumSquaresSensitivity({ maxRowsPerUnit: m, lower, upper, exp }),
          epsilon: asRational(units),
          ...common({ inputExp }),
        })
  }

  // Mechanisms are memoized by their parameters (dp/memo.ts): most plans repeat
  // the shapes of earlier ones, and building a mechanism is exact arithmetic.
  // Quantiles of one column share one histogram: first gather their parts.
  const quantileUnits = new Map<string, bigint>()
  aggregates.forEach((a, i) => {
    if (a.fn === 'quantile') quantileUnits.set(a.column!.name, (quantileUnits.get(a.column!.name) ?? 0n) + parts[i]!)
  })
  const histograms: PlannedHistogram[] = []
  const histogramOf = new Map<string, number>()
  const histogram = (col: ColumnSpec): number => {
    let index = histogramOf.get(col.name)
    if (index === undefined) {
      const { lower, upper } = bounds(col)
      const units = quantileUnits.get(col.name)!
      const quantile = memoHistogramQuantile({
        lower,
        upper,
        bins,
        maxRowsPerUnit: m,
        groups,
        ...(gaussian ? { rho: asRational(units) } : { epsilon: asRational(units) }),
      })
      index = histograms.length
      histograms.push({ measure: measures.length, column: col.name, quantile })
      measures.push({ kind: 'histogram', column: col.name, lower, upper, bins })
      histogramOf.set(col.name, index)
    }
    return index
  }

  const outputs: OutputPlan[] = []
  const perAggregate: AggregatePrivacy[] = []
  const conf = options.confidence
  let a = 0
  for (const out of bound.outputs) {
    if (out.kind === 'group') {
      outputs.push({ kind: 'group', name: out.name, key: out.key })
      continue
    }
    const units = parts[a]!
    a += 1
    const share = gaussian ? { rho: Number(units) / 1e12 } : { epsilon: Number(units) / 1e6 }
    const base = { name: out.name, aggregate: out.label, column: out.column?.name ?? null, ...share }
    const col = out.column
    switch (out.fn) {
      case 'count': {
        const mech = countMech(units)
        // An he column has no nulls (profile.ts refuses nullable ones): its COUNT is the selected rows, read off the mask.
        outputs.push({
          kind: 'count',
          name: out.name,
          label: out.label,
          source: col === null || col.protection === 'he' ? 'rows' : nonNull(col),
          mech,
        })
        perAggregate.push({ ...base, noise: { count: mech.noiseScale }, halfWidth: mech.halfWidth(conf) })
        break
      }
      case 'sum': {
        if (col!.protection === 'he') {
          const he = encryptedMeasure(col!)
          const mech = heMech(units, he.plan, false)
          outputs.push({
            kind: 'sum',
            name: out.name,
            label: out.label,
            measure: -1,
            mech,
            exp: mech.gridExp,
            encrypted: he.index,
          })
          perAggregate.push({ ...base, noise: { sum: mech.noiseScale }, halfWidth: mech.halfWidth(conf) })
          break
        }
        const mo = moments(col!)
        const mech = sumMech(units, col!, mo.exp)
        outputs.push({ kind: 'sum', name: out.name, label: out.label, measure: mo.index, mech, exp: mo.exp })
        perAggregate.push({ ...base, noise: { sum: mech.noiseScale }, halfWidth: mech.halfWidth(conf) })
        break
      }
      case 'avg': {
        if (col!.protection === 'he') {
          const he = encryptedMeasure(col!)
          const [s, c] = split(units, 2, gaussian ? 'rho' : 'epsilon')
          const sum = heMech(s!, he.plan, false)
          const count = countMech(c!)
          const { lower, upper } = bounds(col!)
          outputs.push({
            kind: 'avg',
            name: out.name,
            label: out.label,
            measure: -1,
            encrypted: he.index,
            exp: sum.gridExp,
            sum,
            count,
            lower,
            upper,
          })
          perAggregate.push({ ...base, noise: { sum: sum.noiseScale, count: count.noiseScale }, halfWidth: null })
          break
        }
        const mo = moments(col!)
        const [s, c] = split(units, 2, gaussian ? 'rho' : 'epsilon')
        const sum = sumMech(s!, col!, mo.exp)
        const count = countMech(c!)
        outputs.push({
          kind: 'avg',
          name: out.name,
          label: out.label,
          measure: mo.index,
          exp: mo.exp,
          sum,
          count,
          lower: mo.lower,
          upper: mo.upper,
        })
        perAggregate.push({ ...base, noise: { sum: sum.noiseScale, count: count.noiseScale }, halfWidth: null })
        break
      }
      case 'var':
      case 'stddev': {
        if (col!.protection === 'he') {
          const he = encryptedMeasure(col!)
          const [c, s, q] = split(units, 3, gaussian ? 'rho' : 'epsilon')
          const count = countMech(c!)
          const sum = heMech(s!, he.plan, false)
          const squares = heMech(q!, he.plan, true)
          const { lower, upper } = bounds(col!)
          outputs.push({
            kind: out.fn,
            name: out.name,
            label: out.label,
            measure: -1,
            encrypted: he.index,
            exp: sum.gridExp,
            sum,
            count,
            squares,
            lower,
            upper,
          })
          perAggregate.push({
            ...base,
            noise: { count: count.noiseScale, sum: sum.noiseScale, sumOfSquares: squares.noiseScale },
            halfWidth: null,
          })
          break
        }
        const mo = moments(col!)
        const [c, s, q] = split(units, 3, gaussian ? 'rho' : 'epsilon')
        const count = countMech(c!)
        const sum = sumMech(s!, col!, mo.exp)
        const squares = squaresMech(q!, col!, mo.exp)
        outputs.push({
          kind: out.fn,
          name: out.name,
          label: out.label,
          measure: mo.index,
          exp: mo.exp,
          sum,
          count,
          squares,
          lower: mo.lower,
          upper: mo.upper,
        })
        perAggregate.push({
          ...base,
          noise: { count: count.noiseScale, sum: sum.noiseScale, sumOfSquares: squares.noiseScale },
          halfWidth: null,
        })
        break
      }
      case 'quantile': {
        const h = histogram(col!)
        outputs.push({ kind: 'quantile', name: out.name, label: out.label, histogram: h, p: out.p! })
        perAggregate.push({
          ...base,
          noise: { histogramBin: histograms[h]!.quantile.mechanism.noiseScale },
          halfWidth: null,
        })
        break
      }
    }
  }

  const mechanisms = (): Mechanism[] =>
    outputs.flatMap((o) =>
      o.kind === 'count' || o.kind === 'sum'
        ? [o.mech]
        : o.kind === 'avg'
          ? [o.sum, o.count]
          : o.kind === 'var' || o.kind === 'stddev'
            ? [o.count, o.sum, o.squares]
            : [],
    )

  const typedKey = (k: number, v: string | null): string | boolean | null =>
    v === null ? null : bound.groupBy[k]!.column.type === 'boolean' ? v === 'true' : v

  return Object.freeze({
    bound,
    exec: {
      where: bound.where === null ? null : toTaskPredicate(bound.where),
      groupBy: bound.groupBy.map((g, i) => ({
        column: g.column.name,
        dictionary: [...layout!.keys[i]!.dictionary],
        nullable: layout!.keys[i]!.nullable,
      })),
      measures,
      ...(encrypted.length > 0 ? { encrypted } : {}),
    },
    layout,
    groups,
    outputs,
    histograms,
    mechanism: options.mechanism,
    confidence: conf,
    epsilonMicro: gaussian ? 0n : epsilonMicro,
    rhoPico: gaussian ? parts.reduce((x, y) => x + y, 0n) : 0n,
    perAggregate,
    prepare: async () => {
      const settled = await Promise.allSettled([
        ...mechanisms().map((mech) => mech.prepare(groups)),
        ...histograms.map((h) => h.quantile.prepare(groups)),
      ])
      const ends = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
      const end = (): void => ends.forEach((e) => e())
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected')
      if (failed) {
        end()
        throw failed.reason
      }
      return end
    },
    groupKeys: (code: number) => (layout === null ? [] : decodeGroup(layout, code).map((v, k) => typedKey(k, v))),
  })
}
