/**
 * Issue 21: a unit join of two datasets of one source, pushed down as one
 * statement, computes exactly what the sandbox computes (exec/join.ts) over
 * the same rows, bit for bit, in PostgreSQL 15 (a real throwaway cluster) and
 * in DuckDB over Parquet files, before any noise: each side's first
 * maxRowsPerUnit rows per unit in rowOrder, pairs in (left row, right row)
 * order, the first m_J = max(m_left, m_right) pairs per unit.
 *
 * Random pairs of datasets whose units overlap (fixtures.ts: nulls, values
 * at the bounds, duplicate units, unicode categories, another snapshot's rows
 * in each table), and random queries over the joined columns: GROUP BY
 * either side's public columns or a BUCKET, COUNT(*), COUNT(DISTINCT unit),
 * SUM, AVG, VAR, quantiles of either side's numbers, WHERE on either side.
 * Each side's snapshot is checked as one dataset's is: its row count, and
 * rows that break the declaration in the columns the join reads of it.
 */
import path from 'node:path'
import t from 'tap'

import { joinedColumns } from '../../../src/engine/exec/join.js'
import { tsKernel } from '../../../src/engine/exec/kernel.js'
import { aggregateTask, type ExecTask, type TaskColumns } from '../../../src/engine/exec/task.js'
import type { AggregateResult, ColumnArray } from '../../../src/engine/exec/types.js'
import { planQuery } from '../../../src/engine/plan/index.js'
import { joinPart } from '../../../src/engine/plan/join.js'
import { checkTask } from '../../../src/engine/pushdown/checks.js'
import { compileTask, type SourceRelation } from '../../../src/engine/pushdown/compile.js'
import { duckdb, postgres } from '../../../src/engine/pushdown/dialect.js'
import { bindQuery, parseQuery } from '../../../src/engine/query/index.js'
import { DuckDbSource, PostgresSource, type SourceEngine } from '../../../src/sources/index.js'
import { datasetSpecSchema, type DatasetSpec } from '../../../src/schema.js'
import { planOptions } from '../fixtures.js'
import { startPostgres } from '../../helpers/pg.js'
import { bitmap, int, pick, rng } from '../exec/fixtures.js'
import {
  embeddedColumns,
  groupable,
  loadPostgres,
  numeric,
  randomBucket,
  randomSourced,
  sqlWhere,
  writeCsv,
  writeParquet,
  type Row,
  type SourcedData,
} from './fixtures.js'

const PAIRS = 8
const QUERIES_PER_PAIR = 25
const RUN = { timeoutMs: 60_000 }

/** A dataset of unit space u, with its columns renamed (every one but the unit) so that the two sides share none. */
function side(data: SourcedData, id: string, prefix: string, table: string): SourcedData {
  const rename = (n: string) => (n === 'uid' || n === 'seq' || n === 'snap' ? n : `${prefix}${n}`)
  const renameRow = (row: Row): Row => Object.fromEntries(Object.entries(row).map(([k, v]) => [rename(k), v]))
  const spec = datasetSpecSchema.parse({
    ...data.spec,
    id,
    unitSpace: 'u',
    columns: data.spec.columns.map((c) => ({ ...c, name: rename(c.name) })),
    source: { ...data.spec.source!, table, unitBounded: false },
  })
  return {
    ...data,
    spec,
    rows: data.rows.map(renameRow),
    tableRows: data.tableRows.map(renameRow),
    columns: data.columns.map((c) => ({ ...c, name: rename(c.name) })),
  }
}

/** A random query over the joined columns. */
function randomJoinSql(r: () => number, merged: DatasetSpec, left: DatasetSpec, right: DatasetSpec): string {
  const nums = numeric(merged)
  const aggregates = new Set<string>()
  const n = 1 + int(r, 4)
  while (aggregates.size < n) {
    const x = pick(r, nums).name
    aggregates.add(
      pick(r, ['COUNT(*)', `SUM(${x})`, `AVG(${x})`, `VAR(${x})`, `QUANTILE(${x}, 0.75)`, 'COUNT(DISTINCT uid)']),
    )
  }
  const groups = groupable(merged)
  const by = [...new Set(Array.from({ length: int(r, 3) }, () => pick(r, groups).name))]
  if (r() < 0.3) by.push(randomBucket(r, pick(r, nums)))
  const where = r() < 0.7 ? ` WHERE ${sqlWhere(r, merged)}` : ''
  const select = [...by, ...aggregates].join(', ')
  return `SELECT ${select} FROM ${left.id} JOIN ${right.id} USING (uid)${where}${by.length > 0 ? ` GROUP BY ${by.join(', ')}` : ''}`
}

function plain(result: AggregateResult): unknown {
  return {
    count: [...result.count],
    measures: result.measures.map((m) =>
      m.kind === 'moments'
        ? {
            nonNull: [...m.nonNull],
            sum: [...m.sum].map(String),
            sumSquares: m.sumSquares === null ? null : [...m.sumSquares].map(String),
          }
        : m.kind === 'nonNull'
          ? { nonNull: [...m.nonNull] }
          : { counts: [...m.counts] },
    ),
  }
}

t.test('a pushed-down unit join equals the sandbox bit for bit, in PostgreSQL and DuckDB', async (t) => {
  const cluster = await startPostgres(t)
  const url = await cluster.createDatabase('joins')
  const pgSource = new PostgresSource({ name: 'test', url, poolSize: 2 })
  t.teardown(() => pgSource.close())
  const r = rng(0x21_2026)
  const stats = { queries: 0, pairs: 0, joinedRows: 0, distinct: 0, buckets: 0 }
  for (let d = 0; d < PAIRS; d++) {
    const rows = 200 + int(r, 1200)
    const left = side(randomSourced(r, { rows, wild: false, unique: false }), 'lefts', 'l_', 'public.l')
    const right = side(
      randomSourced(r, { rows: 200 + int(r, 1200), wild: false, unique: false }),
      'rights',
      'r_',
      'public.r',
    )
    const files: Record<string, string> = {}
    for (const [data, table] of [
      [left, 'public.l'],
      [right, 'public.r'],
    ] as const) {
      const csv = writeCsv(data)
      await loadPostgres(url, table, data, csv)
      files[data.spec.id] = path.join(path.dirname(csv), 'rows.parquet')
      await writeParquet(files[data.spec.id]!, data, csv)
    }
    const duck = new DuckDbSource({ root: '/', threads: 2, memoryLimitMb: 256 })
    t.teardown(() => duck.close())
    const relation = (data: SourcedData, kind: 'table' | 'parquet'): SourceRelation => ({
      from:
        kind === 'table'
          ? { kind: 'table', name: data.spec.source!.kind === 'postgres' ? data.spec.source!.table : '' }
          : { kind: 'parquet', files: [files[data.spec.id]!] },
      filter: { column: 'snap', value: data.snapshot },
      rowOrder: ['seq'],
      unitBounded: false,
    })
    const leftCols = embeddedColumns(left)
    const rightCols = embeddedColumns(right)
    for (let q = 0; q < QUERIES_PER_PAIR; q++) {
      const probe = bindQuery(parseQuery(`SELECT COUNT(*) FROM lefts JOIN rights USING (uid)`), left.spec, [right.spec])
      const sql = randomJoinSql(r, probe.dataset, left.spec, right.spec)
      const bound = bindQuery(parseQuery(sql), left.spec, [right.spec])
      const p = planQuery(bound, planOptions({ epsilon: 1 }))
      const task: ExecTask = { dataset: left.spec.id, version: 1, ...p.exec, join: joinPart(bound, p.exec, 1) }
      const part = task.join!
      const src = joinedColumns(
        { src: leftCols, unit: part.leftUnit },
        { src: rightCols, unit: part.rightUnit },
        part.maxRowsPerUnit,
        new Map(part.columns.map((c) => [c.name, { side: c.side, column: c.column }])),
      )
      const expected = plain(aggregateTask(tsKernel, task, src).result)
      stats.queries += 1
      stats.joinedRows += src.rows
      stats.distinct += task.measures.filter((m) => m.kind === 'distinctUnits').length
      stats.buckets += task.groupBy.filter((g) => g.bucket !== undefined).length
      for (const [engine, dialect, kind] of [
        [pgSource, postgres, 'table'],
        [duck, duckdb, 'parquet'],
      ] as const) {
        const statement = compileTask(task, bound.dataset, relation(left, kind), dialect, {
          left: { spec: left.spec, relation: relation(left, kind) },
          right: { spec: right.spec, relation: relation(right, kind) },
        })
        let got: AggregateResult
        try {
          got = statement.decode(await (engine as SourceEngine).run(statement.sql, statement.params, RUN)).result
        } catch (err) {
          t.fail(`${dialect.name}: ${sql}: ${(err as Error).message}\n${statement.sql}`)
          return
        }
        if (JSON.stringify(plain(got)) !== JSON.stringify(expected)) {
          t.same(plain(got), expected, `${dialect.name}, pair ${d}: ${sql}\n${statement.sql}`)
          return
        }
        // Each side's snapshot check: every row of the snapshot counted, none breaking the declaration.
        for (const [data, which] of [
          [left, 'left'],
          [right, 'right'],
        ] as const) {
          const check = compileTask(
            checkTask(
              1,
              data.spec,
              part.columns.filter((c) => c.side === which),
            ),
            data.spec,
            relation(data, kind),
            dialect,
          )
          const counted = check.decode(await (engine as SourceEngine).run(check.sql, check.params, RUN))
          if (counted.rows !== data.rows.length || counted.violations !== 0)
            t.fail(`${dialect.name}: ${which} side counted ${counted.rows} rows, ${counted.violations} broken`)
        }
      }
    }
    stats.pairs += 1
  }
  t.ok(stats.distinct >= 10, `${stats.distinct} COUNT(DISTINCT unit) measures`)
  t.ok(stats.joinedRows > 1000, `${stats.joinedRows} joined rows in all`)
  t.pass(
    `${stats.queries} joins over ${stats.pairs} pairs of datasets (${stats.buckets} BUCKET keys): identical in PostgreSQL, DuckDB and the sandbox`,
  )
})

t.test('a public table looked up at the source equals the sandbox bit for bit, in PostgreSQL and DuckDB', async (t) => {
  const cluster = await startPostgres(t)
  const url = await cluster.createDatabase('lookups')
  const pgSource = new PostgresSource({ name: 'test', url, poolSize: 2 })
  t.teardown(() => pgSource.close())
  const r = rng(0x21_0042)
  let queries = 0
  let dropped = 0
  for (let d = 0; d < 6; d++) {
    const data = side(
      randomSourced(r, { rows: 300 + int(r, 1500), wild: false, unique: d % 3 === 2 }),
      'lefts',
      'l_',
      'public.l',
    )
    const key = data.spec.columns.find((c) => c.name === 'l_c0')!
    // The table: some of the key's categories (the others' rows drop out), a region (sometimes empty) and a flag.
    const keys = key.categories!.filter(() => r() < 0.75)
    if (keys.length === 0) keys.push(key.categories![0]!)
    const regions = ['north', 'south', 'Zürich', '滨城区']
    const regionOf = keys.map((): string | null => (r() < 0.15 ? null : pick(r, regions)))
    const flagOf = keys.map(() => r() < 0.5)
    const table = datasetSpecSchema.parse({
      id: 'ref',
      title: 'reference',
      classification: 'public',
      public: true,
      key: 'k',
      columns: [
        { name: 'k', type: 'category', protection: 'public' },
        { name: 'region', type: 'category', protection: 'public', categories: regions, nullable: true },
        { name: 'flag', type: 'boolean', protection: 'public' },
      ],
    })
    const tableColumns: TaskColumns = {
      rows: keys.length,
      columns: new Map<string, ColumnArray>([
        ['k', { kind: 'code', values: Uint32Array.from(keys, (_, i) => i), dictionary: keys, nulls: null }],
        [
          'region',
          {
            kind: 'code',
            values: Uint32Array.from(regionOf, (v) => (v === null ? 0 : regions.indexOf(v))),
            dictionary: regions,
            nulls: regionOf.includes(null) ? bitmap(keys.length, (i) => regionOf[i] === null) : null,
          },
        ],
        [
          'flag',
          {
            kind: 'code',
            values: Uint32Array.from(flagOf, (f) => (f ? 1 : 0)),
            dictionary: ['false', 'true'],
            nulls: null,
          },
        ],
      ]),
      keep: new Uint8Array(keys.length).fill(1),
    }
    const rows = new Map<string, (string | number | boolean | null)[]>([
      ['k', keys],
      ['region', regionOf],
      ['flag', flagOf],
    ])
    const csv = writeCsv(data)
    await loadPostgres(url, 'public.l', data, csv)
    const parquet = path.join(path.dirname(csv), 'rows.parquet')
    await writeParquet(parquet, data, csv)
    const duck = new DuckDbSource({ root: '/', threads: 2, memoryLimitMb: 256 })
    t.teardown(() => duck.close())
    const relation = (kind: 'table' | 'parquet'): SourceRelation => ({
      from: kind === 'table' ? { kind: 'table', name: 'public.l' } : { kind: 'parquet', files: [parquet] },
      filter: { column: 'snap', value: data.snapshot },
      rowOrder: ['seq'],
      unitBounded: data.spec.source!.unitBounded === true,
    })
    const leftCols = embeddedColumns(data)
    for (let q = 0; q < 20; q++) {
      const x = pick(r, numeric(data.spec)).name
      const aggs = [
        ...new Set([
          pick(r, ['COUNT(*)', `SUM(${x})`]),
          pick(r, [`AVG(${x})`, 'COUNT(DISTINCT uid)', `QUANTILE(${x}, 0.5)`]),
        ]),
      ]
      const by = pick(r, [['region'], ['flag'], ['region', 'flag'], [], ['l_c0']])
      const where =
        r() < 0.5
          ? ` WHERE ${pick(r, ["region <> 'north'", 'flag = TRUE', 'region IS NULL', sqlWhere(r, data.spec)])}`
          : ''
      const sql = `SELECT ${[...by, ...aggs].join(', ')} FROM lefts JOIN ref ON lefts.l_c0 = ref.k${where}${by.length > 0 ? ` GROUP BY ${by.join(', ')}` : ''}`
      const bound = bindQuery(parseQuery(sql), data.spec, [table])
      const p = planQuery(bound, planOptions({ epsilon: 1 }))
      const task: ExecTask = { dataset: data.spec.id, version: 1, ...p.exec, join: joinPart(bound, p.exec, 1) }
      const part = task.join!
      t.equal(part.lookup, true)
      const src = joinedColumns(
        { src: leftCols, unit: part.leftUnit },
        { src: tableColumns, unit: part.rightUnit },
        'lookup',
        new Map(part.columns.map((c) => [c.name, { side: c.side, column: c.column }])),
      )
      dropped += leftCols.keep.reduce((a, b) => a + b, 0) - src.rows
      const expected = plain(aggregateTask(tsKernel, task, src).result)
      queries++
      for (const [engine, dialect, kind] of [
        [pgSource, postgres, 'table'],
        [duck, duckdb, 'parquet'],
      ] as const) {
        const statement = compileTask(task, bound.dataset, relation(kind), dialect, { table: rows })
        let got: AggregateResult
        try {
          got = statement.decode(await (engine as SourceEngine).run(statement.sql, statement.params, RUN)).result
        } catch (err) {
          t.fail(`${dialect.name}: ${sql}: ${(err as Error).message}\n${statement.sql}`)
          return
        }
        if (JSON.stringify(plain(got)) !== JSON.stringify(expected)) {
          t.same(plain(got), expected, `${dialect.name}, dataset ${d}: ${sql}\n${statement.sql}`)
          return
        }
      }
    }
  }
  t.ok(dropped > 0, `${dropped} kept rows had no row in the table and dropped out`)
  t.pass(`${queries} lookups: identical in PostgreSQL, DuckDB and the sandbox`)
})
