import type { VeilboxError } from '../../errors/index.js'
import { temporalForm, temporalLiteral } from '../../dates.js'
import { isTemporal, type ColumnSpec, type DatasetSpec } from '../../schema.js'
import {
  aggregateSql,
  groupKeySql,
  outputName,
  type Aggregate,
  type AggregateFn,
  type AnalystBounds,
  type ColumnRef,
  type GroupRef,
  type CompareOp,
  type Direction,
  type Literal,
  type LiteralValue,
  type ParsedPredicate,
  type Query,
} from './ast.js'
import { analystBounds } from './analyst-bounds.js'
import { formatLiteral } from './canonical.js'
import { queryAggregates, queryColumns } from './columns.js'
import { bindGroupKey, checkSelectedKey, HE_AGGREGATES, isNumeric, type BoundGroupKey } from './group-keys.js'
import { bindHaving, type BoundHaving } from './having.js'
import { tablesOf, type Tables } from './joins.js'
import { queryError } from './query-error.js'

export { queryAggregates, queryColumns } from './columns.js'
export type { BoundGroupKey, GroupStrategy } from './group-keys.js'
import { didYouMean, nearest } from './suggest.js'

/**
 * Binding checks a parsed query against its dataset's declared schema and
 * resolves every name to its column spec. Everything the privacy analysis
 * relies on is settled here: which columns can be aggregated (declared
 * bounds), which can be grouped on (declared public domains), what encrypted
 * columns can take part in, and that WHERE literals fit their columns.
 */

export type BoundOutput =
  | {
      readonly kind: 'group'
      readonly name: string
      readonly column: ColumnSpec
      /** Index into BoundQuery.groupBy. */
      readonly key: number
    }
  | {
      readonly kind: 'aggregate'
      readonly name: string
      readonly fn: AggregateFn
      /** null for COUNT(*). */
      readonly column: ColumnSpec | null
      readonly p?: number
      /** COUNT(DISTINCT unit): column is the privacy unit. */
      readonly distinct?: true
      /** 'median' for MEDIAN(x), 'count_distinct' for COUNT(DISTINCT unit), else the fn. */
      readonly label: string
      /** The analyst's clamp range (`BOUNDS a, b`), checked to lie inside the declared bounds; absent: the declared ones. */
      readonly bounds?: AnalystBounds
    }

/** A WHERE clause bound to the schema: stage 2 of the four a predicate goes through (TaskPredicate, exec/task.ts). */
export type BoundPredicate =
  | { readonly kind: 'compare'; readonly column: ColumnSpec; readonly op: CompareOp; readonly value: LiteralValue }
  /** Values without repeats, in written order. */
  | {
      readonly kind: 'in'
      readonly column: ColumnSpec
      readonly values: readonly LiteralValue[]
      readonly negated: boolean
    }
  | {
      readonly kind: 'between'
      readonly column: ColumnSpec
      readonly low: number
      readonly high: number
      readonly negated: boolean
    }
  | { readonly kind: 'isNull'; readonly column: ColumnSpec; readonly negated: boolean }
  | { readonly kind: 'and' | 'or'; readonly operands: readonly BoundPredicate[] }
  | { readonly kind: 'not'; readonly operand: BoundPredicate }

export interface BoundOrder {
  /** Index into BoundQuery.outputs. */
  readonly output: number
  readonly name: string
  readonly direction: Direction
}

export interface BoundQuery {
  readonly query: Query
  /** The spec the query bound against: its dataset's, or a join's (query/joins.ts). */
  readonly dataset: DatasetSpec
  /** The datasets it reads, FROM's first. */
  readonly datasets: readonly string[]
  /** How its columns map to the datasets', and a join's sides (query/joins.ts). */
  readonly tables: Tables
  /** One per select item, in select order. */
  readonly outputs: readonly BoundOutput[]
  readonly groupBy: readonly BoundGroupKey[]
  readonly where: BoundPredicate | null
  readonly orderBy: readonly BoundOrder[]
  /** HAVING over the released rows; null without one. */
  readonly having: BoundHaving | null
  /** LIMIT: the first rows kept after HAVING and ORDER BY; null without one. */
  readonly limit: number | null
  /** The columns the query reads, for grant checks (see `queryColumns`). */
  readonly columns: readonly string[]
  /** The aggregate functions it uses (see `queryAggregates`). */
  readonly aggregates: readonly AggregateFn[]
}

/** The dataset a query names in FROM: look its spec up by this, then bind. */
export function queryDataset(q: Query): string {
  return q.from.name
}

/** The error for a FROM name with no dataset behind it, suggesting the nearest of `known`. */
export function unknownDatasetError(q: Query, known: readonly string[]): VeilboxError {
  const suggestion = nearest(q.from.name, known)
  return queryError(
    'VEILBOX_ERR_QUERY_UNKNOWN_DATASET',
    `there is no dataset ${q.from.name} you can query${didYouMean(suggestion)}; FROM takes a dataset id from the catalog`,
    q.from.pos,
    { dataset: q.from.name, ...(suggestion === undefined ? {} : { suggestion }) },
  )
}

/**
 * Binds a query to its dataset's spec, and with a join to the joined
 * dataset's (`joinedSpecs`, in JOIN order): see query/joins.ts for what a
 * join binds against.
 */
export function bindQuery(q: Query, dataset: DatasetSpec, joinedSpecs: readonly DatasetSpec[] = []): BoundQuery {
  if (q.from.name !== dataset.id) {
    throw queryError(
      'VEILBOX_ERR_QUERY_UNKNOWN_DATASET',
      `the query reads ${q.from.name}, but it is being run against the dataset ${dataset.id}; name ${dataset.id} in FROM`,
      q.from.pos,
      { dataset: q.from.name, expected: dataset.id },
    )
  }
  const tables = tablesOf(q, dataset, joinedSpecs)
  const b = new Binder(tables)
  // A selected key is the GROUP BY key that resolves to the same column (written qualified or not) and buckets.
  const resolvedKey = (g: GroupRef): string =>
    `${tables.columnName(g)}|${g.bucket === undefined ? '' : `${g.bucket.lower},${g.bucket.upper},${g.bucket.count}`}|${g.calendar ?? ''}`
  const groupIndex = new Map(q.groupBy.map((g, i) => [resolvedKey(g), i]))
  // Clauses are checked in reading order, so the error reported is the first one in the text.
  const outputs = q.select.map((item): BoundOutput => {
    const name = outputName(item)
    if (item.kind === 'columnItem') {
      const column = b.resolve(item.column)
      const key = groupIndex.get(resolvedKey(item.column))
      if (key === undefined) {
        throw queryError(
          'VEILBOX_ERR_QUERY_UNGROUPED_COLUMN',
          `${groupKeySql(item.column)} is not the column GROUP BY names; write it the same way in both`,
          item.pos,
          { column: item.column.name },
        )
      }
      return Object.freeze({ kind: 'group', name, column, key })
    }
    return b.aggregate(item, name)
  })
  const where = q.where === undefined ? null : b.predicate(q.where)
  const groupBy = q.groupBy.map((g) => b.groupKey(g))
  checkSelectedKey(q, groupBy, tables.join !== null)
  const names = outputs.map((o) => o.name)
  const orderBy = q.orderBy.map(
    (o): BoundOrder => Object.freeze({ output: names.indexOf(o.name), name: o.name, direction: o.direction }),
  )
  return Object.freeze({
    query: q,
    dataset: tables.spec,
    datasets: Object.freeze(tables.datasets.map((d) => d.id)),
    tables,
    outputs: Object.freeze(outputs),
    groupBy: Object.freeze(groupBy),
    where,
    orderBy: Object.freeze(orderBy),
    having: q.having === undefined ? null : bindHaving(q.having, outputs),
    limit: q.limit ?? null,
    columns: Object.freeze(queryColumns(q)),
    aggregates: Object.freeze(queryAggregates(q)),
  })
}

class Binder {
  private readonly byName: Map<string, ColumnSpec>

  private readonly dataset: DatasetSpec

  constructor(private readonly tables: Tables) {
    this.dataset = tables.spec
    this.byName = new Map(tables.spec.columns.map((c) => [c.name, c]))
  }

  resolve(ref: ColumnRef): ColumnSpec {
    const col = this.byName.get(this.tables.columnName(ref))
    if (col !== undefined) return col
    const names = this.dataset.columns.map((c) => c.name)
    const suggestion = nearest(ref.name, names)
    const list = names.length <= 30 ? `; its columns are ${names.join(', ')}` : ''
    throw queryError(
      'VEILBOX_ERR_QUERY_UNKNOWN_COLUMN',
      `the dataset ${this.dataset.id} has no column ${ref.name}${didYouMean(suggestion)}${list}`,
      ref.pos,
      { column: ref.name, ...(suggestion === undefined ? {} : { suggestion }) },
    )
  }

  aggregate(a: Aggregate, name: string): BoundOutput {
    const label = a.display ?? a.fn
    const sql = aggregateSql(a)
    const base = { kind: 'aggregate' as const, name, fn: a.fn, label, ...(a.p === undefined ? {} : { p: a.p }) }
    if (a.column === null) return Object.freeze({ ...base, column: null })
    const col = this.resolve(a.column)
    const at = a.column.pos
    if (a.distinct) {
      if (col.name !== this.dataset.privacyUnit) {
        throw queryError(
          'VEILBOX_ERR_QUERY_BAD_AGGREGATE',
          `${sql}: COUNT(DISTINCT ...) counts privacy units, and ${col.name} is not the unit of ${this.dataset.id}; write COUNT(DISTINCT ${this.dataset.privacyUnit})`,
          at,
          { column: col.name },
        )
      }
      return Object.freeze({ ...base, label: 'count_distinct', column: col, distinct: true })
    }
    if (col.protection === 'he' && this.tables.join !== null) {
      throw queryError(
        'VEILBOX_ERR_QUERY_JOIN',
        `${sql}: ${col.name} is encrypted (he), and encrypted columns are not aggregated over joined rows yet; query its dataset on its own`,
        at,
        { column: col.name },
      )
    }
    if (col.type === 'id') {
      throw queryError(
        'VEILBOX_ERR_QUERY_ID_COLUMN',
        `${sql}: ${col.name} is an id column, and ids are never aggregated (they only tell rows apart); count rows with COUNT(*)`,
        at,
        { column: col.name },
      )
    }
    if (a.fn === 'count') return Object.freeze({ ...base, column: col })
    if (col.protection === 'he' && a.fn === 'quantile') {
      throw queryError(
        'VEILBOX_ERR_QUERY_HE_UNSUPPORTED',
        `${sql}: ${col.name} is encrypted (he), and a quantile needs to compare values, which cannot be done on ciphertexts; an encrypted column supports ${HE_AGGREGATES}`,
        at,
        { column: col.name },
      )
    }
    if (!isNumeric(col)) {
      throw queryError(
        'VEILBOX_ERR_QUERY_BAD_AGGREGATE',
        `${sql}: ${label.toUpperCase()} needs an integer or number column, and ${col.name} is ${col.type}` +
          (col.type === 'category' || col.type === 'boolean'
            ? `; to count its values, use COUNT(*) with GROUP BY ${col.name}`
            : ''),
        at,
        { column: col.name },
      )
    }
    if (col.lower === undefined || col.upper === undefined) {
      throw queryError(
        'VEILBOX_ERR_QUERY_UNBOUNDED_COLUMN',
        `${sql}: ${col.name} has no declared bounds, and without them one person's value could move the answer without limit, so no amount of noise would hide it; ` +
          `the dataset's operator must declare "lower" and "upper" for ${col.name} before it can be aggregated`,
        at,
        { column: col.name },
      )
    }
    if (a.bounds === undefined) return Object.freeze({ ...base, column: col })
    return Object.freeze({ ...base, column: col, bounds: analystBounds(sql, col, a.bounds, at) })
  }

  groupKey(ref: GroupRef): BoundGroupKey {
    return bindGroupKey(ref, this.resolve(ref))
  }

  predicate(p: ParsedPredicate): BoundPredicate {
    switch (p.kind) {
      case 'and':
      case 'or':
        return Object.freeze({ kind: p.kind, operands: Object.freeze(p.operands.map((o) => this.predicate(o))) })
      case 'not':
        return Object.freeze({ kind: 'not', operand: this.predicate(p.operand) })
      case 'compare': {
        const col = this.filterColumn(p.column)
        if (p.op !== '=' && p.op !== '<>' && !isNumeric(col) && !isTemporal(col)) {
          throw queryError(
            'VEILBOX_ERR_QUERY_TYPE_MISMATCH',
            `${col.name} is a ${col.type} column, and "${p.op}" orders numbers only; compare a ${col.type} with = or <>, or list values with IN`,
            p.pos,
            { column: col.name },
          )
        }
        return Object.freeze({ kind: 'compare', column: col, op: p.op, value: this.value(col, p.value) })
      }
      case 'in': {
        const col = this.filterColumn(p.column)
        const values = [...new Set(p.values.map((v) => this.value(col, v)))]
        return Object.freeze({ kind: 'in', column: col, values: Object.freeze(values), negated: p.negated })
      }
      case 'between': {
        const col = this.filterColumn(p.column)
        if (!isNumeric(col) && !isTemporal(col)) {
          throw queryError(
            'VEILBOX_ERR_QUERY_TYPE_MISMATCH',
            `${col.name} is a ${col.type} column, and BETWEEN takes a range of numbers; list the values you want with IN`,
            p.pos,
            { column: col.name },
          )
        }
        const low = this.value(col, p.low) as number
        const high = this.value(col, p.high) as number
        return Object.freeze({ kind: 'between', column: col, low, high, negated: p.negated })
      }
      case 'isNull':
        return Object.freeze({ kind: 'isNull', column: this.filterColumn(p.column), negated: p.negated })
    }
  }

  private filterColumn(ref: ColumnRef): ColumnSpec {
    const col = this.resolve(ref)
    if (col.type === 'id') {
      throw queryError(
        'VEILBOX_ERR_QUERY_ID_COLUMN',
        `${col.name} is an id column, and queries cannot filter on ids: a condition on one id singles out one person; filter on other columns`,
        ref.pos,
        { column: col.name },
      )
    }
    if (col.protection === 'he') {
      throw queryError(
        'VEILBOX_ERR_QUERY_HE_UNSUPPORTED',
        `cannot filter on ${col.name}: it is encrypted (he), and the service cannot compare its values; an encrypted column can only appear inside ${HE_AGGREGATES}`,
        ref.pos,
        { column: col.name },
      )
    }
    return col
  }

  /** A WHERE literal checked against its column's type and declared categories. */
  private value(col: ColumnSpec, lit: Literal): LiteralValue {
    const v = lit.value
    const mismatch: (want: string) => never = (want) => {
      throw queryError(
        'VEILBOX_ERR_QUERY_TYPE_MISMATCH',
        `${col.name} is a ${col.type} column, so it is compared with ${want}, not ${formatLiteral(v)}`,
        lit.pos,
        { column: col.name },
      )
    }
    switch (col.type) {
      case 'integer':
      case 'number':
        if (typeof v !== 'number')
          mismatch(
            typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))
              ? `numbers (write ${v} without quotes)`
              : 'numbers',
          )
        return v
      case 'boolean':
        if (typeof v !== 'boolean') mismatch('TRUE or FALSE')
        return v
      case 'date':
      case 'timestamp': {
        const n = typeof v === 'string' ? temporalLiteral(col.type, v) : null
        const midnight = col.type === 'timestamp' ? " or 'YYYY-MM-DD' (midnight UTC)" : ''
        return n ?? mismatch(`${col.type}s in single quotes, written '${temporalForm(col.type)}'${midnight}`)
      }
      case 'category':
        if (typeof v !== 'string') mismatch(`strings in single quotes, such as '${String(v)}'`)
        if (col.categories !== undefined && !col.categories.includes(v)) {
          const suggestion = nearest(v, col.categories)
          const list = col.categories.length <= 50 ? `: ${col.categories.map((c) => formatLiteral(c)).join(', ')}` : ''
          throw queryError(
            'VEILBOX_ERR_QUERY_UNKNOWN_CATEGORY',
            `${formatLiteral(v)} is not one of ${col.name}'s declared categories${didYouMean(suggestion === undefined ? undefined : formatLiteral(suggestion))}${list}`,
            lit.pos,
            { column: col.name, value: v, ...(suggestion === undefined ? {} : { suggestion }) },
          )
        }
        return v
      case 'id':
        throw new Error('unreachable: id columns are refused before their literals are checked')
    }
  }
}
