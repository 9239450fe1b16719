import { badArgument } from './contract.js'
import type { CodeArray, Grouping, Selection } from './types.js'

/**
 * Per-unit slots, one unit after another: min(cap, the unit's kept rows) for
 * each unit, so they add up to at most the kept rows. `offsets[u]` is where
 * unit u's slots start, `filled[u]` how many it has used.
 */
function unitSlots(
  keep: Uint8Array,
  units: { readonly values: CodeArray; readonly dictionary: { readonly length: number } },
  rows: number,
  cap: number,
): { offsets: Uint32Array; slots: Int32Array; filled: Uint32Array } {
  const size = units.dictionary.length
  const u = units.values
  const offsets = new Uint32Array(size + 1)
  for (let i = 0; i < rows; i++) {
    if (keep[i] === 0) continue
    const unit = u[i]!
    if (unit >= size) throw badArgument(`unit code ${unit} at row ${i} is past the ${size} units`)
    if (offsets[unit + 1]! < cap) offsets[unit + 1]!++
  }
  for (let k = 0; k < size; k++) offsets[k + 1]! += offsets[k]!
  return { offsets, slots: new Int32Array(offsets[size]!), filled: new Uint32Array(size) }
}

/**
 * COUNT(DISTINCT unit): per group, how many privacy units have at least one
 * selected row. The selection already holds the contribution bound, so a
 * unit has at most m = maxRowsPerUnit selected rows; with m = 1 every
 * selected row is its own unit, and the count is the selected rows'.
 *
 * Otherwise each unit gets m slots in one array laid out by unit (offsets
 * from the kept rows per unit, so the slots add up to the kept rows, not to
 * units times m), and a selected row's group is looked up among its unit's
 * filled slots: at most m comparisons per row, no hashing, and memory in
 * proportion to the rows.
 */
export function distinctUnitCounts(
  selection: Selection,
  grouping: Grouping | null,
  units: { readonly values: CodeArray; readonly dictionary: { readonly length: number } },
  keep: Uint8Array,
  rows: number,
  maxRowsPerUnit: number,
): Float64Array {
  const groups = grouping?.count ?? 1
  const codes = grouping?.codes ?? null
  const counts = new Float64Array(groups)
  if (maxRowsPerUnit === 1) {
    for (let i = 0; i < rows; i++) if (selection[i] !== 0) counts[codes === null ? 0 : codes[i]!]++
    return counts
  }
  const u = units.values
  // Slots per unit: its kept rows (at most m), laid out one unit after another.
  const { offsets, slots, filled } = unitSlots(keep, units, rows, maxRowsPerUnit)
  for (let i = 0; i < rows; i++) {
    if (selection[i] === 0) continue
    if (keep[i] === 0) throw badArgument(`row ${i} is selected but not kept by the contribution bound`)
    const unit = u[i]!
    const g = codes === null ? 0 : codes[i]!
    const start = offsets[unit]!
    const n = filled[unit]!
    let seen = false
    for (let k = 0; k < n; k++) if (slots[start + k] === g) seen = true
    if (seen) continue
    if (start + n >= offsets[unit + 1]!) throw badArgument(`unit ${unit} has more distinct groups than kept rows`)
    slots[start + n] = g
    filled[unit] = n + 1
    counts[g]!++
  }
  return counts
}

/**
 * Partition selection's contribution bound (plan/selection.ts): of each
 * unit's kept rows, those whose key is among the unit's first `l0` distinct
 * keys in row order. Rows with a null key are left as they are (the plan's
 * WHERE drops them). Applied before the WHERE, so the rows a unit counts in
 * do not depend on the query's condition. Each unit gets min(l0, its kept
 * rows) slots, so memory stays in proportion to the rows.
 */
export function firstKeysPerUnit(
  keep: Uint8Array,
  units: { readonly values: CodeArray; readonly dictionary: { readonly length: number } },
  keys: { readonly values: CodeArray; readonly nulls: Uint8Array | null },
  rows: number,
  l0: number,
): Uint8Array {
  const u = units.values
  const { offsets, slots, filled } = unitSlots(keep, units, rows, l0)
  const out = new Uint8Array(keep)
  const nulls = keys.nulls
  for (let i = 0; i < rows; i++) {
    if (keep[i] === 0) continue
    if (nulls !== null && ((nulls[i >> 3]! >> (i & 7)) & 1) === 1) continue
    const unit = u[i]!
    const key = keys.values[i]!
    const start = offsets[unit]!
    const n = filled[unit]!
    let seen = false
    for (let k = 0; k < n; k++) if (slots[start + k] === key) seen = true
    if (seen) continue
    if (start + n < offsets[unit + 1]!) {
      slots[start + n] = key
      filled[unit] = n + 1
    } else {
      out[i] = 0
    }
  }
  return out
}
