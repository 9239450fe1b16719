/**
 * The query language: SQL text or JSON in, a frozen query tree out, bound to
 * a dataset's declared schema. See docs/query-language.md.
 */
export * from './ast.js'
export { parseQuery } from './parser.js'
export { buildQuery, type QueryParts } from './shape.js'
export {
  fromJson,
  toJson,
  queryJsonSchema,
  predicateJsonSchema,
  type QueryJson,
  type SelectItemJson,
  type PredicateJson,
  type LiteralJson,
  type FromJsonOptions,
} from './json.js'
export { canonicalSql, queryHash, quoteName, formatLiteral } from './canonical.js'
export {
  bindQuery,
  queryDataset,
  queryColumns,
  queryAggregates,
  unknownDatasetError,
  type BoundQuery,
  type BoundOutput,
  type BoundPredicate,
  type BoundGroupKey,
  type BoundOrder,
  type GroupStrategy,
} from './binder.js'
export { QUERY_LIMITS, type QueryLimit } from './limits.js'
export type { QueryErrorCode } from './query-error.js'
