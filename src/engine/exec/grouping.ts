import { VeilboxError } from '../../errors/index.js'
import { badArgument as bad, describe } from './contract.js'
import { tsLoops, type Loops } from './loops.js'
import { MAX_GROUPS, type CodeArray, type ColumnArray, type Grouping } from './types.js'
import { vouchForGrouping, validateColumn } from './validate.js'

/**
 * GROUP BY keys: up to MAX_GROUP_COLUMNS dictionary-encoded columns combined
 * into one code per row, in mixed radix with the first column least
 * significant: code = k0 + r0 * (k1 + r1 * (k2 + r2 * k3)).
 *
 * The group set must not depend on the data: a group that appears only when
 * some row exists would itself release that row. So the layout comes from the
 * declared schema (each column's dictionary, and whether it is declared
 * nullable), never from the loaded arrays: a nullable column gets its extra
 * null code even in a version that holds no null, and a version whose array
 * carries a null bitmap for a column declared non-nullable is refused.
 */

export const MAX_GROUP_COLUMNS = 4

/** What the planner knows of one GROUP BY column before any data is read. */
export interface GroupKeySpec {
  readonly dictionary: readonly string[]
  readonly nullable: boolean
}

export interface GroupLayout {
  readonly keys: readonly GroupKeySpec[]
  /** dictionary.length, plus one for the null code when nullable. */
  readonly radices: readonly number[]
  readonly count: number
}

export type CodeColumn = Extract<ColumnArray, { kind: 'code' }>

/**
 * The layout of a GROUP BY, refused with VEILBOX_ERR_EXEC_TOO_MANY_GROUPS when
 * it has more than MAX_GROUP_COLUMNS columns or MAX_GROUPS groups. Cheap: the
 * planner can call it before pricing the query.
 */
export function groupLayout(keys: readonly GroupKeySpec[]): GroupLayout {
  if (!Array.isArray(keys) || keys.length === 0) {
    throw bad(
      `groupLayout needs 1 to ${MAX_GROUP_COLUMNS} key columns, got ${Array.isArray(keys) ? 0 : describe(keys)}; an ungrouped aggregate has grouping null`,
    )
  }
  if (keys.length > MAX_GROUP_COLUMNS) {
    throw new VeilboxError(
      'VEILBOX_ERR_EXEC_TOO_MANY_GROUPS',
      `GROUP BY takes at most ${MAX_GROUP_COLUMNS} columns, got ${keys.length}`,
      { columns: keys.length, maxColumns: MAX_GROUP_COLUMNS },
    )
  }
  const radices = keys.map((k, i) => {
    if (k === null || typeof k !== 'object' || !Array.isArray(k.dictionary) || typeof k.nullable !== 'boolean') {
      throw bad(`keys[${i}] must be { dictionary: string[], nullable: boolean }, got ${describe(k)}`)
    }
    const r = k.dictionary.length + (k.nullable ? 1 : 0)
    if (r === 0) throw bad(`keys[${i}] has an empty dictionary and no null code: no row could belong to a group`)
    return r
  })
  // BigInt so that four 65,536-entry dictionaries cannot overflow the product.
  const product = radices.reduce((p, r) => p * BigInt(r), 1n)
  if (product > BigInt(MAX_GROUPS)) {
    throw new VeilboxError(
      'VEILBOX_ERR_EXEC_TOO_MANY_GROUPS',
      `GROUP BY allows ${product} groups (${radices.join(' x ')}), more than ${MAX_GROUPS}`,
      { groups: product.toString(), maxGroups: MAX_GROUPS },
    )
  }
  return Object.freeze({ keys: Object.freeze([...keys]), radices: Object.freeze(radices), count: Number(product) })
}

/**
 * One group code per row for `columns` laid out by `layout`, in one pass per
 * column. Every non-null row's code is checked against its dictionary, so the
 * result satisfies the kernel contract (every code < count) and is vouched for:
 * the kernel's validator does not scan it again. A single column without a
 * null bitmap is used in place, without a copy. The per-row loops (digits, the
 * maximum scan) are `loops` (loops.ts): TypeScript by default, native when the
 * caller passes the loader's `KernelChoice.loops`; the codes are the same.
 * `checked`: the columns passed checkGroupColumns already (whole, before
 * being cut into row ranges).
 */
export function encodeGroups(
  layout: GroupLayout,
  columns: readonly CodeColumn[],
  rows: number,
  loops: Loops = tsLoops,
  checked = false,
): Grouping {
  if (!checked) checkGroupColumns(layout, columns, rows, loops)
  else if (columns.length !== layout.keys.length) throw bad(`encodeGroups needs ${layout.keys.length} columns`)
  const count = layout.count
  if (columns.length === 1 && columns[0].nulls === null) return trusted({ codes: columns[0].values, count })
  const codes: CodeArray =
    count <= 256 ? new Uint8Array(rows) : count <= 65536 ? new Uint16Array(rows) : new Uint32Array(rows)
  let multiplier = 1
  columns.forEach((col, k) => {
    // codes += multiplier * digit, the digit being the code, or the null digit (= dictionary length) at a null row.
    loops.addDigits(codes, col.values, multiplier, k === 0, col.nulls, col.dictionary.length)
    multiplier *= layout.radices[k]
  })
  return trusted({ codes, count })
}

/**
 * What encodeGroups checks before it combines anything: the columns against
 * the layout, and every non-null code against its dictionary. A null entry is
 * a column whose codes the caller computes itself (a numeric column's
 * buckets, in range by construction). exec/chunked.ts checks whole
 * columns once, then encodes each row range with `checked`.
 */
export function checkGroupColumns(
  layout: GroupLayout,
  columns: readonly (CodeColumn | null)[],
  rows: number,
  loops: Loops = tsLoops,
): void {
  if (!Array.isArray(columns) || columns.length !== layout.keys.length) {
    throw bad(
      `encodeGroups needs ${layout.keys.length} columns for this layout, got ${Array.isArray(columns) ? columns.length : describe(columns)}`,
    )
  }
  columns.forEach((col, k) => {
    if (col === null) return
    const at = `columns[${k}]`
    validateColumn(col, at, rows, false)
    if (col.kind !== 'code') throw bad(`${at} must be a code column, got ${col.kind}`)
    const key = layout.keys[k]
    if (col.dictionary.length !== key.dictionary.length) {
      throw bad(`${at} has ${col.dictionary.length} dictionary entries, the layout declares ${key.dictionary.length}`)
    }
    if (col.nulls !== null && !key.nullable)
      throw bad(`${at} has a null bitmap but the layout declares it non-nullable`)
  })
  columns.forEach((col, k) => {
    if (col !== null) checkCodes(col.values, col.dictionary.length, col.nulls, rows, `columns[${k}]`, loops)
  })
}

function trusted(grouping: Grouping): Grouping {
  const g = Object.freeze(grouping)
  vouchForGrouping(g)
  return g
}

/** Every non-null code must name a dictionary entry; the fast path scans for the maximum. */
function checkCodes(
  values: CodeArray,
  size: number,
  nulls: Uint8Array | null,
  rows: number,
  at: string,
  loops: Loops,
): void {
  if (loops.maxCode(values) < size) return
  // Slow path, taken only on bad data or on garbage under null bits: find a non-null culprit.
  for (let i = 0; i < rows; i++) {
    if (values[i] >= size && (nulls === null || ((nulls[i >> 3] >> (i & 7)) & 1) === 0)) {
      throw bad(`${at} holds code ${values[i]} at row ${i}, past its ${size} dictionary entries`)
    }
  }
}

/** The dictionary index of each key column for a group code; null for the null code. */
export function decodeGroupCodes(layout: GroupLayout, code: number): (number | null)[] {
  if (!Number.isInteger(code) || code < 0 || code >= layout.count) {
    throw bad(`group code must be an integer in [0, ${layout.count}), got ${String(code)}`)
  }
  let rest = code
  return layout.radices.map((r, k) => {
    const digit = rest % r
    rest = (rest - digit) / r
    return digit === layout.keys[k].dictionary.length ? null : digit
  })
}

/** The key values of a group code, one per GROUP BY column; null for the null group. */
export function decodeGroup(layout: GroupLayout, code: number): (string | null)[] {
  return decodeGroupCodes(layout, code).map((digit, k) => (digit === null ? null : layout.keys[k].dictionary[digit]))
}
