// Long on purpose: the JSON form's types, zod schema, reader and writer are one vocabulary, kept side by side so
// that a key, predicate or aggregate is added to all four at once (buckets, analyst bounds, calendar periods).
import { z } from 'zod'
import { CALENDAR_UNITS, type CalendarUnit } from '../../dates.js'
import { VeilboxError } from '../../errors/index.js'
import { queryError } from './query-error.js'
import {
  AGGREGATE_FNS,
  COMPARE_OPS,
  aggregate,
  and,
  between,
  bucketByWidth,
  bucketWidth,
  calendarKey,
  columnItem,
  columnRef,
  compare,
  from,
  inList,
  isNull,
  join,
  literal,
  not,
  or,
  orderItem,
  type ColumnRef,
  type GroupRef,
  type Join,
  type JsonPos,
  type Literal,
  type LiteralValue,
  type ParsedPredicate,
  type Query,
  type SelectItem,
} from './ast.js'
import { tooLarge } from './query-error.js'
import { QUERY_LIMITS } from './limits.js'
import { buildQuery } from './shape.js'

/**
 * The query tree as JSON, for clients that build queries as data rather than
 * as SQL text (`{query: {...}}` instead of `{sql}` in the API). It is the
 * same tree without positions: names are plain strings, literals plain JSON
 * values. Objects are strict, so a misspelt field is an error rather than a
 * silently ignored condition.
 */

export type LiteralJson = LiteralValue

/** BUCKET(col, lower, upper, width) as data. */
export interface BucketJson {
  lower: number
  upper: number
  width: number
}

/** A GROUP BY key: a column name, a column's buckets, or a date column's calendar periods (`"calendar": "month"`). */
export type GroupKeyJson = string | { column: string; bucket: BucketJson } | { column: string; calendar: CalendarUnit }

export type SelectItemJson =
  | { kind: 'column'; column: string; bucket?: BucketJson; calendar?: CalendarUnit; alias?: string }
  | {
      kind: 'aggregate'
      fn: (typeof AGGREGATE_FNS)[number] | 'median'
      column?: string | null
      p?: number
      /** COUNT(DISTINCT unit). */
      distinct?: boolean
      /** The analyst's clamp range, inside the column's declared bounds (SQL: `SUM(x BOUNDS a, b)`). */
      bounds?: { lower: number; upper: number }
      alias?: string
    }

export type PredicateJson =
  | { kind: 'compare'; column: string; op: (typeof COMPARE_OPS)[number]; value: LiteralJson }
  | { kind: 'in'; column: string; values: LiteralJson[]; negated?: boolean }
  | { kind: 'between'; column: string; low: LiteralJson; high: LiteralJson; negated?: boolean }
  | { kind: 'isNull'; column: string; negated?: boolean }
  | { kind: 'and'; operands: PredicateJson[] }
  | { kind: 'or'; operands: PredicateJson[] }
  | { kind: 'not'; operand: PredicateJson }

/** An inner join: on the unit (`using`) or on two columns (`on`, each `column` or `table.column`). */
export interface JoinJson {
  dataset: string
  alias?: string
  using?: string
  on?: [string, string]
}

export interface QueryJson {
  select: SelectItemJson[]
  from: string
  /** The first dataset's alias. */
  alias?: string
  joins?: JoinJson[]
  where?: PredicateJson
  groupBy?: GroupKeyJson[]
  orderBy?: { name: string; direction?: 'asc' | 'desc' }[]
  /** A condition on the released rows, naming output columns. */
  having?: PredicateJson
  limit?: number
}

const name = z.string().min(1).max(QUERY_LIMITS.maxIdentifierLength)
const literalJson = z.union([z.string().max(QUERY_LIMITS.maxTextLength), z.number().finite(), z.boolean()])

const bucketJson = z.strictObject({
  lower: z.number().finite(),
  upper: z.number().finite(),
  width: z.number().finite(),
})

const selectItemJson = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('column'),
    column: name,
    bucket: bucketJson.optional(),
    calendar: z.enum(CALENDAR_UNITS).optional(),
    alias: name.optional(),
  }),
  z.strictObject({
    kind: z.literal('aggregate'),
    fn: z.enum([...AGGREGATE_FNS, 'median']),
    column: name.nullable().optional(),
    p: z.number().finite().optional(),
    distinct: z.boolean().optional(),
    bounds: z.strictObject({ lower: z.number().finite(), upper: z.number().finite() }).optional(),
    alias: name.optional(),
  }),
])

export const predicateJsonSchema: z.ZodType<PredicateJson> = z.lazy(() =>
  z.discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('compare'), column: name, op: z.enum(COMPARE_OPS), value: literalJson }),
    z.strictObject({
      kind: z.literal('in'),
      column: name,
      values: z.array(literalJson).min(1).max(QUERY_LIMITS.maxInList),
      negated: z.boolean().optional(),
    }),
    z.strictObject({
      kind: z.literal('between'),
      column: name,
      low: literalJson,
      high: literalJson,
      negated: z.boolean().optional(),
    }),
    z.strictObject({ kind: z.literal('isNull'), column: name, negated: z.boolean().optional() }),
    z.strictObject({ kind: z.literal('and'), operands: z.array(predicateJsonSchema).min(2) }),
    z.strictObject({ kind: z.literal('or'), operands: z.array(predicateJsonSchema).min(2) }),
    z.strictObject({ kind: z.literal('not'), operand: predicateJsonSchema }),
  ]),
)

/** The JSON query's schema, for request schemas (OpenAPI) and for `fromJson`. */
export const queryJsonSchema = z.strictObject({
  select: z.array(selectItemJson).min(1).max(QUERY_LIMITS.maxSelectItems),
  from: name,
  alias: name.optional().describe("the first dataset's alias, for table.column names"),
  joins: z
    .array(
      z.strictObject({
        dataset: name,
        alias: name.optional(),
        using: name.optional().describe('the column both datasets have: the privacy unit'),
        on: z.tuple([name, name]).optional().describe('two columns that must be equal, each column or table.column'),
      }),
    )
    .max(4)
    .optional()
    .describe('inner joins; column names elsewhere may be table.column'),
  where: predicateJsonSchema.optional(),
  groupBy: z
    .array(
      z.union([
        name,
        z.strictObject({ column: name, bucket: bucketJson }),
        z.strictObject({ column: name, calendar: z.enum(CALENDAR_UNITS) }),
      ]),
    )
    .max(QUERY_LIMITS.maxGroupBy)
    .optional(),
  orderBy: z.array(z.strictObject({ name, direction: z.enum(['asc', 'desc']).optional() })).optional(),
  having: predicateJsonSchema
    .optional()
    .describe('a condition on the released (noisy) rows; its column names are output names'),
  limit: z.number().int().min(1).max(QUERY_LIMITS.maxLimit).optional().describe('the first rows kept, after ORDER BY'),
})

/**
 * Nesting of the raw value, measured before the schema walks it: the schema
 * recurses, and a value nested thousands deep must be refused before it can
 * exhaust the stack. The allowance covers the query's own object levels.
 */
const MAX_JSON_NESTING = 2 * QUERY_LIMITS.maxDepth + 8

function checkNesting(value: unknown, base: string): void {
  const stack: { v: unknown; depth: number; path: string }[] = [{ v: value, depth: 0, path: base }]
  while (stack.length > 0) {
    const { v, depth, path } = stack.pop()!
    if (typeof v !== 'object' || v === null) continue
    if (depth > MAX_JSON_NESTING) throw tooLarge('maxDepth', { path })
    for (const [k, child] of Object.entries(v))
      stack.push({ v: child, depth: depth + 1, path: `${path}/${escapePointer(k)}` })
  }
}

function escapePointer(segment: string | number): string {
  return String(segment).replace(/~/g, '~0').replace(/\//g, '~1')
}

export interface FromJsonOptions {
  /** JSON pointer of the query inside the request body, prefixed to every error path. Default `/query`. */
  readonly path?: string
}

/**
 * Validates a JSON query and builds the same frozen tree the parser would.
 * Shape errors are VEILBOX_ERR_REQUEST_VALIDATION with `errors: [{path,
 * message}]`; rule errors are the same VEILBOX_ERR_QUERY_* codes as for SQL,
 * with `path` in place of `position`.
 */
export function fromJson(value: unknown, options: FromJsonOptions = {}): Query {
  const base = options.path ?? '/query'
  checkNesting(value, base)
  const parsed = queryJsonSchema.safeParse(value)
  if (!parsed.success) {
    const errors = parsed.error.issues.map((i) => ({
      path: base + i.path.map((s) => `/${escapePointer(typeof s === 'symbol' ? String(s) : s)}`).join(''),
      message: i.message,
    }))
    throw new VeilboxError(
      'VEILBOX_ERR_REQUEST_VALIDATION',
      `the JSON query does not match its schema: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
      { errors },
    )
  }
  const q = parsed.data
  const at = (...segments: (string | number)[]): JsonPos => ({
    path: base + segments.map((s) => `/${escapePointer(s)}`).join(''),
  })
  const key = (
    column: string,
    bucket: BucketJson | undefined,
    calendar: CalendarUnit | undefined,
    ...path: (string | number)[]
  ): GroupRef => {
    const ref = jsonRef(column, at(...path, 'column'))
    if (calendar !== undefined && bucket !== undefined)
      throw queryError('VEILBOX_ERR_QUERY_BAD_BUCKET', 'a key is a bucket or a calendar period, not both', at(...path))
    if (calendar !== undefined) return calendarKey(ref, calendar, at(...path, 'calendar'))
    if (bucket === undefined) return ref
    return bucketByWidth(ref, bucket.lower, bucket.upper, bucket.width, QUERY_LIMITS.maxBuckets, at(...path, 'bucket'))
  }
  const select = q.select.map((s, i): SelectItem => {
    if (s.kind === 'column')
      return columnItem(key(s.column, s.bucket, s.calendar, 'select', i), s.alias, at('select', i))
    const median = s.fn === 'median'
    return aggregate({
      fn: s.fn === 'median' ? 'quantile' : s.fn,
      column: s.column === undefined || s.column === null ? null : jsonRef(s.column, at('select', i, 'column')),
      p: median ? (s.p ?? 0.5) : s.p,
      display: median ? 'median' : undefined,
      distinct: s.distinct,
      ...(s.bounds === undefined ? {} : { bounds: s.bounds }),
      alias: s.alias,
      pos: at('select', i),
    })
  })
  return buildQuery({
    select,
    from: from(
      q.from,
      at('from'),
      q.alias,
      (q.joins ?? []).map((j, i) => joinFromJson(j, at('joins', i), (s, k) => jsonRef(s, at('joins', i, 'on', k)))),
    ),
    where: q.where === undefined ? undefined : predicateFromJson(q.where, ['where'], at, true),
    groupBy: (q.groupBy ?? []).map((g, i) =>
      typeof g === 'string'
        ? jsonRef(g, at('groupBy', i))
        : 'calendar' in g
          ? key(g.column, undefined, g.calendar, 'groupBy', i)
          : key(g.column, g.bucket, undefined, 'groupBy', i),
    ),
    orderBy: (q.orderBy ?? []).map((o, i) => orderItem(o.name, o.direction ?? 'asc', at('orderBy', i))),
    having: q.having === undefined ? undefined : predicateFromJson(q.having, ['having'], at, false),
    limit: q.limit,
    pos: at(),
  })
}

/**
 * A column named in JSON: `column`, or `table.column` (declared column names
 * hold no dot, so the first dot can only qualify).
 */
function jsonRef(s: string, pos: JsonPos): ColumnRef {
  const dot = s.indexOf('.')
  return dot > 0 && dot < s.length - 1 ? columnRef(s.slice(dot + 1), pos, s.slice(0, dot)) : columnRef(s, pos)
}

/** A column as JSON names it. */
function refJson(ref: ColumnRef): string {
  return ref.table === undefined ? ref.name : `${ref.table}.${ref.name}`
}

function joinFromJson(j: JoinJson, pos: JsonPos, ref: (s: string, k: number) => ColumnRef): Join {
  if ((j.using === undefined) === (j.on === undefined)) {
    throw new VeilboxError(
      'VEILBOX_ERR_REQUEST_VALIDATION',
      `a join names exactly one of "using" (the unit) and "on" (two columns) at ${pos.path}`,
      { errors: [{ path: pos.path, message: 'exactly one of using and on' }] },
    )
  }
  return join({
    dataset: j.dataset,
    alias: j.alias,
    using: j.using,
    on: j.on === undefined ? undefined : [ref(j.on[0], 0), ref(j.on[1], 1)],
    pos,
  })
}

function predicateFromJson(
  p: PredicateJson,
  path: (string | number)[],
  at: (...segments: (string | number)[]) => JsonPos,
  qualified: boolean,
): ParsedPredicate {
  const pos = at(...path)
  // WHERE names columns (maybe table.column); HAVING names output columns, whatever they hold.
  const col = (c: string) => (qualified ? jsonRef(c, at(...path, 'column')) : columnRef(c, at(...path, 'column')))
  const lit = (v: LiteralValue, ...sub: (string | number)[]): Literal => literal(v, at(...path, ...sub))
  switch (p.kind) {
    case 'compare':
      return compare(col(p.column), p.op, lit(p.value, 'value'), pos)
    case 'in':
      return inList(
        col(p.column),
        p.values.map((v, i) => lit(v, 'values', i)),
        p.negated ?? false,
        pos,
      )
    case 'between':
      return between(col(p.column), lit(p.low, 'low'), lit(p.high, 'high'), p.negated ?? false, pos)
    case 'isNull':
      return isNull(col(p.column), p.negated ?? false, pos)
    case 'and':
      return and(
        p.operands.map((o, i) => predicateFromJson(o, [...path, 'operands', i], at, qualified)),
        pos,
      )
    case 'or':
      return or(
        p.operands.map((o, i) => predicateFromJson(o, [...path, 'operands', i], at, qualified)),
        pos,
      )
    case 'not':
      return not(predicateFromJson(p.operand, [...path, 'operand'], at, qualified), pos)
  }
}

/** The JSON form of a query (positions dropped). `fromJson(toJson(q))` has the same canonical text as q. */
export function toJson(q: Query): QueryJson {
  const out: QueryJson = {
    select: q.select.map((s): SelectItemJson => {
      if (s.kind === 'columnItem')
        return {
          kind: 'column',
          column: refJson(s.column),
          ...(s.column.bucket === undefined ? {} : { bucket: bucketToJson(s.column) }),
          ...(s.column.calendar === undefined ? {} : { calendar: s.column.calendar }),
          ...(s.alias === undefined ? {} : { alias: s.alias }),
        }
      return {
        kind: 'aggregate',
        fn: s.display === 'median' ? 'median' : s.fn,
        ...(s.column === null ? {} : { column: refJson(s.column) }),
        ...(s.p === undefined || s.display === 'median' ? {} : { p: s.p }),
        ...(s.distinct ? { distinct: true } : {}),
        ...(s.bounds === undefined ? {} : { bounds: { lower: s.bounds.lower, upper: s.bounds.upper } }),
        ...(s.alias === undefined ? {} : { alias: s.alias }),
      }
    }),
    from: q.from.name,
  }
  if (q.from.alias !== undefined) out.alias = q.from.alias
  if (q.from.joins !== undefined)
    out.joins = q.from.joins.map((j) => ({
      dataset: j.dataset,
      ...(j.alias === undefined ? {} : { alias: j.alias }),
      ...(j.using === undefined ? {} : { using: j.using }),
      ...(j.on === undefined ? {} : { on: [refJson(j.on[0]), refJson(j.on[1])] as [string, string] }),
    }))
  if (q.where !== undefined) out.where = predicateToJson(q.where)
  if (q.groupBy.length > 0)
    out.groupBy = q.groupBy.map((g) =>
      g.calendar !== undefined
        ? { column: refJson(g), calendar: g.calendar }
        : g.bucket === undefined
          ? refJson(g)
          : { column: refJson(g), bucket: bucketToJson(g) },
    )
  if (q.orderBy.length > 0) out.orderBy = q.orderBy.map((o) => ({ name: o.name, direction: o.direction }))
  if (q.having !== undefined) out.having = predicateToJson(q.having)
  if (q.limit !== undefined) out.limit = q.limit
  return out
}

function bucketToJson(g: GroupRef): BucketJson {
  const b = g.bucket!
  return { lower: b.lower, upper: b.upper, width: bucketWidth(b) }
}

function predicateToJson(p: ParsedPredicate): PredicateJson {
  switch (p.kind) {
    case 'compare':
      return { kind: 'compare', column: refJson(p.column), op: p.op, value: p.value.value }
    case 'in':
      return { kind: 'in', column: refJson(p.column), values: p.values.map((v) => v.value), negated: p.negated }
    case 'between':
      return { kind: 'between', column: refJson(p.column), low: p.low.value, high: p.high.value, negated: p.negated }
    case 'isNull':
      return { kind: 'isNull', column: refJson(p.column), negated: p.negated }
    case 'and':
    case 'or':
      return { kind: p.kind, operands: p.operands.map(predicateToJson) }
    case 'not':
      return { kind: 'not', operand: predicateToJson(p.operand) }
  }
}
