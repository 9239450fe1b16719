/**
 * Word lists the parser uses to recognise, and explain, what it refuses.
 * All entries are lower case: unquoted words are folded before lookup.
 */

/**
 * Words that cannot be unquoted names. Besides the grammar's own keywords this
 * holds the structural words of the SQL the parser refuses, so that for
 * example `FROM t JOIN u` is recognised as a join rather than read as an alias.
 * Any of them can still be a name in double quotes.
 */
export const RESERVED: ReadonlySet<string> = new Set([
  'select',
  'from',
  'where',
  'group',
  'by',
  'order',
  'asc',
  'desc',
  'as',
  'and',
  'or',
  'not',
  'in',
  'between',
  'is',
  'null',
  'true',
  'false',
  'having',
  'limit',
  'offset',
  'fetch',
  'distinct',
  'all',
  'join',
  'inner',
  'left',
  'right',
  'full',
  'outer',
  'cross',
  'natural',
  'lateral',
  'on',
  'using',
  'union',
  'intersect',
  'except',
  'with',
  'case',
  'when',
  'then',
  'else',
  'end',
  'cast',
  'over',
  'window',
  'qualify',
  'filter',
  'like',
  'ilike',
  'similar',
  'regexp',
  'rlike',
  'glob',
  'exists',
  'any',
  'some',
  'into',
  'nulls',
])

/** Statements other than SELECT, refused as VEILBOX_ERR_QUERY_NOT_SELECT. */
export const OTHER_STATEMENTS: ReadonlySet<string> = new Set([
  'insert',
  'update',
  'delete',
  'merge',
  'upsert',
  'replace',
  'truncate',
  'drop',
  'create',
  'alter',
  'rename',
  'comment',
  'grant',
  'revoke',
  'attach',
  'detach',
  'pragma',
  'vacuum',
  'reindex',
  'analyze',
  'analyse',
  'explain',
  'copy',
  'load',
  'import',
  'export',
  'install',
  'call',
  'exec',
  'execute',
  'do',
  'prepare',
  'deallocate',
  'declare',
  'set',
  'reset',
  'show',
  'describe',
  'use',
  'begin',
  'start',
  'commit',
  'rollback',
  'savepoint',
  'release',
  'lock',
  'unlock',
  'listen',
  'notify',
  'refresh',
  'values',
  'table',
  'fetch',
  'move',
  'close',
  'open',
  'kill',
  'shutdown',
])

export type AggregateSpelling = 'count' | 'sum' | 'avg' | 'var' | 'variance' | 'stddev' | 'median' | 'quantile'

/** The bucketing calls: GROUP BY keys, selected as such (parser.ts bucketCall). */
export const BUCKET_SPELLINGS: ReadonlySet<string> = new Set(['bucket', 'width_bucket'])

export const AGGREGATE_SPELLINGS: ReadonlySet<string> = new Set<AggregateSpelling>([
  'count',
  'sum',
  'avg',
  'var',
  'variance',
  'stddev',
  'median',
  'quantile',
])

/** Functions that compute one value per row of a window: never released. */
export const WINDOW_FUNCTIONS: ReadonlySet<string> = new Set([
  'row_number',
  'rank',
  'dense_rank',
  'percent_rank',
  'cume_dist',
  'ntile',
  'lag',
  'lead',
  'first_value',
  'last_value',
  'nth_value',
])

/**
 * Aggregates of other SQL dialects that veilbox does not compute, with the
 * reason and what to use instead.
 */
export const UNSUPPORTED_AGGREGATES: ReadonlyMap<string, string> = new Map([
  [
    'min',
    "MIN returns one person's exact value, which no amount of noise makes private; use QUANTILE(col, 0.01) or a small p instead",
  ],
  [
    'max',
    "MAX returns one person's exact value, which no amount of noise makes private; use QUANTILE(col, 0.99) or a large p instead",
  ],
  ['mode', 'MODE is not supported; group by the column (if its domain is declared) and compare the counts'],
  ['percentile_cont', 'use QUANTILE(col, p)'],
  ['percentile_disc', 'use QUANTILE(col, p)'],
  ['approx_percentile', 'use QUANTILE(col, p)'],
  ['approx_quantiles', 'use QUANTILE(col, p)'],
  ['stddev_pop', 'use STDDEV(col)'],
  ['stddev_samp', 'use STDDEV(col)'],
  ['var_pop', 'use VAR(col)'],
  ['var_samp', 'use VAR(col)'],
  ['string_agg', 'it releases row values'],
  ['array_agg', 'it releases row values'],
  ['group_concat', 'it releases row values'],
  ['listagg', 'it releases row values'],
  ['json_agg', 'it releases row values'],
  ['jsonb_agg', 'it releases row values'],
  ['collect_list', 'it releases row values'],
  ['collect_set', 'it releases row values'],
  ['any_value', 'it releases a row value'],
  ['first', 'it releases a row value'],
  ['last', 'it releases a row value'],
  ['approx_count_distinct', 'distinct counts need their own sensitivity analysis'],
  ['count_distinct', 'distinct counts need their own sensitivity analysis'],
  ['count_if', 'use COUNT(*) with a WHERE clause'],
  ['countif', 'use COUNT(*) with a WHERE clause'],
  ['bool_and', 'use COUNT(*) with a WHERE clause'],
  ['bool_or', 'use COUNT(*) with a WHERE clause'],
  ['every', 'use COUNT(*) with a WHERE clause'],
  ['corr', 'correlations are not supported yet'],
  ['covar_pop', 'covariances are not supported yet'],
  ['covar_samp', 'covariances are not supported yet'],
  ['product', 'products are not supported'],
  ['grouping', 'grouping sets are not supported'],
  ['rollup', 'grouping sets are not supported; send one query per grouping'],
  ['cube', 'grouping sets are not supported; send one query per grouping'],
])

/** Clauses that may follow a complete query in other dialects, with why veilbox refuses them. */
export const UNSUPPORTED_CLAUSES: ReadonlyMap<string, string> = new Map([
  [
    'offset',
    'OFFSET is not supported: every group of the declared domain is released; drop OFFSET and skip rows on your side',
  ],
  [
    'fetch',
    'FETCH is not supported: every group of the declared domain is released; drop it and keep the rows you need on your side',
  ],
  ['union', 'UNION is not supported: send each SELECT as a query of its own'],
  ['intersect', 'INTERSECT is not supported: send each SELECT as a query of its own'],
  ['except', 'EXCEPT is not supported: send each SELECT as a query of its own'],
  ['window', 'WINDOW clauses are not supported: window functions compute a value per row'],
  ['qualify', 'QUALIFY is not supported: it filters on window functions, which compute a value per row'],
  ['into', 'SELECT INTO is not supported: queries never write'],
  ['for', 'FOR UPDATE/SHARE is not supported: queries never lock or write'],
])

/** Pattern and regular-expression operators, refused in WHERE. */
export const PATTERN_OPERATORS: ReadonlySet<string> = new Set(['like', 'ilike', 'similar', 'regexp', 'rlike', 'glob'])
