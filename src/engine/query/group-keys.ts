import { calendarLabels, dayOf, formatTemporal, type CalendarUnit, type TemporalType } from '../../dates.js'
import { declaredDomain, hasDeclaredDomain, type ColumnSpec } from '../../schema.js'
import { bucketEdge, groupKeySql, type Bucket, type GroupRef, type Query } from './ast.js'
import { QUERY_LIMITS } from './limits.js'
import { queryError } from './query-error.js'

/**
 * GROUP BY keys bound to the schema: which keys a column's groups have, and
 * where they come from. Nothing here reads data: a key taken from the data
 * would be released because someone has it.
 */

export const HE_AGGREGATES = 'COUNT, SUM, AVG, VAR and STDDEV'
export const isNumeric = (c: ColumnSpec): boolean => c.type === 'integer' || c.type === 'number'

/** How a GROUP BY column's keys are chosen. */
export type GroupStrategy =
  /** Every key of the declared public domain is reported, noisy zeros included. */
  | { readonly kind: 'declared'; readonly domain: readonly (string | boolean)[] }
  /**
   * Every bucket of the query's own edges is reported, noisy zeros included;
   * the key shown is each bucket's lower edge. Rows outside [lower, upper],
   * and nulls, belong to no bucket.
   */
  | { readonly kind: 'bucket'; readonly bucket: Bucket; readonly domain: readonly number[] }
  /**
   * DP partition selection: the keys come from the data (the version's
   * values, at most the column's declared maxKeys), and a key is released
   * only when its noisy count of units passes a threshold set by delta
   * (docs/dp.md). Such a key is the query's only GROUP BY key.
   */
  | { readonly kind: 'selected'; readonly maxKeys: number }
  /**
   * YEAR, MONTH, WEEK or DAY of a date or timestamp column: every calendar
   * period from the one holding the declared lower bound to the one holding
   * the upper is reported, noisy zeros included; the key shown is the
   * period's text (src/dates.ts calendarLabels). Nulls belong to none.
   */
  | {
      readonly kind: 'calendar'
      readonly unit: CalendarUnit
      readonly type: TemporalType
      /** The day number of the declared lower bound: period 0 holds it. */
      readonly first: number
      readonly domain: readonly string[]
    }

export interface BoundGroupKey {
  readonly column: ColumnSpec
  readonly strategy: GroupStrategy
}

/**
 * The one place that decides how a GROUP BY column's keys are chosen. Only
 * declared public domains are accepted: a key taken from the data would be
 * released because someone has it. DP partition selection (release a
 * data-derived key only when its noisy count passes a threshold derived
 * from delta) would be a second GroupStrategy returned from here.
 */
export function bindGroupKey(ref: GroupRef, col: ColumnSpec): BoundGroupKey {
  if (ref.bucket !== undefined) return bucketKey(ref, ref.bucket, col)
  if (ref.calendar !== undefined) return calendarKey(ref, ref.calendar, col)
  if (hasDeclaredDomain(col))
    return Object.freeze({ column: col, strategy: Object.freeze({ kind: 'declared', domain: declaredDomain(col) }) })
  if (col.type === 'category' && col.protection === 'public' && col.maxKeys !== undefined)
    return Object.freeze({ column: col, strategy: Object.freeze({ kind: 'selected', maxKeys: col.maxKeys }) })
  if (col.protection === 'he') {
    throw queryError(
      'VEILBOX_ERR_QUERY_HE_UNSUPPORTED',
      `cannot group by ${col.name}: it is encrypted (he), and the service cannot see its values; an encrypted column can only appear inside ${HE_AGGREGATES}`,
      ref.pos,
      { column: col.name },
    )
  }
  let why: string
  if (col.type === 'id') {
    why = `it is an id column, and grouping by it would release one group per person`
  } else if (col.protection === 'dp') {
    why = `it is a dp column, whose values are private: grouping by it would publish which values occur in the data${isNumeric(col) ? `; bucket it with public edges instead: GROUP BY BUCKET(${col.name}, lower, upper, width)` : ''}`
  } else if (col.type === 'date' || col.type === 'timestamp') {
    why = `it is a ${col.type} column: group it by calendar period, GROUP BY YEAR(${col.name}), MONTH(${col.name}), WEEK(${col.name}) or DAY(${col.name})`
  } else if (isNumeric(col)) {
    why = `it is a ${col.type} column, and only category and boolean columns have a declared set of keys; bucket it with GROUP BY BUCKET(${col.name}, lower, upper, width), or filter ranges with WHERE ${col.name} BETWEEN a AND b`
  } else {
    why = `it has no declared categories, so its keys would come from the data, and a key that appears because of one person reveals that person; the operator can declare the column's categories, or its maxKeys to let queries find keys by DP partition selection`
  }
  throw queryError(
    'VEILBOX_ERR_QUERY_BAD_GROUP_BY',
    `cannot group by ${col.name}: ${why}. GROUP BY takes public category or boolean columns with declared domains`,
    ref.pos,
    { column: col.name },
  )
}

/**
 * BUCKET(col, lower, upper, width): the edges are the query's, public, so
 * the buckets are a declared domain of their own. They must lie within the
 * column's declared bounds, where every value lies.
 */
function bucketKey(ref: GroupRef, bucket: Bucket, col: ColumnSpec): BoundGroupKey {
  const sql = groupKeySql(ref)
  const refuse = (
    code:
      | 'VEILBOX_ERR_QUERY_BAD_BUCKET'
      | 'VEILBOX_ERR_QUERY_HE_UNSUPPORTED'
      | 'VEILBOX_ERR_QUERY_ID_COLUMN'
      | 'VEILBOX_ERR_QUERY_UNBOUNDED_COLUMN',
    detail: string,
  ): never => {
    throw queryError(code, `${sql}: ${detail}`, ref.pos, { column: col.name })
  }
  if (col.protection === 'he')
    refuse(
      'VEILBOX_ERR_QUERY_HE_UNSUPPORTED',
      `${col.name} is encrypted (he), and the service cannot see which bucket a value falls in`,
    )
  if (col.type === 'id')
    refuse('VEILBOX_ERR_QUERY_ID_COLUMN', `${col.name} is an id column, and ids are never bucketed`)
  if (!isNumeric(col))
    refuse(
      'VEILBOX_ERR_QUERY_BAD_BUCKET',
      `BUCKET takes an integer or number column, and ${col.name} is ${col.type}; group by it directly`,
    )
  if (col.lower === undefined || col.upper === undefined) {
    return refuse(
      'VEILBOX_ERR_QUERY_UNBOUNDED_COLUMN',
      `${col.name} has no declared bounds to check the buckets against; the operator must declare "lower" and "upper"`,
    )
  }
  if (bucket.lower < col.lower || bucket.upper > col.upper) {
    refuse(
      'VEILBOX_ERR_QUERY_BAD_BUCKET',
      `the buckets span [${bucket.lower}, ${bucket.upper}], outside ${col.name}'s declared bounds [${col.lower}, ${col.upper}]; keep the edges within them`,
    )
  }
  const domain = Array.from({ length: bucket.count }, (_, i) => bucketEdge(bucket, i))
  return Object.freeze({
    column: col,
    strategy: Object.freeze({ kind: 'bucket', bucket, domain: Object.freeze(domain) }),
  })
}

/**
 * YEAR(d), MONTH(d), WEEK(d), DAY(d): the periods between the column's
 * declared bounds are public, so they are a declared domain of their own,
 * and the declared range bounds how many there are.
 */
function calendarKey(ref: GroupRef, unit: CalendarUnit, col: ColumnSpec): BoundGroupKey {
  const sql = groupKeySql(ref)
  const refuse = (detail: string): never => {
    throw queryError('VEILBOX_ERR_QUERY_BAD_BUCKET', `${sql}: ${detail}`, ref.pos, { column: col.name })
  }
  if (col.type !== 'date' && col.type !== 'timestamp')
    return refuse(
      `${unit.toUpperCase()} takes a date or timestamp column, and ${col.name} is ${col.type}${isNumeric(col) ? `; bucket a number with BUCKET(${col.name}, lower, upper, width)` : ''}`,
    )
  const type = col.type
  if (col.protection !== 'public')
    return refuse(
      `${col.name} is a ${col.protection} column, whose values are private; calendar periods group public date and timestamp columns`,
    )
  const first = dayOf(type, col.lower!)
  const max = QUERY_LIMITS.maxBuckets
  const domain = calendarLabels(unit, first, dayOf(type, col.upper!), max)
  if (domain === null)
    return refuse(
      `${col.name}'s declared range [${formatTemporal(type, col.lower!)}, ${formatTemporal(type, col.upper!)}] holds more than ${max} ${unit}s, the most buckets one key may have; group by a longer period`,
    )
  return Object.freeze({
    column: col,
    strategy: Object.freeze({ kind: 'calendar', unit, type, first, domain: Object.freeze(domain) }),
  })
}

/**
 * A key found by partition selection is the query's only GROUP BY key, and
 * is not selected over joined rows (not supported yet).
 */
export function checkSelectedKey(q: Query, groupBy: readonly BoundGroupKey[], joined: boolean): void {
  const selected = groupBy.findIndex((g) => g.strategy.kind === 'selected')
  if (selected < 0) return
  const ref = q.groupBy[selected]!
  if (joined) {
    throw queryError(
      'VEILBOX_ERR_QUERY_JOIN',
      `${ref.name} has no declared keys, and finding keys by DP partition selection over joined rows is not supported yet; group a join by columns with declared categories`,
      ref.pos,
      { column: ref.name },
    )
  }
  if (groupBy.length > 1) {
    throw queryError(
      'VEILBOX_ERR_QUERY_BAD_GROUP_BY',
      `${ref.name} has no declared keys: its keys are found by DP partition selection, which takes ${ref.name} as the only GROUP BY key; group by ${ref.name} alone`,
      ref.pos,
      { column: ref.name },
    )
  }
}
