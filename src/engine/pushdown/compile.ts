import { declaredDomain, hasDeclaredDomain, type DatasetSpec } from '../../schema.js'
import type { SourceParam } from '../../sources/types.js'
import { groupLayout } from '../exec/grouping.js'
import { pow2 } from '../exec/quantum.js'
import { taskColumns, type ExecTask } from '../exec/task.js'
import { SQ_SHIFT } from '../exec/types.js'
import { bad, Builder, entryValues, listType, quote } from './builder.js'
import { JOINED, joinedRows, lookupRows, type JoinSources, type PublicRows } from './joined.js'
import { fromItem, type SourceRelation } from './relation.js'
import { decode, type ResultRow, type SourceAggregates } from './decode.js'
import type { Dialect } from './dialect.js'

export { quoteRelation } from './builder.js'

/**
 * The pushdown compiler: one SQL statement per query, built from the
 * validated plan's task (never from the analyst's text), every value a bound
 * parameter, every identifier one the operator declared (lower-case
 * [a-z0-9_], schema.ts) and quoted. The source computes exactly what the
 * embedded kernels compute (exec/types.ts, exec/quantum.ts), bit for bit:
 *
 * - The contribution bound comes first, over the whole snapshot, before the
 *   WHERE: row_number() over (partition by the unit, ordered by a key that
 *   does not depend on the query) <= maxRowsPerUnit. The embedded engine
 *   keeps each unit's first rows in upload order; upload the same rows in
 *   the order of `rowOrder` and the two keep the same rows.
 * - The WHERE is a boolean column (vb_sel) in SQL's three-valued logic,
 *   which is the kernels' Kleene logic. Numbers compare as doubles, as
 *   JavaScript does. Category and boolean conditions of every kind (=, <,
 *   IN, ...) are evaluated here over the declared categories, by JavaScript's
 *   ordering (exec/predicate.ts), and sent as IN lists: the source's
 *   collation never decides.
 * - Each value is clamped and quantized in binary64, in the kernels' order:
 *   q = floor(least(greatest(x, lower), upper) * 2^-exp + 0.5), squares
 *   floor(q * q * 2^-31 + 0.5), histogram bins as exec/types.ts defines
 *   them. Nulls are never clamped (least(greatest(NULL, lo), hi) would be
 *   lo): every expression is NULL for a null value and the aggregates skip
 *   it. PostgreSQL raises an error where a product or quotient underflows to
 *   zero; the values that could do so quantize to 0, and are mapped to 0
 *   first (see `quantized` and `bin`).
 * - Sums are sum(bigint): numeric in PostgreSQL, HUGEINT in DuckDB, exact.
 * - GROUP BY runs over the declared columns; HAVING keeps only keys of the
 *   declared domain, so a key outside it is dropped in the source and never
 *   returned. veilbox zero-fills the keys that are missing.
 * - Quantile histograms are grouping sets of their own, (keys, bin), in the
 *   same scan.
 * - The snapshot's checks ride along in the grand total: every row of the
 *   snapshot counted (vb_all), and the rows that break the declaration
 *   (vb_bad: NaN, an infinity or a value out of bounds in a bounded column,
 *   a fraction in an integer column, a null in a non-nullable one, a
 *   category outside the declared ones). They are counted over all rows,
 *   whatever the WHERE, so a refusal they cause does not depend on the
 *   analyst's condition (sources.ts).
 */

export type { ResultRow, SourceAggregates } from './decode.js'
export type { JoinSources, PublicRows } from './joined.js'
export type { SourceRelation } from './relation.js'

export interface Statement {
  readonly sql: string
  readonly params: readonly SourceParam[]
  decode(rows: readonly ResultRow[]): SourceAggregates
}

/**
 * The statement for `task` over `relation`, in `dialect`. The task has been
 * validated (execTaskSchema) and planned against `spec`; anything else is an
 * engine bug (VEILBOX_ERR_EXEC_BAD_ARGUMENT).
 */
export function compileTask(
  task: ExecTask,
  spec: DatasetSpec,
  given: SourceRelation,
  dialect: Dialect,
  join?: JoinSources | { readonly table: PublicRows },
): Statement {
  if (task.encrypted !== undefined) throw bad('encrypted measures cannot be pushed down')
  // Sourced datasets have no date or timestamp columns (src/schema.ts): calendar periods are never compiled.
  if (task.groupBy.some((g) => g.calendar !== undefined)) throw bad('calendar periods cannot be pushed down')
  if ((task.join === undefined) !== (join === undefined)) throw bad('a join task needs both sides, and only it')
  if ((task.join?.lookup === true) !== (join !== undefined && 'table' in join))
    throw bad("a lookup needs the public table's rows, and only a lookup")
  const relation = join === undefined ? given : JOINED
  const b = new Builder(dialect, spec)
  const touched = taskColumns(task).map((n) => b.column(n))
  const unit = quote(spec.privacyUnit)

  // 1. The snapshot's rows (or a join's pairs), and each row's place among its unit's rows.
  const from =
    join === undefined
      ? fromItem(b, relation)
      : 'table' in join
        ? `(${lookupRows(b, task, spec, given, join.table, dialect)}) vb_join`
        : `(${joinedRows(b, task, join, dialect)}) vb_join`
  // A public table's columns are checked in veilbox (ingest), never at the source.
  const fromTable = new Set(
    task.join?.lookup === true ? task.join.columns.filter((c) => c.side === 'right').map((c) => c.name) : [],
  )
  const filter = ''
  // The unit is read for the window; a unitBounded source's units were checked at registration, and a query
  // that does not number them need not read them (a string column is the dearest to scan).
  const distinct = task.measures.some((m) => m.kind === 'distinctUnits')
  const selectedKey = task.groupBy.find((g) => g.selected !== undefined)
  // Partition selection bounds a unit's keys in row order: the rows are numbered even when the source is unitBounded.
  const numbered = !relation.unitBounded || selectedKey !== undefined
  const inner = [
    ...(relation.unitBounded && !distinct && selectedKey === undefined ? [] : [unit]),
    ...touched.filter((c) => c.name !== spec.privacyUnit).map((c) => quote(c.name)),
    ...(relation.shardKey === undefined || touched.some((c) => c.name === relation.shardKey)
      ? []
      : [quote(relation.shardKey)]),
  ]
  const rank = numbered
    ? `, row_number() OVER (PARTITION BY ${unit} ORDER BY ${relation.rowOrder.map(quote).join(', ')}) AS vb_rn`
    : ''
  const numberedRows = `SELECT ${inner.length === 0 ? 'TRUE AS vb_row' : inner.join(', ')}${rank} FROM ${from}${filter}`
  const kept = relation.unitBounded ? 'TRUE' : `vb_rn <= ${dialect.bigint(b.param(spec.maxRowsPerUnit))}`
  // Partition selection (exec/distinct.ts firstKeysPerUnit): of a unit's kept rows with a key, those whose key
  // is among its first maxGroupsContributed keys, ranked by each key's first kept row.
  let source = numberedRows
  let bound = kept
  if (selectedKey !== undefined) {
    const k = quote(selectedKey.column)
    const first = `min(CASE WHEN ${kept} AND ${k} IS NOT NULL THEN vb_rn END) OVER (PARTITION BY ${unit}, ${k}) AS vb_kf`
    const ranked = `SELECT vb_n.*, ${first} FROM (${numberedRows}) vb_n`
    source = `SELECT vb_f.*, dense_rank() OVER (PARTITION BY ${unit} ORDER BY vb_kf NULLS LAST) AS vb_kr FROM (${ranked}) vb_f`
    bound = `${kept} AND vb_kr <= ${dialect.bigint(b.param(selectedKey.selected!.maxGroupsContributed))}`
  }

  // 2. Per row: selected (bound, then WHERE), broken, and the measures' integers.
  const where = task.where === null ? 'TRUE' : b.where(task.where)
  // A GROUP BY column's undeclared values (and nulls where it is not nullable) are counted where HAVING drops
  // their groups (decode.ts): no test per row for them.
  // A bucketed column is checked like any other: its buckets are not a declared domain.
  const grouped = new Set(
    task.groupBy.filter((g) => g.bucket === undefined && g.selected === undefined).map((g) => g.column),
  )
  const broken = [
    ...(relation.unitBounded ? [] : [`${unit} IS NULL`]),
    ...touched
      .filter((c) => !grouped.has(c.name) && !fromTable.has(c.name))
      .map((c) => b.violation(c))
      .filter((v) => v !== null),
  ]
  const perRow: string[] = [
    ...inner,
    // NULL (UNKNOWN) is not selected: FILTER keeps only TRUE.
    `(${bound} AND ${where}) AS vb_sel`,
    `(${broken.length === 0 ? 'FALSE' : broken.join(' OR ')}) AS vb_bad`,
  ]
  // A bucket key's code, as the kernels compute it (exec/task.ts): the bin of the clamped value, 0 for null
  // (whose row the plan's range in WHERE leaves unselected).
  task.groupBy.forEach((g, j) => {
    if (g.bucket !== undefined) perRow.push(`${b.bucketCode(g.column, g.bucket, g.dictionary.length)} AS vb_k${j}`)
  })
  task.measures.forEach((m, i) => {
    if (m.kind === 'moments') perRow.push(`${b.quantized(m)} AS vb_q${i}`)
    if (m.kind === 'histogram') perRow.push(`${b.bin(m)} AS vb_h${i}`)
  })

  // 3. The aggregates, per declared key, per histogram bin, and over everything.
  const layout = task.groupBy.length === 0 ? null : groupLayout(task.groupBy)
  const keys = task.groupBy.map((g) => {
    const c = b.column(g.column)
    if (g.bucket !== undefined) return { column: c, dictionary: g.dictionary, nullable: false, bucket: true }
    if (g.selected !== undefined)
      return { column: c, dictionary: g.dictionary, nullable: false, bucket: false, selected: true }
    if (!hasDeclaredDomain(c)) throw bad(`GROUP BY ${c.name}, which has no declared domain`)
    const domain = declaredDomain(c).map((v) => String(v))
    if (domain.length !== g.dictionary.length || domain.some((v, i) => v !== g.dictionary[i]))
      throw bad(`GROUP BY ${c.name} with a dictionary other than the declared one`)
    return { column: c, dictionary: g.dictionary, nullable: g.nullable, bucket: false }
  })
  const bins = task.measures.flatMap((m, i) => (m.kind === 'histogram' ? [{ measure: i, bins: m.bins }] : []))
  const keyCols = keys.map((k, j) => (k.bucket ? `vb_k${j}` : quote(k.column.name)))
  const groupCols = [...keyCols, ...bins.map((h) => `vb_h${h.measure}`)]
  // Inner: a plain GROUP BY (with the shard key, when the source has one: then each shard aggregates its own
  // rows, whole). Its partial counts and sums add up in the outer level, over a handful of rows.
  const partGroup = [...(relation.shardKey === undefined ? [] : [quote(relation.shardKey)]), ...groupCols]
  // Every row selected (no bound to apply, no WHERE): the same aggregates without FILTER, which the
  // engine then computes once (identical aggregate calls share their state).
  const everyRow = relation.unitBounded && task.where === null
  const selected = (aggregate: string): string => (everyRow ? aggregate : `${aggregate} FILTER (WHERE vb_sel)`)
  const selectedRows = everyRow ? 'count(*)' : dialect.countTrue('vb_sel')
  // A column that may not be null has a value in every selected row (a null is a broken row, and refuses the
  // query): its count is the selected rows', the same aggregate, computed once.
  const nonNull = (column: string): string =>
    b.column(column).nullable === true ? selected(`count(${quote(column)})`) : selectedRows
  const parts: string[] = [
    ...partGroup,
    'count(*) AS vb_all',
    `${selectedRows} AS vb_n`,
    `${dialect.countTrue('vb_bad')} AS vb_bad`,
  ]
  const select: string[] = [
    groupCols.length === 0 ? '0 AS vb_set' : `GROUPING(${groupCols.join(', ')}) AS vb_set`,
    ...groupCols,
    'sum(vb_all)',
    'sum(vb_n)',
    'sum(vb_bad)',
  ]
  const measureColumns: number[] = []
  const partial = (i: number, expr: string, name: string): void => {
    parts.push(`${expr} AS vb_${name}${i}`)
    select.push(`sum(vb_${name}${i})`)
  }
  task.measures.forEach((m, i) => {
    measureColumns.push(select.length)
    if (m.kind === 'moments') {
      // count(x), not count(q): q is NULL exactly when x is, and the engine need not compute q twice.
      partial(i, nonNull(m.column), 'c')
      partial(i, selected(`sum(CAST(vb_q${i} AS BIGINT))`), 's')
      if (m.squares)
        partial(
          i,
          selected(
            `sum(CAST(floor((vb_q${i} * vb_q${i}) * ${b.double(pow2(-SQ_SHIFT))} + ${b.double(0.5)}) AS BIGINT))`,
          ),
          'ss',
        )
    } else if (m.kind === 'nonNull') {
      partial(i, nonNull(m.column), 'c')
    } else if (m.kind === 'distinctUnits') {
      // Units per group. A unit's rows are on one shard (the shard key places them), so shards' counts add up;
      // with histogram bins in the partial groups, a unit would be counted once per bin, so each unit's first
      // selected row per key is flagged instead (vb_first, below) and the flags are counted.
      partial(i, bins.length > 0 ? dialect.countTrue('vb_first') : selected(`count(DISTINCT ${unit})`), 'c')
    }
  })
  const plainRows = `SELECT ${perRow.join(', ')} FROM (${source}) vb_src`
  const rowsSql =
    distinct && bins.length > 0
      ? `SELECT vb_r.*, (vb_sel AND row_number() OVER (PARTITION BY ${[unit, ...keyCols, 'vb_sel'].join(', ')}) = 1) AS vb_first FROM (${plainRows}) vb_r`
      : plainRows
  const partsSql = `SELECT ${parts.join(', ')} FROM (${rowsSql}) vb_rows${partGroup.length === 0 ? '' : ` GROUP BY ${partGroup.join(', ')}`}`
  const sets = keys.length === 0 ? [[]] : [keyCols, []]
  for (const h of bins) sets.push([...keyCols, `vb_h${h.measure}`])
  let tail = ''
  if (groupCols.length > 0) {
    tail = ` GROUP BY GROUPING SETS (${sets.map((s) => `(${s.join(', ')})`).join(', ')})`
    // Bucket codes are all in their domain, and a selected key's values are the candidates: only declared keys are tested.
    const declared = keys.filter((k) => !k.bucket && !('selected' in k))
    if (declared.length > 0) {
      const inDomain = declared.map((k) => {
        const test = b.inList(quote(k.column.name), entryValues(k.column, k.dictionary), listType(k.column))
        return k.nullable ? `(${test} OR ${quote(k.column.name)} IS NULL)` : `COALESCE(${test}, FALSE)`
      })
      // Every bucket code is in its domain: only declared keys are tested.
      tail += ` HAVING GROUPING(${keyCols[0]}) = 1 OR (${inDomain.join(' AND ')})`
    }
  }
  const sql = `SELECT ${select.join(', ')} FROM (${partsSql}) vb_parts${tail}`
  return {
    sql,
    params: b.params,
    decode: (rows) => decode(rows, task, { keys, bins, measureColumns, groups: layout?.count ?? 1 }),
  }
}
