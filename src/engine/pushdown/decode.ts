import type { VeilboxError } from '../../errors/index.js'
import type { ColumnSpec } from '../../schema.js'
import { badArgument, describe } from '../exec/contract.js'
import type { ExecTask } from '../exec/task.js'
import type { AggregateResult, MeasureResult } from '../exec/types.js'

/**
 * A pushed-down statement's rows (compile.ts) back into the kernels'
 * AggregateResult: each key mapped to its code in the declared dictionary
 * (mixed radix, first key least significant, as exec/grouping.ts lays
 * groups out), missing groups and bins left at zero, counts as numbers and
 * sums as exact bigints. The grand total carries the snapshot's checks.
 */

/** One row of the result, its values in the order of the select list. */
export type ResultRow = readonly unknown[]

export interface SourceAggregates {
  readonly result: AggregateResult
  /** Every row of the snapshot, before any bound or condition. */
  readonly rows: number
  /** Rows that break the dataset's declaration; the snapshot has changed when this is not 0. */
  readonly violations: number
}

function bad(detail: string): VeilboxError {
  return badArgument(`pushdown: ${detail}`)
}

function int(v: unknown, what: string): number {
  // A sum over no rows is NULL.
  if (v === null) return 0
  const n = typeof v === 'bigint' ? Number(v) : typeof v === 'string' ? Number(v) : v
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
    throw bad(`the source returned ${describe(v)} for ${what}`)
  return n
}

function big(v: unknown, what: string): bigint {
  if (v === null || v === undefined) return 0n
  if (typeof v === 'bigint') return v
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v)
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v)
  throw bad(`the source returned ${describe(v)} for ${what}`)
}

export interface Key {
  readonly column: ColumnSpec
  readonly dictionary: readonly string[]
  readonly nullable: boolean
  /** A bucket key: the source returns the bucket's code itself. */
  readonly bucket: boolean
  /**
   * A partition selection key: the source's values, sorted, take the slots
   * (the dictionary's length is the column's maxKeys); more values than slots
   * break the declaration.
   */
  readonly selected?: boolean
}

export interface Shape {
  readonly keys: readonly Key[]
  readonly bins: readonly { measure: number; bins: number }[]
  /** Where each measure's columns start in a result row. */
  readonly measureColumns: readonly number[]
  readonly groups: number
}

const NO_KEY = -2
const PAST_MAX_KEYS = -1

/** The selected key's values the source returned, sorted (JavaScript order): the slots they take. */
function selectedValues(rows: readonly ResultRow[], j: number, width: number): string[] {
  const keyBit = 1 << (width - 1 - j)
  const values = new Set<string>()
  for (const row of rows) {
    const set = int(row[0], 'the grouping set')
    const v = row[1 + j]
    if ((set & keyBit) === 0 && v !== null && v !== undefined) values.add(String(v))
  }
  return [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
}

function bucketIndex(v: unknown, count: number): number {
  const n = typeof v === 'string' ? Number(v) : v
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n < count ? n : -1
}

export function decode(rows: readonly ResultRow[], task: ExecTask, shape: Shape): SourceAggregates {
  const { keys, bins, measureColumns, groups } = shape
  const count = new Float64Array(groups)
  const measures = task.measures.map((m): MeasureResult => {
    if (m.kind === 'moments')
      return {
        kind: 'moments',
        nonNull: new Float64Array(groups),
        sum: new Array<bigint>(groups).fill(0n),
        sumSquares: m.squares ? new Array<bigint>(groups).fill(0n) : null,
      }
    if (m.kind === 'nonNull' || m.kind === 'distinctUnits')
      return { kind: 'nonNull', nonNull: new Float64Array(groups) }
    return { kind: 'histogram', counts: new Float64Array(groups * m.bins), bins: m.bins }
  })
  const width = keys.length + bins.length
  const bit = (j: number): number => 1 << (width - 1 - j)
  const keyBits = keys.reduce((mask, _, j) => mask | bit(j), 0)
  let total: { rows: number; violations: number } | null = null
  let keyedRows = 0
  const selected = keys.findIndex((k) => k.selected === true)
  const found = selected < 0 ? [] : selectedValues(rows, selected, width)
  const indexes = keys.map((k, j) =>
    j === selected
      ? new Map(found.slice(0, k.dictionary.length).map((e, i) => [e, i]))
      : new Map(k.dictionary.map((e, i) => [e, i])),
  )
  const groupOf = (row: ResultRow): number => {
    let g = 0
    for (let j = keys.length - 1; j >= 0; j--) {
      const k = keys[j]!
      const v = row[1 + j]
      const code = k.bucket
        ? bucketIndex(v, k.dictionary.length)
        : v === null
          ? k.nullable
            ? k.dictionary.length
            : -1
          : (indexes[j]!.get(String(v)) ?? -1)
      // A selected key: null is no key (its rows are not selected); past maxKeys, the declaration is broken.
      if (j === selected && v === null) return NO_KEY
      if (code < 0 && j === selected) return PAST_MAX_KEYS
      if (code < 0) throw bad(`the source returned a key outside the declared domain of ${k.column.name}`)
      g = g * (k.dictionary.length + (k.nullable ? 1 : 0)) + code
    }
    return g
  }
  const base = 1 + width
  for (const row of rows) {
    const set = int(row[0], 'the grouping set')
    const all = int(row[base], 'a row count')
    const selected = int(row[base + 1], 'a selected count')
    if (set === (1 << width) - 1 || width === 0) {
      total = { rows: all, violations: int(row[base + 2], 'the broken rows') }
      if (keys.length > 0) continue
    }
    if ((set & keyBits) !== 0) throw bad(`the source returned an unexpected grouping set ${set}`)
    const g = groupOf(row)
    const hist = bins.findIndex((_, h) => (set & bit(keys.length + h)) === 0)
    // A null selected key's rows are rows of the snapshot, in no group; a key past the column's maxKeys breaks the
    // declaration (its rows counted below, as dropped rows are). Histogram sets count no rows.
    if (g === NO_KEY && hist < 0) keyedRows += all
    if (g < 0) continue
    if (hist >= 0) {
      const binValue = row[1 + keys.length + hist]
      if (binValue === null) continue // the null values' own group: not counted
      const { measure, bins: n } = bins[hist]!
      const r = measures[measure]!
      const b = int(binValue, 'a bin')
      if (r.kind !== 'histogram' || b >= n) throw bad(`the source returned bin ${b} of ${n}`)
      r.counts[g * n + b] = selected
      continue
    }
    keyedRows += all
    count[g] = selected
    measures.forEach((r, i) => {
      const at = measureColumns[i]!
      if (r.kind === 'moments') {
        r.nonNull[g] = int(row[at], 'a non-null count')
        r.sum[g] = big(row[at + 1], 'a sum')
        if (r.sumSquares !== null) r.sumSquares[g] = big(row[at + 2], 'a sum of squares')
      } else if (r.kind === 'nonNull') {
        r.nonNull[g] = int(row[at], 'a non-null count')
      }
    })
  }
  if (total === null) throw bad('the source returned no grand total')
  // Rows whose key is outside the declared domain were dropped by HAVING: they are the difference.
  const dropped = keys.length > 0 ? total.rows - keyedRows : 0
  if (dropped < 0) throw bad('the source returned more keyed rows than rows')
  const result =
    selected < 0 ? { count, measures } : { count, measures, keys: found.slice(0, keys[selected]!.dictionary.length) }
  return { result, rows: total.rows, violations: total.violations + dropped }
}
