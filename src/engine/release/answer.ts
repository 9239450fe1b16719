import { releaseMean, releaseStddev, releaseVariance, type Mechanism, type Released } from '../dp/index.js'
import type { AggregateResult, MeasureResult } from '../exec/types.js'
import type { ScaledValue as HeExactValue } from '../he/types.js'
import type { OutputPlan, Plan } from '../query/planner.js'
import { heToGrid } from './he.js'

/**
 * The release step: exact aggregates in, noisy values and their intervals out.
 * It runs in the main process after the sandbox returns, takes noise that was
 * drawn ahead of time (plan.prepare), and is post-processing from here on:
 * clipping to what the declared bounds allow, deriving ratios, sorting.
 */

export type Cell = string | number | boolean | null

export interface ReleasedAnswer {
  readonly columns: readonly string[]
  readonly rows: readonly (readonly Cell[])[]
  /** Parallel to rows: null for a group column, [lo, hi] for an aggregate. */
  readonly intervals: readonly (readonly ([number, number] | null)[])[]
}

function nonNullOf(m: MeasureResult): Float64Array {
  if (m.kind === 'histogram') throw new Error('a histogram has no non-null count')
  return m.nonNull
}

function momentsOf(m: MeasureResult): Extract<MeasureResult, { kind: 'moments' }> {
  if (m.kind !== 'moments') throw new Error(`expected moments, got ${m.kind}`)
  return m
}

/** A released value with its interval, clipped to a known sign (post-processing). */
function withInterval(
  mech: Mechanism,
  r: Released,
  confidence: number,
  sign: 'nonNegative' | 'nonPositive' | null,
): [number, [number, number]] {
  const iv = mech.interval(r, confidence)
  let value = r.value
  let lo = iv.lo
  let hi = iv.hi
  if (sign === 'nonNegative') {
    value = Math.max(0, value)
    lo = Math.max(0, lo)
    hi = Math.max(0, hi)
  } else if (sign === 'nonPositive') {
    value = Math.min(0, value)
    lo = Math.min(0, lo)
    hi = Math.min(0, hi)
  }
  return [value, [lo, hi]]
}

function sumSign(lower: number, upper: number): 'nonNegative' | 'nonPositive' | null {
  return lower >= 0 ? 'nonNegative' : upper <= 0 ? 'nonPositive' : null
}

/** Decrypted encrypted measures, parallel to plan.exec.encrypted: per group (every group) the custodian's exact value. */
export interface DecryptedMeasure {
  readonly sums: readonly HeExactValue[]
  readonly sumSquares: readonly HeExactValue[] | null
}

/** Values released between two turns of the event loop: a release of 100,000 values must not hold the main thread. */
const VALUES_PER_TURN = 2048

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/**
 * Releases every group's values, giving the event loop a turn every
 * VALUES_PER_TURN values (noise takes, exact rounding and intervals cost
 * microseconds each). The noise was reserved before the sandbox ran and stays
 * reserved until the caller ends it, so yielding takes no sample early or late.
 */
export async function releaseAnswer(
  plan: Plan,
  result: AggregateResult,
  decrypted: readonly DecryptedMeasure[] = [],
): Promise<ReleasedAnswer> {
  const conf = plan.confidence
  const heOf = (i: number): DecryptedMeasure => {
    const d = decrypted[i]
    if (d === undefined) throw new Error(`encrypted measure ${i} was not decrypted`)
    return d
  }
  // An he value is rounded to the mechanism's grid exactly (release/he.ts); the mechanism knows it rounds.
  const heSum = (mech: Mechanism, i: number, g: number): Released =>
    mech.release(heToGrid(heOf(i).sums[g]!, mech.gridExp))
  const heSquares = (mech: Mechanism, i: number, g: number): Released => {
    const sq = heOf(i).sumSquares
    if (sq === null) throw new Error(`encrypted measure ${i} has no sums of squares`)
    return mech.release(heToGrid(sq[g]!, mech.gridExp))
  }
  const noisyHistograms = new Map<string, Released[]>()
  const histogramOf = (h: number, g: number): Released[] => {
    const key = `${h}:${g}`
    let noisy = noisyHistograms.get(key)
    if (noisy === undefined) {
      const planned = plan.histograms[h]!
      const m = result.measures[planned.measure]!
      if (m.kind !== 'histogram') throw new Error('expected a histogram')
      const bins = m.bins
      noisy = planned.quantile.noisyHistogram(m.counts.subarray(g * bins, (g + 1) * bins))
      noisyHistograms.set(key, noisy)
    }
    return noisy
  }

  const cell = (o: OutputPlan, g: number): [Cell, [number, number] | null] => {
    switch (o.kind) {
      case 'group':
        return [plan.groupKeys(g)[o.key]!, null]
      case 'count': {
        const exact = o.source === 'rows' ? result.count[g]! : nonNullOf(result.measures[o.source]!)[g]!
        return withInterval(o.mech, o.mech.release(BigInt(exact)), conf, 'nonNegative')
      }
      case 'sum': {
        if (o.encrypted !== undefined) {
          const col = plan.exec.encrypted![o.encrypted]!.column
          const spec = plan.bound.dataset.columns.find((c) => c.name === col)!
          return withInterval(o.mech, heSum(o.mech, o.encrypted, g), conf, sumSign(spec.lower!, spec.upper!))
        }
        const mo = momentsOf(result.measures[o.measure]!)
        const spec = plan.exec.measures[o.measure]!
        const sign = spec.kind === 'moments' ? sumSign(spec.lower, spec.upper) : null
        return withInterval(o.mech, o.mech.release({ units: mo.sum[g]!, exp: o.exp }), conf, sign)
      }
      case 'avg': {
        if (o.encrypted !== undefined) {
          const d = releaseMean(
            { mechanism: o.sum, released: heSum(o.sum, o.encrypted, g) },
            { mechanism: o.count, released: o.count.release(BigInt(result.count[g]!)) },
            o.lower,
            o.upper,
            conf,
          )
          return [d.value, [d.interval.lo, d.interval.hi]]
        }
        const mo = momentsOf(result.measures[o.measure]!)
        const d = releaseMean(
          { mechanism: o.sum, released: o.sum.release({ units: mo.sum[g]!, exp: o.exp }) },
          { mechanism: o.count, released: o.count.release(BigInt(mo.nonNull[g]!)) },
          o.lower,
          o.upper,
          conf,
        )
        return [d.value, [d.interval.lo, d.interval.hi]]
      }
      case 'var':
      case 'stddev': {
        if (o.encrypted !== undefined) {
          const squares = { mechanism: o.squares, released: heSquares(o.squares, o.encrypted, g) }
          const sum = { mechanism: o.sum, released: heSum(o.sum, o.encrypted, g) }
          const count = { mechanism: o.count, released: o.count.release(BigInt(result.count[g]!)) }
          const d = (o.kind === 'var' ? releaseVariance : releaseStddev)(squares, sum, count, o.lower, o.upper, conf)
          return [d.value, [d.interval.lo, d.interval.hi]]
        }
        const mo = momentsOf(result.measures[o.measure]!)
        const squares = {
          mechanism: o.squares,
          released: o.squares.release({ units: mo.sumSquares![g]!, exp: 2 * o.exp + 31 }),
        }
        const sum = { mechanism: o.sum, released: o.sum.release({ units: mo.sum[g]!, exp: o.exp }) }
        const count = { mechanism: o.count, released: o.count.release(BigInt(mo.nonNull[g]!)) }
        const d = (o.kind === 'var' ? releaseVariance : releaseStddev)(squares, sum, count, o.lower, o.upper, conf)
        return [d.value, [d.interval.lo, d.interval.hi]]
      }
      case 'quantile': {
        const q = plan.histograms[o.histogram]!.quantile.quantiles(histogramOf(o.histogram, g), [o.p], conf)[0]!
        return [q.value, [q.interval.lo, q.interval.hi]]
      }
    }
  }

  const rows: Cell[][] = []
  const intervals: ([number, number] | null)[][] = []
  let sinceTurn = 0
  for (let g = 0; g < plan.groups; g++) {
    const row: Cell[] = []
    const ivs: ([number, number] | null)[] = []
    for (const o of plan.outputs) {
      const [v, iv] = cell(o, g)
      row.push(v)
      ivs.push(iv)
    }
    sinceTurn += plan.outputs.length
    if (sinceTurn >= VALUES_PER_TURN) {
      sinceTurn = 0
      await nextTurn()
    }
    rows.push(row)
    intervals.push(ivs)
  }
  sortRows(plan, rows, intervals)
  return { columns: plan.outputs.map((o) => o.name), rows, intervals }
}

function compareCells(a: Cell, b: Cell): number {
  if (a === b) return 0
  if (a === null) return -1
  if (b === null) return 1
  if (typeof a === 'number' && typeof b === 'number') return a - b
  const x = String(a)
  const y = String(b)
  return x < y ? -1 : x > y ? 1 : 0
}

/** ORDER BY over released values (post-processing); without it, groups keep their declared order. */
function sortRows(plan: Plan, rows: Cell[][], intervals: ([number, number] | null)[][]): void {
  const order = plan.bound.orderBy
  if (order.length === 0) return
  const idx = rows.map((_, i) => i)
  idx.sort((i, j) => {
    for (const o of order) {
      const c = compareCells(rows[i]![o.output]!, rows[j]![o.output]!)
      if (c !== 0) return o.direction === 'desc' ? -c : c
    }
    return i - j
  })
  const r = idx.map((i) => rows[i]!)
  const v = idx.map((i) => intervals[i]!)
  rows.splice(0, rows.length, ...r)
  intervals.splice(0, intervals.length, ...v)
}
