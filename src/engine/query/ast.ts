// Long on purpose: the query tree is one vocabulary (node types, their constructors and the checks a node alone
// allows, buckets and joins included), shared by the parser, the JSON reader, the binder and the canonical form.
import type { CalendarUnit } from '../../dates.js'
import type { SourcePos } from './position.js'
import { queryError } from './query-error.js'

export type { JsonPos, SourcePos, TextPos } from './position.js'

/**
 * The query tree. Every node is a small frozen object with a `kind` tag; the
 * parser and the JSON reader both build it through the constructors below,
 * which validate what a node alone can be checked for. Rules that need the
 * whole query live in `shape.ts`, rules that need the dataset in `binder.ts`.
 *
 * Nodes remember where they came from (`pos`) so that later stages can point
 * at the offending text; nodes built by code may carry no position.
 */

export const AGGREGATE_FNS = ['count', 'sum', 'avg', 'var', 'stddev', 'quantile'] as const
export type AggregateFn = (typeof AGGREGATE_FNS)[number]

export const COMPARE_OPS = ['=', '<>', '<', '<=', '>', '>='] as const
export type CompareOp = (typeof COMPARE_OPS)[number]

export type Direction = 'asc' | 'desc'

export interface ColumnRef {
  readonly kind: 'column'
  readonly name: string
  /** The dataset or its alias the name is qualified with (`h.district`); absent when written alone. */
  readonly table?: string
  readonly pos?: SourcePos
}

/**
 * BUCKET(col, lower, upper, width): `count` equal-width buckets of [lower,
 * upper], the last one closed at upper. Edges are public (the query's own),
 * so every bucket is released, empty ones as noisy zeros.
 */
export interface Bucket {
  readonly lower: number
  readonly upper: number
  readonly count: number
}

/** A GROUP BY key: a column, or a column's buckets, or a date or timestamp column's calendar periods (YEAR(d), MONTH(d), WEEK(d), DAY(d)). */
export interface GroupRef extends ColumnRef {
  readonly bucket?: Bucket
  readonly calendar?: CalendarUnit
}

/** A GROUP BY key shown in the output, optionally renamed. */
export interface ColumnItem {
  readonly kind: 'columnItem'
  readonly column: GroupRef
  readonly alias?: string
  readonly pos?: SourcePos
}

export interface Aggregate {
  readonly kind: 'aggregate'
  readonly fn: AggregateFn
  /** null only for COUNT(*). */
  readonly column: ColumnRef | null
  /** Only for quantiles: 0 < p < 1. */
  readonly p?: number
  /** MEDIAN(x) is QUANTILE(x, 0.5) that keeps its own name for display. */
  readonly display?: 'median'
  /** COUNT(DISTINCT unit): the privacy units with a row, per group. Only ever true when present. */
  readonly distinct?: true
  /** `SUM(x BOUNDS a, b)`: the analyst's own clamp range, public constants inside the declared bounds (binder.ts). */
  readonly bounds?: AnalystBounds
  readonly alias?: string
  readonly pos?: SourcePos
}

/** An analyst's clamp range for one aggregate: literals, lower < upper (the binder checks them against the declared ones). */
export interface AnalystBounds {
  readonly lower: number
  readonly upper: number
}

/** The aggregates that clamp their column's values, and so take BOUNDS. */
export const BOUNDED_FNS: readonly AggregateFn[] = ['sum', 'avg', 'var', 'stddev', 'quantile']

export type SelectItem = ColumnItem | Aggregate

export type LiteralValue = string | number | boolean

export interface Literal {
  readonly kind: 'literal'
  readonly value: LiteralValue
  readonly pos?: SourcePos
}

export interface Compare {
  readonly kind: 'compare'
  readonly column: ColumnRef
  readonly op: CompareOp
  readonly value: Literal
  readonly pos?: SourcePos
}

export interface InList {
  readonly kind: 'in'
  readonly column: ColumnRef
  readonly values: readonly Literal[]
  readonly negated: boolean
  readonly pos?: SourcePos
}

export interface Between {
  readonly kind: 'between'
  readonly column: ColumnRef
  readonly low: Literal
  readonly high: Literal
  readonly negated: boolean
  readonly pos?: SourcePos
}

export interface IsNull {
  readonly kind: 'isNull'
  readonly column: ColumnRef
  readonly negated: boolean
  readonly pos?: SourcePos
}

export interface And {
  readonly kind: 'and'
  readonly operands: readonly ParsedPredicate[]
  readonly pos?: SourcePos
}

export interface Or {
  readonly kind: 'or'
  readonly operands: readonly ParsedPredicate[]
  readonly pos?: SourcePos
}

export interface Not {
  readonly kind: 'not'
  readonly operand: ParsedPredicate
  readonly pos?: SourcePos
}

export type Condition = Compare | InList | Between | IsNull
/** A WHERE clause as parsed: stage 1 of the four a predicate goes through (TaskPredicate, exec/task.ts). */
export type ParsedPredicate = Condition | And | Or | Not

/**
 * One inner join of the FROM clause: `JOIN dataset [AS alias]` on the privacy
 * unit (`USING (unit)`) or on two columns (`ON a.x = b.y`). Which joins are
 * allowed (one unit space, a declared key) is the binder's to decide.
 */
export interface Join {
  readonly dataset: string
  readonly alias?: string
  /** USING (name): the column both sides have. */
  readonly using?: string
  /** ON left = right. */
  readonly on?: readonly [ColumnRef, ColumnRef]
  readonly pos?: SourcePos
}

export interface From {
  readonly name: string
  readonly alias?: string
  /** The datasets joined to it, in order; none for a query over one dataset. */
  readonly joins?: readonly Join[]
  readonly pos?: SourcePos
}

export interface OrderItem {
  readonly name: string
  readonly direction: Direction
  readonly pos?: SourcePos
}

export interface Query {
  readonly kind: 'query'
  readonly select: readonly SelectItem[]
  readonly from: From
  readonly where?: ParsedPredicate
  readonly groupBy: readonly GroupRef[]
  readonly orderBy: readonly OrderItem[]
  /**
   * HAVING: a condition on the released (noisy) rows, its names the output
   * columns'. Post-processing: it costs nothing and reveals nothing more.
   */
  readonly having?: ParsedPredicate
  /** LIMIT: at most this many released rows, after HAVING and ORDER BY. */
  readonly limit?: number
  readonly pos?: SourcePos
}

/** Freezes a node, leaving out the optional fields that are undefined. */
function node<T extends object>(fields: T): T {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = v
  return Object.freeze(out) as T
}

export function columnRef(name: string, pos?: SourcePos, table?: string): ColumnRef {
  return node({ kind: 'column', name, table, pos })
}

/** A column as written: `name`, or `table.name`. */
export function refSql(ref: ColumnRef, quoteName: (name: string) => string = (n) => n): string {
  return ref.table === undefined ? quoteName(ref.name) : `${quoteName(ref.table)}.${quoteName(ref.name)}`
}

/** Buckets may not be narrower than this share of their range's magnitude: edges must stay distinct doubles. */
const MIN_RELATIVE_WIDTH = 1e-9

/**
 * BUCKET(col, lower, upper, width): the width must divide the range into a
 * whole number of buckets (within rounding: 0.1 divides [0, 1] into 10).
 */
export function bucketByWidth(
  column: ColumnRef,
  lower: number,
  upper: number,
  width: number,
  maxBuckets: number,
  pos?: SourcePos,
): GroupRef {
  const bad = (detail: string): never => {
    throw queryError('VEILBOX_ERR_QUERY_BAD_BUCKET', detail, pos, { column: column.name })
  }
  const sql = `BUCKET(${column.name}, ${lower}, ${upper}, ${width})`
  if (![lower, upper, width].every(Number.isFinite)) bad(`${sql}: the edges and the width must be finite numbers`)
  if (!(lower < upper)) bad(`${sql}: lower must be below upper`)
  if (!(width > 0)) bad(`${sql}: the width must be greater than 0`)
  const ratio = (upper - lower) / width
  const count = Math.round(ratio)
  if (count < 1 || Math.abs(ratio - count) > 1e-9 * Math.max(1, count)) {
    bad(
      `${sql}: the width must divide upper - lower (${upper - lower}) into a whole number of buckets, and it makes ${ratio}; ` +
        `pick a width such as ${(upper - lower) / Math.max(1, Math.floor(ratio))}`,
    )
  }
  return bucketByCount(column, lower, upper, count, maxBuckets, pos)
}

/** WIDTH_BUCKET(col, lower, upper, count): the same buckets named by their number. */
export function bucketByCount(
  column: ColumnRef,
  lower: number,
  upper: number,
  count: number,
  maxBuckets: number,
  pos?: SourcePos,
): GroupRef {
  const bad = (detail: string): never => {
    throw queryError('VEILBOX_ERR_QUERY_BAD_BUCKET', detail, pos, { column: column.name })
  }
  const sql = `BUCKET(${column.name}, ${lower}, ${upper}, ...)`
  if (![lower, upper].every(Number.isFinite) || !(lower < upper))
    bad(`${sql}: the edges must be finite, lower below upper`)
  if (!Number.isFinite(upper - lower)) bad(`${sql}: upper - lower overflows a double; narrow the range`)
  if (!Number.isInteger(count) || count < 1 || count > maxBuckets)
    bad(`${sql}: a BUCKET has 1 to ${maxBuckets} buckets, and this one has ${count}; widen the buckets`)
  if ((upper - lower) / count < MIN_RELATIVE_WIDTH * Math.max(Math.abs(lower), Math.abs(upper)))
    bad(`${sql}: the buckets are too narrow for their edges to stay distinct; widen them`)
  const bucket = Object.freeze({ lower: Object.is(lower, -0) ? 0 : lower, upper, count })
  return node({ kind: 'column', name: column.name, table: column.table, bucket, pos: pos ?? column.pos })
}

/** YEAR(col), MONTH(col), WEEK(col) or DAY(col): a date or timestamp column's calendar periods. */
export function calendarKey(column: ColumnRef, unit: CalendarUnit, pos?: SourcePos): GroupRef {
  return node({ kind: 'column', name: column.name, table: column.table, calendar: unit, pos: pos ?? column.pos })
}

/** The width of a bucket key. */
export function bucketWidth(b: Bucket): number {
  return (b.upper - b.lower) / b.count
}

/** The lower edge of bucket i (0-based): the value the answer shows for it. */
export function bucketEdge(b: Bucket, i: number): number {
  return b.lower + ((b.upper - b.lower) * i) / b.count
}

/**
 * Whether a select item's key may be a GROUP BY key: the same column and
 * buckets, qualified alike or one of them not qualified (`district` and
 * `h.district`; the binder then checks they resolve to one column).
 */
export function sameGroupKey(a: GroupRef, b: GroupRef): boolean {
  if (a.name !== b.name) return false
  if (a.table !== undefined && b.table !== undefined && a.table !== b.table) return false
  if (a.calendar !== b.calendar) return false
  const x = a.bucket
  const y = b.bucket
  if (x === undefined || y === undefined) return x === y
  return x.lower === y.lower && x.upper === y.upper && x.count === y.count
}

/** How a GROUP BY key reads in SQL, and what tells two keys apart: `district`, `BUCKET(income, 0, 100000, 10000)`. */
export function groupKeySql(g: GroupRef, quoteName: (name: string) => string = (n) => n): string {
  if (g.calendar !== undefined) return `${g.calendar.toUpperCase()}(${refSql(g, quoteName)})`
  if (g.bucket === undefined) return refSql(g, quoteName)
  const { lower, upper } = g.bucket
  return `BUCKET(${refSql(g, quoteName)}, ${String(lower)}, ${String(upper)}, ${String(bucketWidth(g.bucket))})`
}

export function columnItem(column: GroupRef, alias?: string, pos?: SourcePos): ColumnItem {
  return node({ kind: 'columnItem', column, alias, pos: pos ?? column.pos })
}

export interface AggregateParts {
  readonly fn: AggregateFn
  readonly column: ColumnRef | null
  readonly p?: number
  readonly display?: 'median'
  readonly distinct?: boolean
  readonly bounds?: AnalystBounds
  readonly alias?: string
  readonly pos?: SourcePos
}

export function aggregate(parts: AggregateParts): Aggregate {
  const { fn, column, p, display, alias, pos } = parts
  const bounds = parts.bounds === undefined ? undefined : checkBounds(fn, parts.bounds, pos)
  const distinct = parts.distinct === true ? true : undefined
  const name = (display ?? fn).toUpperCase()
  if (!(AGGREGATE_FNS as readonly string[]).includes(fn)) {
    throw queryError(
      'VEILBOX_ERR_QUERY_BAD_AGGREGATE',
      `"${fn}" is not an aggregate; use one of ${AGGREGATE_FNS.join(', ')} or median`,
      pos,
    )
  }
  if (column === null && fn !== 'count') {
    throw queryError(
      'VEILBOX_ERR_QUERY_BAD_AGGREGATE',
      `${name} needs a column: only COUNT counts rows without one`,
      pos,
    )
  }
  if (fn === 'quantile') {
    if (p === undefined) {
      throw queryError(
        'VEILBOX_ERR_QUERY_BAD_AGGREGATE',
        'QUANTILE needs the probability p: write QUANTILE(col, 0.9)',
        pos,
      )
    }
    if (!Number.isFinite(p) || !(p > 0 && p < 1)) {
      throw queryError(
        'VEILBOX_ERR_QUERY_BAD_AGGREGATE',
        `QUANTILE's p must lie strictly between 0 and 1, not ${p}; use MEDIAN(col) or p = 0.5 for the median`,
        pos,
      )
    }
  } else if (p !== undefined) {
    throw queryError(
      'VEILBOX_ERR_QUERY_BAD_AGGREGATE',
      `only QUANTILE takes a probability p; ${name} takes a column alone`,
      pos,
    )
  }
  if (display === 'median' && !(fn === 'quantile' && p === 0.5)) {
    throw queryError('VEILBOX_ERR_QUERY_BAD_AGGREGATE', 'a median is the quantile at p = 0.5', pos)
  }
  if (distinct && (fn !== 'count' || column === null)) {
    throw queryError(
      'VEILBOX_ERR_QUERY_UNSUPPORTED',
      fn !== 'count'
        ? `${name}(DISTINCT ...) is not supported: only COUNT(DISTINCT unit) is, which counts privacy units`
        : 'COUNT(DISTINCT *) is not SQL: write COUNT(DISTINCT unit), naming the privacy unit column',
      pos,
    )
  }
  return node({ kind: 'aggregate', fn, column, p, display, distinct, bounds, alias, pos })
}

function checkBounds(fn: AggregateFn, b: AnalystBounds, pos?: SourcePos): AnalystBounds {
  if (!BOUNDED_FNS.includes(fn)) {
    throw queryError(
      'VEILBOX_ERR_QUERY_BAD_AGGREGATE',
      `${fn.toUpperCase()} takes no BOUNDS: only SUM, AVG, VAR, STDDEV, MEDIAN and QUANTILE clamp values`,
      pos,
    )
  }
  if (!Number.isFinite(b.lower) || !Number.isFinite(b.upper) || !(b.lower < b.upper)) {
    throw queryError(
      'VEILBOX_ERR_QUERY_BAD_AGGREGATE',
      `BOUNDS takes two finite numbers, lower then upper, with lower < upper, not ${b.lower}, ${b.upper}`,
      pos,
    )
  }
  // -0 and 0 clamp alike; one spelling keeps canonical forms (and cache keys) equal.
  return Object.freeze({ lower: b.lower === 0 ? 0 : b.lower, upper: b.upper === 0 ? 0 : b.upper })
}

export function literal(value: LiteralValue, pos?: SourcePos): Literal {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw queryError('VEILBOX_ERR_QUERY_BAD_LITERAL', `number literals must be finite, not ${value}`, pos)
  }
  // -0 and 0 select the same rows; keeping one spelling keeps canonical forms equal.
  return node({ kind: 'literal', value: Object.is(value, -0) ? 0 : value, pos })
}

export function compare(column: ColumnRef, op: CompareOp, value: Literal, pos?: SourcePos): Compare {
  return node({ kind: 'compare', column, op, value, pos: pos ?? column.pos })
}

export function inList(column: ColumnRef, values: readonly Literal[], negated: boolean, pos?: SourcePos): InList {
  if (values.length === 0) throw queryError('VEILBOX_ERR_QUERY_SYNTAX', 'an IN list needs at least one value', pos)
  return node({ kind: 'in', column, values: Object.freeze([...values]), negated, pos: pos ?? column.pos })
}

export function between(column: ColumnRef, low: Literal, high: Literal, negated: boolean, pos?: SourcePos): Between {
  return node({ kind: 'between', column, low, high, negated, pos: pos ?? column.pos })
}

export function isNull(column: ColumnRef, negated: boolean, pos?: SourcePos): IsNull {
  return node({ kind: 'isNull', column, negated, pos: pos ?? column.pos })
}

export function and(operands: readonly ParsedPredicate[], pos?: SourcePos): And {
  if (operands.length < 2) throw new TypeError('AND needs at least two operands')
  return node({ kind: 'and', operands: Object.freeze([...operands]), pos: pos ?? operands[0]!.pos })
}

export function or(operands: readonly ParsedPredicate[], pos?: SourcePos): Or {
  if (operands.length < 2) throw new TypeError('OR needs at least two operands')
  return node({ kind: 'or', operands: Object.freeze([...operands]), pos: pos ?? operands[0]!.pos })
}

export function not(operand: ParsedPredicate, pos?: SourcePos): Not {
  return node({ kind: 'not', operand, pos })
}

export function from(name: string, pos?: SourcePos, alias?: string, joins?: readonly Join[]): From {
  return node({
    name,
    alias,
    joins: joins === undefined || joins.length === 0 ? undefined : Object.freeze([...joins]),
    pos,
  })
}

export function join(parts: Join): Join {
  if ((parts.using === undefined) === (parts.on === undefined))
    throw new TypeError('a join has exactly one of USING and ON')
  return node({
    ...parts,
    on:
      parts.on === undefined ? undefined : (Object.freeze([...parts.on]) as unknown as readonly [ColumnRef, ColumnRef]),
  })
}

export function orderItem(name: string, direction: Direction, pos?: SourcePos): OrderItem {
  return node({ name, direction, pos })
}

/** The name an aggregate's output column gets when it has no alias. */
export function defaultAggregateName(a: Aggregate): string {
  if (a.column === null) return 'count'
  if (a.distinct) return `count_distinct_${a.column.name}`
  if (a.fn === 'quantile' && a.display !== 'median') {
    return `quantile_${a.column.name}_${String(a.p).replace(/[.+-]/g, '_')}`
  }
  return `${a.display ?? a.fn}_${a.column.name}`
}

/** The name of an output column: its alias, else the column's own name or the aggregate's default. */
export function outputName(item: SelectItem): string {
  if (item.alias !== undefined) return item.alias
  return item.kind === 'columnItem' ? item.column.name : defaultAggregateName(item)
}

/** Whether two aggregates compute the same thing (aliases and spelling aside). */
export function sameAggregate(a: Aggregate, b: Aggregate): boolean {
  return (
    a.fn === b.fn &&
    (a.column?.name ?? null) === (b.column?.name ?? null) &&
    a.column?.table === b.column?.table &&
    a.p === b.p &&
    (a.distinct ?? false) === (b.distinct ?? false) &&
    a.bounds?.lower === b.bounds?.lower &&
    a.bounds?.upper === b.bounds?.upper
  )
}

/** How an aggregate reads in SQL, for messages and canonical text: `SUM(income)`, `QUANTILE(age, 0.9)`. */
export function aggregateSql(a: Aggregate, quoteName: (name: string) => string = (n) => n): string {
  const ref = a.column === null ? '*' : refSql(a.column, quoteName)
  const col = a.bounds === undefined ? ref : `${ref} BOUNDS ${String(a.bounds.lower)}, ${String(a.bounds.upper)}`
  if (a.display === 'median') return `MEDIAN(${col})`
  if (a.fn === 'quantile') return `QUANTILE(${col}, ${String(a.p)})`
  if (a.distinct) return `COUNT(DISTINCT ${col})`
  return `${a.fn.toUpperCase()}(${col})`
}
