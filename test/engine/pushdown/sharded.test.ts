/**
 * Issue 19, "Done when": a PostgreSQL source sharded over two other
 * PostgreSQL servers with postgres_fdw (three servers, all started here)
 * gives the same exact aggregates as the same rows on one server and as the
 * embedded engine's upload of them, and EXPLAIN shows every shard computing
 * its own aggregate (the Remote SQL each shard receives has the GROUP BY and
 * the aggregates, not a bare row fetch).
 *
 * The layout (docs/sources.md): the coordinator's households table is
 * partitioned BY LIST (shard), each partition a foreign table on one shard
 * server; `shard` is a function of the household (the privacy unit), so all
 * rows of a unit live on one shard; the reader role has
 * enable_partitionwise_aggregate on. The source declares shardKey: shard.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import t from 'tap'

import { DEMO_CSV_HEADER, demoRows, toCsvLine } from '../../../src/demo/binzhou.js'
import { sourcedDemoSpec } from '../../../src/demo/households-source.js'
import { tsKernel } from '../../../src/engine/exec/kernel.js'
import { aggregateTask } from '../../../src/engine/exec/task.js'
import type { AggregateResult } from '../../../src/engine/exec/types.js'
import { compileTask, type SourceRelation } from '../../../src/engine/pushdown/compile.js'
import { postgres } from '../../../src/engine/pushdown/dialect.js'
import { PostgresSource } from '../../../src/sources/index.js'
import type { DatasetSpec } from '../../../src/schema.js'
import { startPostgres, type PgCluster } from '../../helpers/pg.js'
import { plan } from '../fixtures.js'
import { rng } from '../exec/fixtures.js'
import { embeddedColumns, randomSqlTask, type SourcedData } from './fixtures.js'

const ROWS = 6000
const SHARDS = 2
const COLUMNS = `household_id text NOT NULL, district text NOT NULL, insured boolean NOT NULL, age_band text NOT NULL,
  age integer NOT NULL, household_size integer NOT NULL, income double precision NOT NULL,
  medical_spending double precision NOT NULL, shard integer NOT NULL`

/** The shard of a household: a function of the unit alone. */
function shardOf(id: string): number {
  let h = 0
  for (const ch of id) h = (h * 31 + ch.charCodeAt(0)) % 1_000_003
  return h % SHARDS
}

async function sql(url: string, statements: readonly string[]): Promise<void> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    for (const s of statements) await c.query(s)
  } finally {
    await c.end()
  }
}

function csvOf(rows: readonly string[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'veilbox-shard-'))
  fs.chmodSync(dir, 0o755)
  const file = path.join(dir, 'rows.csv')
  fs.writeFileSync(file, `${DEMO_CSV_HEADER.trimEnd()},shard\n${rows.join('')}`, { mode: 0o644 })
  return file
}

function databaseOf(url: string): string {
  return /@\/([a-z0-9_]+)\?/.exec(url)![1]!
}

function plain(r: AggregateResult): string {
  return JSON.stringify({ count: [...r.count], measures: r.measures }, (_, v) =>
    typeof v === 'bigint' ? v.toString() : ArrayBuffer.isView(v) ? [...(v as Float64Array)] : v,
  )
}

t.test('a source sharded with postgres_fdw answers as one server and as the embedded engine', async (t) => {
  const [coordinator, ...shards] = [await startPostgres(t), await startPostgres(t), await startPostgres(t)] as [
    PgCluster,
    PgCluster,
    PgCluster,
  ]
  const rows = [...demoRows(ROWS)]
  const lines = rows.map((r) => `${toCsvLine(r).trimEnd()},${shardOf(r.household_id)}\n`)
  const all = csvOf(lines)

  // Each shard: its own rows, and a role that may read them.
  const shardUrls: string[] = []
  for (let s = 0; s < SHARDS; s++) {
    const url = await shards[s]!.createDatabase('shard')
    shardUrls.push(url)
    const mine = csvOf(lines.filter((_, i) => shardOf(rows[i]!.household_id) === s))
    await sql(url, [
      `CREATE TABLE households_part (${COLUMNS})`,
      `COPY households_part FROM '${mine}' WITH (FORMAT csv, HEADER true)`,
      'ANALYZE households_part',
      'CREATE ROLE shard_reader LOGIN',
      'GRANT SELECT ON households_part TO shard_reader',
    ])
  }

  // The coordinator: the partitioned table over foreign partitions, a single-server copy, the reader role.
  const coord = await coordinator.createDatabase('coord')
  await sql(coord, [
    'CREATE EXTENSION postgres_fdw',
    'CREATE ROLE veilbox_reader LOGIN',
    'ALTER ROLE veilbox_reader SET enable_partitionwise_aggregate = on',
    `CREATE TABLE households (${COLUMNS}) PARTITION BY LIST (shard)`,
    ...shardUrls.flatMap((url, s) => [
      `CREATE SERVER shard${s} FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '${shards[s]!.socketDir}', port '${shards[s]!.port}', dbname '${databaseOf(url)}', fetch_size '10000')`,
      `CREATE USER MAPPING FOR veilbox_reader SERVER shard${s} OPTIONS (user 'shard_reader', password_required 'false')`,
      `CREATE USER MAPPING FOR postgres SERVER shard${s} OPTIONS (user 'shard_reader')`,
      `CREATE FOREIGN TABLE households_s${s} PARTITION OF households FOR VALUES IN (${s}) SERVER shard${s} OPTIONS (table_name 'households_part', use_remote_estimate 'true')`,
    ]),
    'GRANT SELECT ON households TO veilbox_reader',
    `CREATE TABLE households_single (${COLUMNS})`,
    `COPY households_single FROM '${all}' WITH (FORMAT csv, HEADER true)`,
    'ANALYZE households_single',
    'GRANT SELECT ON households_single TO veilbox_reader',
  ])
  const reader = coord.replace('postgres://postgres@', 'postgres://veilbox_reader@')
  const source = new PostgresSource({ name: 'bureau', url: reader, poolSize: 2 })
  t.teardown(() => source.close())

  const spec: DatasetSpec = sourcedDemoSpec('bureau')
  const sharded: SourceRelation = {
    from: { kind: 'table', name: 'public.households' },
    filter: null,
    rowOrder: ['household_id'],
    unitBounded: true,
    shardKey: 'shard',
  }
  const single: SourceRelation = { ...sharded, from: { kind: 'table', name: 'public.households_single' } }
  const windowed: SourceRelation = { ...sharded, unitBounded: false }
  const data: SourcedData = {
    spec,
    rows: rows.map((r) => ({ ...r })),
    tableRows: [],
    snapshot: 0,
    columns: [],
  }
  const embedded = embeddedColumns(data)

  const r = rng(0x5a4d)
  const fixed = [
    `SELECT district, COUNT(*), AVG(income) FROM ${spec.id} GROUP BY district`,
    `SELECT insured, SUM(medical_spending), MEDIAN(age), VAR(income) FROM ${spec.id} WHERE household_size BETWEEN 2 AND 6 GROUP BY insured`,
  ]
  const tasks = [
    ...fixed.map((q) => ({ dataset: spec.id, version: 1, ...plan(spec, q).exec })),
    ...Array.from({ length: 25 }, () => randomSqlTask(r, spec).task),
  ]
  let compared = 0
  for (const task of tasks) {
    const expected = plain(aggregateTask(tsKernel, task, embedded).result)
    for (const [name, relation] of [
      ['sharded', sharded],
      ['single server', single],
      ['sharded, bounded by a window', windowed],
    ] as const) {
      const s = compileTask(task, spec, relation, postgres)
      const got = s.decode(await source.run(s.sql, s.params, { timeoutMs: 60_000 }))
      if (plain(got.result) !== expected) {
        t.equal(plain(got.result), expected, `${name}: ${JSON.stringify(task)}`)
        return
      }
      t.equal(got.rows, ROWS, `${name}: every row counted once`)
      compared += 1
    }
  }
  t.pass(
    `${tasks.length} queries: identical from the sharded source, one server and the embedded engine (${compared} compared)`,
  )

  // EXPLAIN: each shard receives the aggregate, not a row fetch.
  const c = new pg.Client({ connectionString: reader })
  await c.connect()
  try {
    for (const task of tasks.slice(0, 2)) {
      const s = compileTask(task, spec, sharded, postgres)
      const values = s.params.map((p) => (typeof p === 'object' ? [...p.list] : p))
      const explain = await c.query({ text: `EXPLAIN (VERBOSE, FORMAT JSON) ${s.sql}`, values })
      const nodes: { 'Node Type': string; 'Relation Name'?: string; 'Remote SQL'?: string; Plans?: unknown[] }[] = []
      const walk = (n: (typeof nodes)[number]): void => {
        nodes.push(n)
        for (const child of (n.Plans ?? []) as (typeof nodes)[number][]) walk(child)
      }
      walk((explain.rows[0] as { 'QUERY PLAN': { Plan: (typeof nodes)[number] }[] })['QUERY PLAN'][0]!.Plan)
      const remote = nodes.filter((n) => n['Node Type'] === 'Foreign Scan').map((n) => n['Remote SQL'] ?? '')
      t.equal(remote.length, SHARDS, 'one foreign scan per shard')
      for (const [i, text] of remote.entries()) {
        t.match(text, /GROUP BY/, `shard ${i} groups its own rows: ${text.slice(0, 160)}`)
        t.match(text, /count\(\*\) FILTER/, `shard ${i} computes the counts`)
        t.match(text, /sum\(/, `shard ${i} computes the sums`)
      }
    }
  } finally {
    await c.end()
  }
})
