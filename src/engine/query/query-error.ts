import { VeilboxError, type ErrorCode } from '../../errors/index.js'
import type { SourcePos } from './position.js'
import { QUERY_LIMITS, type QueryLimit } from './limits.js'

export type QueryErrorCode = Extract<ErrorCode, `VEILBOX_ERR_QUERY_${string}`>

/**
 * A query error points at its source: `position` ({offset, line, column}) for
 * SQL text, `path` (a JSON pointer) for the JSON form. Nodes built without
 * either (by code) give neither.
 */
export function queryError(
  code: QueryErrorCode,
  detail: string,
  at: SourcePos | undefined,
  extra: Record<string, unknown> = {},
): VeilboxError {
  const where: Record<string, unknown> = {}
  if (at !== undefined) {
    if ('path' in at) where.path = at.path
    else where.position = { offset: at.offset, line: at.line, column: at.column }
  }
  return new VeilboxError(code, detail, { ...extra, ...where })
}

const LIMIT_WHAT: Record<QueryLimit, string> = {
  maxTextLength: 'characters of query text',
  maxDepth: 'levels of nesting (parentheses and NOT)',
  maxInList: 'values in one IN list',
  maxSelectItems: 'items in the select list',
  maxGroupBy: 'GROUP BY columns',
  maxConditions: 'conditions in WHERE',
  maxIdentifierLength: 'characters in one name',
  maxLimit: 'rows kept by LIMIT',
  maxBuckets: 'buckets in one BUCKET key',
}

export function tooLarge(limit: QueryLimit, at: SourcePos | undefined): VeilboxError {
  const max = QUERY_LIMITS[limit]
  return queryError(
    'VEILBOX_ERR_QUERY_TOO_LARGE',
    `the query has more than ${max} ${LIMIT_WHAT[limit]}; split it into smaller queries or simplify it`,
    at,
    { limit, max },
  )
}
