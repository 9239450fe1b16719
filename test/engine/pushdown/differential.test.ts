/**
 * Issue 19, "Done when": the exact aggregates of a pushed-down statement are
 * identical, bit for bit, to the embedded kernels', in PostgreSQL 15 (a real
 * throwaway cluster) and in DuckDB over a Parquet file, before any noise.
 *
 * Random datasets (fixtures.ts: nulls, values at and beyond the bounds,
 * infinities, subnormals, -0, duplicate units, unicode categories, another
 * snapshot's rows in the same table) and random queries of two kinds:
 * - SQL from a generator over the dataset's columns, parsed, bound and
 *   planned as a real query is (the task is the plan's own);
 * - tasks built directly, for what the SQL subset does not reach yet
 *   (category ordering and BETWEEN, literals outside the dictionary, empty
 *   AND/OR, any bin count).
 * The kernel's answer comes from the TypeScript kernel over the same rows as
 * column arrays, uploaded in the source's rowOrder, with the column cache's
 * contribution bound. Data with values beyond the bounds must also be
 * reported as breaking the declaration (violations > 0) whenever the query
 * reads such a column; data that keeps it must report 0.
 */
import path from 'node:path'
import t from 'tap'

import { tsKernel } from '../../../src/engine/exec/kernel.js'
import { quantumFor } from '../../../src/engine/exec/quantum.js'
import {
  aggregateTask,
  buildAggregateRequest,
  taskColumns,
  type ExecTask,
  type TaskPredicate,
} from '../../../src/engine/exec/task.js'
import type { AggregateResult } from '../../../src/engine/exec/types.js'
import { compileTask, type SourceAggregates, type SourceRelation } from '../../../src/engine/pushdown/compile.js'
import { duckdb, postgres } from '../../../src/engine/pushdown/dialect.js'
import { DuckDbSource, PostgresSource, type SourceEngine } from '../../../src/sources/index.js'
import { declaredDomain, type DatasetSpec } from '../../../src/schema.js'
import { startPostgres } from '../../helpers/pg.js'
import { int, pick, rng } from '../exec/fixtures.js'
import {
  embeddedColumns,
  groupable,
  loadPostgres,
  numeric,
  randomNumberLiteral,
  randomSourced,
  randomSqlTask,
  writeCsv,
  writeParquet,
  type SourcedData,
} from './fixtures.js'

const DATASETS = 14
const QUERIES_PER_DATASET = 30
const RUN = { timeoutMs: 60_000 }

/** A random task predicate, beyond the SQL subset. */
function taskWhere(r: () => number, spec: DatasetSpec, depth = 0): TaskPredicate {
  const u = r()
  if (depth < 3 && u < 0.25) {
    const operands = Array.from({ length: int(r, 4) }, () => taskWhere(r, spec, depth + 1))
    return { kind: r() < 0.5 ? 'and' : 'or', operands }
  }
  if (depth < 3 && u < 0.33) return { kind: 'not', operand: taskWhere(r, spec, depth + 1) }
  const c = pick(
    r,
    spec.columns.filter((x) => x.type !== 'id'),
  )
  if (r() < 0.1) return { kind: 'isNull', column: c.name, negated: r() < 0.5 }
  const op = pick(r, ['=', '<>', '<', '<=', '>', '>='] as const)
  if (c.type === 'number' || c.type === 'integer') {
    const v = r()
    if (v < 0.5) return { kind: 'cmp', column: c.name, op, value: randomNumberLiteral(r, c) }
    if (v < 0.75) {
      const a = randomNumberLiteral(r, c)
      const b = randomNumberLiteral(r, c)
      return { kind: 'between', column: c.name, low: a, high: b, negated: r() < 0.3 }
    }
    const values = Array.from({ length: int(r, 4) }, () => randomNumberLiteral(r, c))
    return { kind: 'in', column: c.name, values, negated: r() < 0.3 }
  }
  const undeclared = c.type === 'category' && c.categories === undefined
  const literal = (): string | boolean =>
    c.type === 'boolean'
      ? r() < 0.5
      : r() < 0.8
        ? pick(r, c.categories ?? ['C13', 'F51', 'I64', '北京', "o'c"])
        : pick(r, ['m', 'Zz', '', '北', '😀😀'])
  // A category without declared categories has no order: = and <> only.
  if (r() < 0.6)
    return { kind: 'cmp', column: c.name, op: undeclared ? pick(r, ['=', '<>'] as const) : op, value: literal() }
  return { kind: 'in', column: c.name, values: Array.from({ length: int(r, 4) }, literal), negated: r() < 0.3 }
}

function directTask(r: () => number, spec: DatasetSpec): { task: ExecTask; what: string } {
  const nums = numeric(spec)
  const measures: ExecTask['measures'] = Array.from({ length: 1 + int(r, 4) }, () => {
    const c = pick(r, nums)
    const v = r()
    if (v < 0.2)
      return {
        kind: 'nonNull' as const,
        column: pick(
          r,
          spec.columns.filter((x) => x.type !== 'id'),
        ).name,
      }
    // Narrower bounds too, as an analyst's own bounds would be.
    const lo = c.lower!
    const hi = c.upper!
    const [lower, upper] = r() < 0.7 ? [lo, hi] : [lo + (hi - lo) * 0.25, lo + (hi - lo) * 0.5]
    if (v < 0.45)
      return { kind: 'histogram' as const, column: c.name, lower, upper, bins: pick(r, [1, 2, 7, 128, 300]) }
    return {
      kind: 'moments' as const,
      column: c.name,
      lower,
      upper,
      exp: quantumFor(lower, upper).exp,
      squares: r() < 0.5,
    }
  })
  const groups = groupable(spec)
  const by = groups.length === 0 ? [] : [...new Set(Array.from({ length: int(r, 3) }, () => pick(r, groups)))]
  const task: ExecTask = {
    dataset: spec.id,
    version: 1,
    where: r() < 0.85 ? taskWhere(r, spec) : null,
    groupBy: by.map((c) => ({
      column: c.name,
      dictionary: declaredDomain(c).map(String),
      nullable: c.nullable === true,
    })),
    measures,
  }
  return { task, what: JSON.stringify(task) }
}

/** The kernel's result as plain JSON, sums as decimal strings. */
/**
 * The result as plain JSON. With partition selection, groups are put in key
 * order: the embedded engine's slots follow the version's order of first
 * appearance, the source's the sorted keys; the keys are compared too.
 */
function plain(result: AggregateResult): unknown {
  const keys = result.keys
  const groups = result.count.length
  const order = Array.from({ length: groups }, (_, g) => g)
  if (keys !== undefined) {
    const sorted = order.slice(0, keys.length).sort((a, b) => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : 0))
    order.splice(0, keys.length, ...sorted)
  }
  const per = <T>(values: ArrayLike<T>, width = 1): T[] =>
    order.flatMap((g) => Array.from({ length: width }, (_, b) => values[g * width + b]!))
  return {
    ...(keys === undefined ? {} : { keys: order.slice(0, keys.length).map((g) => keys[g]) }),
    count: per(result.count),
    measures: result.measures.map((m) =>
      m.kind === 'moments'
        ? {
            nonNull: per(m.nonNull),
            sum: per(m.sum).map(String),
            sumSquares: m.sumSquares === null ? null : per(m.sumSquares).map(String),
          }
        : m.kind === 'nonNull'
          ? { nonNull: per(m.nonNull) }
          : { counts: per(m.counts, m.bins) },
    ),
  }
}

/** Whether the task reads a column that holds a value the declaration forbids (the data's own truth). */
function readsBroken(data: SourcedData, task: ExecTask): boolean {
  const names = new Set(taskColumns(task))
  return data.spec.columns.some(
    (c) =>
      names.has(c.name) &&
      (c.type === 'number' || c.type === 'integer') &&
      data.rows.some((row) => {
        const v = row[c.name]
        return typeof v === 'number' && !(v >= c.lower! && v <= c.upper!)
      }),
  )
}

t.test('pushed-down aggregates equal the kernels bit for bit, in PostgreSQL and DuckDB', async (t) => {
  const cluster = await startPostgres(t)
  const url = await cluster.createDatabase('src')
  const pgSource = new PostgresSource({ name: 'test', url, poolSize: 2 })
  t.teardown(() => pgSource.close())
  const r = rng(0x19_2026)
  const stats = { queries: 0, rows: 0, broken: 0, groups: 0, buckets: 0, distinct: 0, selected: 0 }
  for (let d = 0; d < DATASETS; d++) {
    const wild = d % 3 === 1
    const data = randomSourced(r, { rows: 300 + int(r, 2500), wild, unique: d % 4 === 3, selected: true })
    const csv = writeCsv(data)
    const root = path.dirname(csv)
    const parquet = path.join(root, 'rows.parquet')
    await loadPostgres(url, 'public.t', data, csv)
    await writeParquet(parquet, data, csv)
    const duck = new DuckDbSource({ root, threads: 2, memoryLimitMb: 256 })
    t.teardown(() => duck.close())
    const relation = (kind: 'table' | 'parquet'): SourceRelation => ({
      from: kind === 'table' ? { kind: 'table', name: 'public.t' } : { kind: 'parquet', files: [parquet] },
      filter: { column: 'snap', value: data.snapshot },
      rowOrder: ['seq'],
      unitBounded: data.spec.source!.unitBounded === true,
    })
    const embedded = embeddedColumns(data)
    stats.rows += data.rows.length
    for (let q = 0; q < QUERIES_PER_DATASET; q++) {
      const { task, what } = q % 2 === 0 ? randomSqlTask(r, data.spec) : directTask(r, data.spec)
      const expected = plain(aggregateTask(tsKernel, task, embedded).result)
      const broken = readsBroken(data, task)
      stats.queries += 1
      stats.groups += task.groupBy.length
      stats.buckets += task.groupBy.filter((g) => g.bucket !== undefined).length
      stats.distinct += task.measures.filter((m) => m.kind === 'distinctUnits').length
      stats.selected += task.groupBy.filter((g) => g.selected !== undefined).length
      if (broken) stats.broken += 1
      for (const [engine, dialect, kind] of [
        [pgSource, postgres, 'table'],
        [duck, duckdb, 'parquet'],
      ] as const) {
        const statement = compileTask(task, data.spec, relation(kind), dialect)
        let got: SourceAggregates
        try {
          got = statement.decode(await (engine as SourceEngine).run(statement.sql, statement.params, RUN))
        } catch (err) {
          t.fail(`${dialect.name}: ${what}: ${(err as Error).message}\n${statement.sql}`)
          return
        }
        const same = JSON.stringify(plain(got.result)) === JSON.stringify(expected)
        if (!same) {
          t.same(plain(got.result), expected, `${dialect.name}, dataset ${d}: ${what}\n${statement.sql}`)
          return
        }
        if (got.rows !== data.rows.length) t.fail(`${dialect.name}: ${got.rows} rows counted, not ${data.rows.length}`)
        if (broken !== got.violations > 0)
          t.fail(
            `${dialect.name}, dataset ${d}: violations ${got.violations}, the data ${broken ? 'breaks' : 'keeps'} the bounds: ${what}`,
          )
      }
    }
  }
  t.ok(stats.buckets >= 30, `${stats.buckets} BUCKET keys among the GROUP BY columns`)
  t.ok(stats.distinct >= 20, `${stats.distinct} COUNT(DISTINCT unit) measures`)
  t.ok(stats.selected >= 20, `${stats.selected} partition selections`)
  t.pass(
    `${stats.queries} queries (${stats.groups} GROUP BY columns, ${stats.buckets} of them BUCKETs, ${stats.broken} reading out-of-bounds values) over ${DATASETS} datasets, ${stats.rows} rows: identical in PostgreSQL, DuckDB and the kernel`,
  )
})

t.test(
  'rows that break the declaration: the statement reports them whatever the WHERE, as ingest refuses them',
  async (t) => {
    const cluster = await startPostgres(t)
    const url = await cluster.createDatabase('nan')
    const pgSource = new PostgresSource({ name: 'test', url, poolSize: 1 })
    t.teardown(() => pgSource.close())
    const r = rng(0xa4a)
    const data = randomSourced(r, { rows: 400, wild: false, unique: false })
    const x0 = data.spec.columns.find((c) => c.name === 'x0')!
    // One NaN, in a row another column's condition excludes: the check is over every row, whatever the WHERE.
    const row = data.rows[123]! as Record<string, unknown>
    row.x0 = Number.NaN
    // A category the declaration does not have, and a null where c0 may not be null: in two other rows.
    const c0 = data.spec.columns.find((c) => c.name === 'c0')!
    ;(data.rows[200]! as Record<string, unknown>).c0 = 'undeclared ☃'
    if (c0.nullable !== true) (data.rows[201]! as Record<string, unknown>).c0 = null
    const c0Dictionary = c0.categories!
    const csv = writeCsv(data)
    const parquet = path.join(path.dirname(csv), 'rows.parquet')
    await loadPostgres(url, 'public.t', data, csv)
    await writeParquet(parquet, data, csv)
    const duck = new DuckDbSource({ root: path.dirname(csv), threads: 1, memoryLimitMb: 128 })
    t.teardown(() => duck.close())
    const task: ExecTask = {
      dataset: data.spec.id,
      version: 1,
      where: { kind: 'cmp', column: 'x0', op: '<>', value: 1.5 },
      groupBy: [],
      measures: [
        {
          kind: 'moments',
          column: 'x0',
          lower: x0.lower!,
          upper: x0.upper!,
          exp: quantumFor(x0.lower!, x0.upper!).exp,
          squares: true,
        },
      ],
    }
    const untouched: ExecTask = { ...task, where: null, measures: [{ kind: 'nonNull', column: 'b0' }] }
    const groupedByC0: ExecTask = {
      ...untouched,
      groupBy: [{ column: 'c0', dictionary: [...c0Dictionary], nullable: c0.nullable === true }],
    }
    const filteredOnC0: ExecTask = {
      ...untouched,
      where: { kind: 'cmp', column: 'c0', op: '=', value: c0Dictionary[0]! },
    }
    t.throws(() => tsKernel.aggregate(buildAggregateRequest({ ...task, where: null }, embeddedColumns(data))), {
      code: 'VEILBOX_ERR_EXEC_BAD_ARGUMENT',
    })
    for (const [engine, dialect, from] of [
      [pgSource, postgres, { kind: 'table', name: 'public.t' }],
      [duck, duckdb, { kind: 'parquet', files: [parquet] }],
    ] as const) {
      const relation: SourceRelation = {
        from,
        filter: { column: 'snap', value: data.snapshot },
        rowOrder: ['seq'],
        unitBounded: false,
      }
      for (const [which, want, what] of [
        [task, true, 'a query reading x0 sees the NaN'],
        [untouched, false, 'a query reading neither x0 nor c0 sees nothing'],
        [groupedByC0, true, 'a GROUP BY c0 sees the undeclared category'],
        [filteredOnC0, true, 'a WHERE on c0 sees it too'],
      ] as const) {
        const s = compileTask(which, data.spec, relation, dialect)
        const got = s.decode(await (engine as SourceEngine).run(s.sql, s.params, RUN))
        t.equal(got.violations > 0, want, `${dialect.name}: ${what}`)
      }
    }
  },
)
