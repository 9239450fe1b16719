import type { ColumnSpec } from '../../schema.js'
import type { AnalystBounds, SourcePos } from './ast.js'
import { queryError } from './query-error.js'

/**
 * An aggregate's analyst bounds, refused unless [lower, upper] lies inside the
 * column's declared range (the sensitivity argument, docs/dp.md, needs it) and
 * the column is plain: encrypted sums are clamped once, at upload, to the
 * declared bounds, and a ciphertext cannot be clamped again per query.
 */
export function analystBounds(
  sql: string,
  col: ColumnSpec,
  b: AnalystBounds,
  at: SourcePos | undefined,
): AnalystBounds {
  if (col.protection === 'he') {
    throw queryError(
      'VEILBOX_ERR_QUERY_HE_UNSUPPORTED',
      `${sql}: ${col.name} is encrypted (he), and encrypted sums cannot be clamped to analyst bounds (values are clamped once, to the declared ${col.lower} to ${col.upper}, before encryption); remove BOUNDS`,
      at,
      { column: col.name },
    )
  }
  const lower = col.lower!
  const upper = col.upper!
  if (b.lower < lower || b.upper > upper) {
    throw queryError(
      'VEILBOX_ERR_QUERY_BOUNDS_OUTSIDE_DECLARED',
      `${sql}: the bounds ${b.lower} to ${b.upper} must lie inside ${col.name}'s declared bounds ${lower} to ${upper}`,
      at,
      { column: col.name, lower: b.lower, upper: b.upper, declaredLower: lower, declaredUpper: upper },
    )
  }
  return b
}
