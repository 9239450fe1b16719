import {
  releaseMean,
  releaseStddev,
  releaseVariance,
  type ExactInput,
  type Mechanism,
  type Released,
} from '../dp/index.js'
import type { AggregateResult, MeasureResult } from '../exec/types.js'
import type { ScaledValue } from '../he/types.js'
import { SELECTION_OUTPUT, type NoiseReservation, type Plan } from '../plan/index.js'
import type { BoundHaving } from '../query/having.js'
import { heToGrid } from './he.js'

/**
 * The release step: exact aggregates in, noisy values and their intervals out.
 * It runs in the main process after the sandbox returns, takes noise that was
 * drawn ahead of time (plan.reserveNoise), and is post-processing from here on:
 * clipping to what the declared bounds allow, deriving ratios, sorting.
 */

export type Cell = string | number | boolean | null

export interface ReleasedTable {
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
  readonly sums: readonly ScaledValue[]
  readonly sumSquares: readonly ScaledValue[] | null
}

/** Values released between two turns of the event loop: a release of 100,000 values must not hold the main thread. */
const VALUES_PER_TURN = 2048

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/**
 * Releases every group's values. Each mechanism use of the plan releases
 * once, over all groups, through the reservation drawn while the sandbox
 * computed (plan/noise.ts); the noisy values are then post-processed cell by
 * cell, giving the event loop a turn every VALUES_PER_TURN values (exact
 * rounding and intervals cost microseconds each).
 */
export async function releaseTable(
  plan: Plan,
  result: AggregateResult,
  noise: NoiseReservation,
  decrypted: readonly DecryptedMeasure[] = [],
): Promise<ReleasedTable> {
  const conf = plan.confidence
  const groups = plan.groups
  const histogramReleases = new Map<number, Promise<Released[][]>>()
  const heOf = (i: number): DecryptedMeasure => {
    const d = decrypted[i]
    if (d === undefined) throw new Error(`encrypted measure ${i} was not decrypted`)
    return d
  }
  const perGroup = <T>(f: (g: number) => T): T[] => Array.from({ length: groups }, (_, g) => f(g))
  const release = (o: number, component: string, exact: ExactInput[]): Promise<Released[]> =>
    noise.of(o, component).releaseInTurns(exact, VALUES_PER_TURN)
  // An he value is rounded to the mechanism's grid exactly (release/he.ts); the mechanism knows it rounds.
  const heSums = (mech: Mechanism, i: number): ExactInput[] => heOf(i).sums.map((v) => heToGrid(v, mech.gridExp))
  const heSquares = (mech: Mechanism, i: number): ExactInput[] => {
    const sq = heOf(i).sumSquares
    if (sq === null) throw new Error(`encrypted measure ${i} has no sums of squares`)
    return sq.map((v) => heToGrid(v, mech.gridExp))
  }
  const sumsOf = (o: { measure: number; exp: number; encrypted?: number }, mech: Mechanism): ExactInput[] => {
    if (o.encrypted !== undefined) return heSums(mech, o.encrypted)
    const mo = momentsOf(result.measures[o.measure]!)
    return perGroup((g) => ({ units: mo.sum[g]!, exp: o.exp }))
  }
  const countsOf = (o: { measure: number; encrypted?: number }): ExactInput[] => {
    if (o.encrypted !== undefined) return perGroup((g) => BigInt(result.count[g]!))
    const mo = momentsOf(result.measures[o.measure]!)
    return perGroup((g) => BigInt(mo.nonNull[g]!))
  }

  const keyNames = plan.selection === null ? [] : (result.keys ?? [])
  const released = await selectedGroups()

  // Every column of the answer, released: one release per mechanism use, over all groups.
  type Column = (g: number) => [Cell, [number, number] | null]
  const columns: Column[] = []
  for (let i = 0; i < plan.outputs.length; i++) {
    const o = plan.outputs[i]!
    switch (o.kind) {
      case 'group':
        // A selected key's name is the version's (partition selection has one key only).
        columns.push((g) => [plan.selection === null ? plan.groupKeys(g)[o.key]! : keyNames[g]!, null])
        break
      case 'count': {
        const exact = perGroup((g) =>
          BigInt(o.source === 'rows' ? result.count[g]! : nonNullOf(result.measures[o.source]!)[g]!),
        )
        const noisy = await release(i, 'mech', exact)
        columns.push((g) => withInterval(o.mech, noisy[g]!, conf, 'nonNegative'))
        break
      }
      case 'sum': {
        let sign: 'nonNegative' | 'nonPositive' | null
        if (o.encrypted !== undefined) {
          const col = plan.exec.encrypted![o.encrypted]!.column
          const spec = plan.bound.dataset.columns.find((c) => c.name === col)!
          sign = sumSign(spec.lower!, spec.upper!)
        } else {
          const spec = plan.exec.measures[o.measure]!
          sign = spec.kind === 'moments' ? sumSign(spec.lower, spec.upper) : null
        }
        const noisy = await release(i, 'mech', sumsOf(o, o.mech))
        columns.push((g) => withInterval(o.mech, noisy[g]!, conf, sign))
        break
      }
      case 'avg': {
        const sums = await release(i, 'sum', sumsOf(o, o.sum))
        const counts = await release(i, 'count', countsOf(o))
        columns.push((g) => {
          const d = releaseMean(
            { mechanism: o.sum, released: sums[g]! },
            { mechanism: o.count, released: counts[g]! },
            o.lower,
            o.upper,
            conf,
          )
          return [d.value, [d.interval.lo, d.interval.hi]]
        })
        break
      }
      case 'var':
      case 'stddev': {
        const counts = await release(i, 'count', countsOf(o))
        const sums = await release(i, 'sum', sumsOf(o, o.sum))
        let squaresExact: ExactInput[]
        if (o.encrypted !== undefined) squaresExact = heSquares(o.squares, o.encrypted)
        else {
          const mo = momentsOf(result.measures[o.measure]!)
          squaresExact = perGroup((g) => ({ units: mo.sumSquares![g]!, exp: 2 * o.exp + 31 }))
        }
        const squares = await release(i, 'squares', squaresExact)
        const derive = o.kind === 'var' ? releaseVariance : releaseStddev
        columns.push((g) => {
          const d = derive(
            { mechanism: o.squares, released: squares[g]! },
            { mechanism: o.sum, released: sums[g]! },
            { mechanism: o.count, released: counts[g]! },
            o.lower,
            o.upper,
            conf,
          )
          return [d.value, [d.interval.lo, d.interval.hi]]
        })
        break
      }
      case 'quantile': {
        const h = plan.histograms[o.histogram]!
        const histograms = await noisyHistograms(o.histogram)
        columns.push((g) => {
          const q = h.quantile.quantiles(histograms[g]!, [o.p], conf)[0]!
          return [q.value, [q.interval.lo, q.interval.hi]]
        })
        break
      }
    }
  }

  const rows: Cell[][] = []
  const intervals: ([number, number] | null)[][] = []
  let sinceTurn = 0
  for (const g of released) {
    const row: Cell[] = []
    const ivs: ([number, number] | null)[] = []
    for (const column of columns) {
      const [v, iv] = column(g)
      row.push(v)
      ivs.push(iv)
    }
    sinceTurn += columns.length
    if (sinceTurn >= VALUES_PER_TURN) {
      sinceTurn = 0
      await nextTurn()
    }
    rows.push(row)
    intervals.push(ivs)
  }
  keepHaving(plan, rows, intervals)
  sortRows(plan, rows, intervals)
  const limit = plan.bound.limit
  if (limit !== null && rows.length > limit) {
    rows.length = limit
    intervals.length = limit
  }
  return { columns: plan.outputs.map((o) => o.name), rows, intervals }

  /**
   * The groups an answer shows: all of them, or with partition selection the
   * version's keys whose noisy count of units passes the threshold (the
   * counts themselves are not released), in key order: the order the version
   * first met them in would tell of its rows.
   */
  async function selectedGroups(): Promise<number[]> {
    const sel = plan.selection
    if (sel === null) return perGroup((g) => g)
    if (result.keys === undefined) throw new Error('partition selection needs the version keys in the result')
    const units = nonNullOf(result.measures[sel.measure]!)
    const noisy = await release(
      SELECTION_OUTPUT,
      'selection',
      perGroup((g) => BigInt(units[g]!)),
    )
    const passing = perGroup((g) => g).filter((g) => g < keyNames.length && noisy[g]!.units > sel.passUnits)
    return passing.sort((a, b) => compareCells(keyNames[a]!, keyNames[b]!))
  }

  /** Every group's noisy histogram of one planned histogram, released once (shared by its quantiles). */
  async function noisyHistograms(h: number): Promise<Released[][]> {
    let done = histogramReleases.get(h)
    if (done === undefined) {
      const planned = plan.histograms[h]!
      const m = result.measures[planned.measure]!
      if (m.kind !== 'histogram') throw new Error('expected a histogram')
      done = planned.quantile.noisyHistograms(noise.ofHistogram(h), m.counts)
      histogramReleases.set(h, done)
    }
    return done
  }
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

/**
 * HAVING over released values (post-processing, like ORDER BY and LIMIT):
 * a row stays when the condition is true of its noisy cells, in SQL's
 * three-valued logic (a null cell makes a comparison unknown, and unknown
 * drops the row). It reads nothing but what is released, so it reveals
 * nothing more and costs nothing.
 */
function keepHaving(plan: Plan, rows: Cell[][], intervals: ([number, number] | null)[][]): void {
  const having = plan.bound.having
  if (having === null) return
  let kept = 0
  for (let i = 0; i < rows.length; i++) {
    if (holds(having, rows[i]!) !== true) continue
    rows[kept] = rows[i]!
    intervals[kept] = intervals[i]!
    kept++
  }
  rows.length = kept
  intervals.length = kept
}

function holds(p: BoundHaving, row: readonly Cell[]): boolean | null {
  if (p.kind === 'and' || p.kind === 'or') {
    // AND: false wins, then unknown; OR: true wins, then unknown.
    const decisive = p.kind === 'or'
    let unknown = false
    for (const o of p.operands) {
      const v = holds(o, row)
      if (v === decisive) return decisive
      if (v === null) unknown = true
    }
    return unknown ? null : !decisive
  }
  if (p.kind === 'not') {
    const v = holds(p.operand, row)
    return v === null ? null : !v
  }
  if (p.kind === 'isNull') {
    const isNull = row[p.output] === null
    return p.negated ? !isNull : isNull
  }
  const cell = row[p.output]
  if (cell === null || cell === undefined) return null
  switch (p.kind) {
    case 'cmp': {
      const c = compareCells(cell, p.value)
      switch (p.op) {
        case '=':
          return c === 0
        case '<>':
          return c !== 0
        case '<':
          return c < 0
        case '<=':
          return c <= 0
        case '>':
          return c > 0
        case '>=':
          return c >= 0
      }
      return null
    }
    case 'in': {
      const hit = p.values.some((v) => compareCells(cell, v) === 0)
      return p.negated ? !hit : hit
    }
    case 'between': {
      const inside = compareCells(cell, p.low) >= 0 && compareCells(cell, p.high) <= 0
      return p.negated ? !inside : inside
    }
  }
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
