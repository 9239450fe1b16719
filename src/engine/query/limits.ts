/**
 * Bounds on what one query may hold. They stop pathological input (deep
 * nesting that would exhaust the stack, lists that would make a plan huge)
 * before any work is done; each one is refused with VEILBOX_ERR_QUERY_TOO_LARGE
 * naming the limit. Text lengths count Unicode code points.
 */
export const QUERY_LIMITS = Object.freeze({
  /** Characters of SQL text. */
  maxTextLength: 65_536,
  /** Parentheses and NOTs inside WHERE, and predicate nesting in the JSON form. */
  maxDepth: 32,
  /** Values in one IN list. */
  maxInList: 1_000,
  /** Items in the select list. */
  maxSelectItems: 64,
  /** Columns in GROUP BY: every key multiplies the number of released groups. */
  maxGroupBy: 8,
  /** Comparisons, IN, BETWEEN and IS NULL conditions in WHERE. */
  maxConditions: 256,
  /** Characters of one name (dataset, column or alias). */
  maxIdentifierLength: 128,
  /** Buckets in one BUCKET(col, lower, upper, width) key. */
  maxBuckets: 10_000,
  /** LIMIT's largest value. */
  maxLimit: 1_000_000,
})

export type QueryLimit = keyof typeof QUERY_LIMITS
