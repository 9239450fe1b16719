import { formatDate, formatTimestamp } from '../dates.js'
import type { ColumnSpec, DatasetSpec } from '../schema.js'
import { csvLines } from './market/documents.js'
import { mulberry32 } from './mulberry32.js'

/**
 * Dummy data (issue 24, point 5): rows made from a dataset's declared schema
 * alone, never from its data. The generator takes the spec and a seed and
 * nothing else: it cannot read a version, so what it returns is the same for
 * every version of the dataset, and for a dataset with none (docs/datasets.md,
 * "Dummy data"). Seeded with mulberry32: this is not privacy randomness, it
 * only has to be reproducible.
 *
 *   - category: a declared category, uniformly; without declared categories
 *     (maxKeys), one of `<column>_1` .. `<column>_k`, k = min(maxKeys, 5)
 *   - integer, number: uniform between the declared bounds (DUMMY_DEFAULT_BOUNDS
 *     when a public column declares none); numbers rounded to 2 decimals
 *   - boolean: true or false, evenly
 *   - date, timestamp: a uniform day (millisecond) between the declared bounds,
 *     as ISO text
 *   - id: the privacy unit `unit_<n>`, each unit holding 1 to maxRowsPerUnit
 *     consecutive rows; a foreign key (`references`) `<column>_<n>` of its
 *     unit n; any other id `<column>_<row>`
 *   - nullable columns (not the privacy unit): empty in DUMMY_NULL_RATE of the
 *     rows, since the schema declares no null rate
 */

export const DUMMY_MAX_ROWS = 10_000
export const DUMMY_DEFAULT_ROWS = 100
/** The share of a nullable column's dummy values that are empty. */
export const DUMMY_NULL_RATE = 0.1
/** The range of a public numeric column that declares no bounds. */
export const DUMMY_DEFAULT_BOUNDS = { lower: 0, upper: 100 } as const
const UNDECLARED_KEYS = 5

export type DummyCell = string | number | boolean | null

export interface DummyTable {
  readonly columns: readonly string[]
  readonly rows: readonly (readonly DummyCell[])[]
}

function dummyValue(col: ColumnSpec, rand: () => number, rowIndex: number): DummyCell {
  switch (col.type) {
    case 'category': {
      if (col.categories !== undefined) return col.categories[Math.floor(rand() * col.categories.length)]!
      const k = Math.min(col.maxKeys ?? UNDECLARED_KEYS, UNDECLARED_KEYS)
      return `${col.name}_${1 + Math.floor(rand() * k)}`
    }
    case 'boolean':
      return rand() < 0.5
    case 'integer': {
      const lower = Math.ceil(col.lower ?? DUMMY_DEFAULT_BOUNDS.lower)
      const upper = Math.floor(col.upper ?? DUMMY_DEFAULT_BOUNDS.upper)
      return lower + Math.floor(rand() * (upper - lower + 1))
    }
    case 'number': {
      const lower = col.lower ?? DUMMY_DEFAULT_BOUNDS.lower
      const upper = col.upper ?? DUMMY_DEFAULT_BOUNDS.upper
      const v = Math.round((lower + rand() * (upper - lower)) * 100) / 100
      return Math.min(upper, Math.max(lower, v))
    }
    case 'date':
    case 'timestamp': {
      // Declared as day numbers (date) or milliseconds (timestamp); written as the ISO text an upload reads.
      if (col.lower === undefined || col.upper === undefined) return null
      const v = col.lower + Math.floor(rand() * (col.upper - col.lower + 1))
      return col.type === 'date' ? formatDate(v) : formatTimestamp(v)
    }
    case 'id':
      return `${col.name}_${rowIndex + 1}`
    default:
      return null
  }
}

/** `rows` dummy rows of `spec` for `seed` (an unsigned 32-bit integer); the same arguments give the same rows. */
export function dummyTable(spec: DatasetSpec, rows: number, seed: number): DummyTable {
  if (!Number.isSafeInteger(rows) || rows < 0 || rows > DUMMY_MAX_ROWS)
    throw new RangeError(`dummy rows must be 0 to ${DUMMY_MAX_ROWS}`)
  const rand = mulberry32(seed)
  const out: DummyCell[][] = []
  let unit = 0
  let leftInUnit = 0
  for (let i = 0; i < rows; i++) {
    if (leftInUnit === 0) {
      unit += 1
      leftInUnit = 1 + Math.floor(rand() * spec.maxRowsPerUnit)
    }
    leftInUnit -= 1
    const row = spec.columns.map((col) => {
      if (col.name === spec.privacyUnit) return spec.public === true ? dummyValue(col, rand, i) : `unit_${unit}`
      // A foreign key names one referenced unit per unit (ingest refuses otherwise): the unit's number.
      if (col.references !== undefined) return `${col.name}_${unit}`
      // One draw for the null whether or not the column is nullable: a column's values do not shift the others'.
      const empty = rand() < DUMMY_NULL_RATE
      const v = dummyValue(col, rand, i)
      return col.nullable === true && empty ? null : v
    })
    out.push(row)
  }
  return { columns: spec.columns.map((c) => c.name), rows: out }
}

/** The table as CSV with a header line, as an upload would read it (an empty cell is a null). */
export function dummyCsv(table: DummyTable): string {
  return csvLines([table.columns, ...table.rows.map((r) => r.map((c) => (typeof c === 'boolean' ? String(c) : c)))])
}
