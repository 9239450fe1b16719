import { badArgument } from './contract.js'
import type { TaskColumns } from './task.js'
import { entries } from './dictionary.js'
import type { CodeArray, ColumnArray, Dictionary, NullBitmap } from './types.js'

/**
 * The rows of a unit join (issue 21; query/joins.ts binds it): for each
 * privacy unit, the pairs of its kept rows on the left and its kept rows on
 * the right, in (left row, right row) order, of which the first `maxRows` are
 * kept. The rule depends on the two versions' row orders only, never on the
 * query. A unit thus owns at most `maxRows` joined rows, and a unit added to
 * or removed from both datasets adds or removes exactly its own joined rows.
 *
 * Units meet by their ids (the two unit columns' dictionaries), not by their
 * codes. Work and memory are linear in the rows and the pairs kept.
 */

export interface JoinSide {
  readonly src: TaskColumns
  /** The side's privacy unit column (dictionary-encoded ids). */
  readonly unit: string
}

export interface JoinedRows {
  /** The left row of each joined row. */
  readonly left: Uint32Array
  /** The right row of each joined row. */
  readonly right: Uint32Array
  readonly rows: number
}

function codes(side: JoinSide): { readonly values: CodeArray; readonly dictionary: Dictionary } {
  const c = side.src.columns.get(side.unit)
  if (c === undefined || c.kind !== 'code') throw badArgument(`join: the unit column ${side.unit} is not loaded as ids`)
  return c
}

/** The joined rows' pairs, at most maxRows per unit. */
export function joinRows(left: JoinSide, right: JoinSide, maxRows: number): JoinedRows {
  if (!Number.isInteger(maxRows) || maxRows < 1)
    throw badArgument(`join: maxRows must be a positive integer, got ${maxRows}`)
  const l = codes(left)
  const r = codes(right)
  // The right's units in the left's code space; -1 for a unit the left does not have.
  // The ids as strings, here in the worker and for this task only: the column cache keeps them packed.
  const leftCode = new Map(entries(l.dictionary).map((id, k) => [id, k]))
  const rightToLeft = Int32Array.from(entries(r.dictionary), (id) => leftCode.get(id) ?? -1)
  const units = l.dictionary.length
  // The right's kept rows of each unit, in row order: a counting sort by the left code.
  const start = new Uint32Array(units + 1)
  const rRows = right.src.rows
  for (let j = 0; j < rRows; j++) {
    if (right.src.keep[j] === 0) continue
    const u = rightToLeft[r.values[j]!]!
    if (u >= 0) start[u + 1]!++
  }
  for (let u = 0; u < units; u++) start[u + 1]! += start[u]!
  const byUnit = new Uint32Array(start[units]!)
  const fill = start.slice(0, units)
  for (let j = 0; j < rRows; j++) {
    if (right.src.keep[j] === 0) continue
    const u = rightToLeft[r.values[j]!]!
    if (u >= 0) byUnit[fill[u]!++] = j
  }
  // Walk the left's kept rows in row order; each pairs with its unit's right rows until the unit has maxRows.
  const taken = new Uint32Array(units)
  const outLeft: number[] = []
  const outRight: number[] = []
  const lRows = left.src.rows
  for (let i = 0; i < lRows; i++) {
    if (left.src.keep[i] === 0) continue
    const u = l.values[i]!
    if (u >= units) throw badArgument(`join: unit code ${u} at left row ${i} is past the ${units} units`)
    for (let k = start[u]!; k < start[u + 1]! && taken[u]! < maxRows; k++) {
      outLeft.push(i)
      outRight.push(byUnit[k]!)
      taken[u]!++
    }
  }
  return { left: Uint32Array.from(outLeft), right: Uint32Array.from(outRight), rows: outLeft.length }
}

function gatherNulls(nulls: NullBitmap | null, at: Uint32Array): NullBitmap | null {
  if (nulls === null) return null
  const out = new Uint8Array(Math.ceil(at.length / 8))
  for (let k = 0; k < at.length; k++) {
    const i = at[k]!
    if (((nulls[i >> 3]! >> (i & 7)) & 1) === 1) out[k >> 3]! |= 1 << (k & 7)
  }
  return out
}

/** A column's values at the given rows, with its null bitmap and dictionary. */
export function gather(c: ColumnArray, at: Uint32Array): ColumnArray {
  const nulls = gatherNulls(c.nulls, at)
  switch (c.kind) {
    case 'f64': {
      const values = new Float64Array(at.length)
      for (let k = 0; k < at.length; k++) values[k] = c.values[at[k]!]!
      return { kind: 'f64', values, nulls }
    }
    case 'i32': {
      const values = new Int32Array(at.length)
      for (let k = 0; k < at.length; k++) values[k] = c.values[at[k]!]!
      return { kind: 'i32', values, nulls }
    }
    case 'code': {
      const values =
        c.values instanceof Uint8Array
          ? new Uint8Array(at.length)
          : c.values instanceof Uint16Array
            ? new Uint16Array(at.length)
            : new Uint32Array(at.length)
      for (let k = 0; k < at.length; k++) values[k] = c.values[at[k]!]!
      return { kind: 'code', values, dictionary: c.dictionary, nulls }
    }
  }
}

/**
 * A public table's lookup (query/joins.ts publicJoin): each kept left row
 * with the one right row whose key equals its key column's value, in left
 * row order; a row whose key the table lacks, or that is empty, has none and
 * drops out. The sides' `unit` name their key columns: ids or categories
 * meet by their text, integers by their value. The right's keys are unique
 * (ingest refuses a repeat); should two rows share one, the first is used.
 */
export function lookupRows(left: JoinSide, right: JoinSide): JoinedRows {
  const lk = left.src.columns.get(left.unit)
  const rk = right.src.columns.get(right.unit)
  if (lk === undefined || rk === undefined) throw badArgument('lookup: a key column is not loaded')
  // The right row of each left key: through the left's dictionary for codes, by value for integers.
  let rowOf: (i: number) => number
  if (lk.kind === 'code' && rk.kind === 'code') {
    const byText = new Map<string, number>()
    const rightText = entries(rk.dictionary)
    for (let j = right.src.rows - 1; j >= 0; j--) if (!isNull(rk.nulls, j)) byText.set(rightText[rk.values[j]!]!, j)
    const byCode = Int32Array.from(entries(lk.dictionary), (text) => byText.get(text) ?? -1)
    rowOf = (i) => (isNull(lk.nulls, i) ? -1 : byCode[lk.values[i]!]!)
  } else if (lk.kind !== 'code' && rk.kind !== 'code') {
    const byValue = new Map<number, number>()
    for (let j = right.src.rows - 1; j >= 0; j--) if (!isNull(rk.nulls, j)) byValue.set(rk.values[j]!, j)
    rowOf = (i) => (isNull(lk.nulls, i) ? -1 : (byValue.get(lk.values[i]!) ?? -1))
  } else {
    throw badArgument(
      `lookup: the keys are loaded as ${lk.kind} and ${rk.kind}; a lookup matches two coded or two numeric keys`,
    )
  }
  const outLeft: number[] = []
  const outRight: number[] = []
  for (let i = 0; i < left.src.rows; i++) {
    if (left.src.keep[i] === 0) continue
    const j = rowOf(i)
    if (j < 0) continue
    outLeft.push(i)
    outRight.push(j)
  }
  return { left: Uint32Array.from(outLeft), right: Uint32Array.from(outRight), rows: outLeft.length }
}

function isNull(nulls: NullBitmap | null, i: number): boolean {
  return nulls !== null && ((nulls[i >> 3]! >> (i & 7)) & 1) === 1
}

/**
 * The joined rows as task columns: each named column gathered from its side
 * (`from` maps the joined spec's name to a side and that side's column), the
 * unit the left's, every joined row kept (the bound is already applied).
 * `how` is a unit join's bound on pairs per unit, or 'lookup'.
 */
export function joinedColumns(
  left: JoinSide,
  right: JoinSide,
  how: number | 'lookup',
  from: ReadonlyMap<string, { readonly side: 'left' | 'right'; readonly column: string }>,
): TaskColumns {
  const pairs = how === 'lookup' ? lookupRows(left, right) : joinRows(left, right, how)
  const columns = new Map<string, ColumnArray>()
  for (const [name, { side, column }] of from) {
    const src = side === 'left' ? left.src : right.src
    const c = src.columns.get(column)
    if (c === undefined) throw badArgument(`join: the ${side} side has no column ${column} loaded`)
    columns.set(name, gather(c, side === 'left' ? pairs.left : pairs.right))
  }
  return { rows: pairs.rows, columns, keep: new Uint8Array(pairs.rows).fill(1) }
}
