/**
 * Sources benchmark: the statement veilbox pushes down for a query, against
 * the source engine running the bare aggregate (no contribution bound, no
 * clamp, no quantization, no snapshot checks) on the same rows, in the same
 * run; and the embedded engine on an upload of the same rows.
 *
 *   npm run bench:sources                      ROWS=10000000 (default)
 *   ROWS=200000 REPEAT=2 npm run bench:sources
 *   npm run bench:sources -- --smoke           200,000 rows, for CI
 *
 * Data: ROWS demo-shaped households, made deterministically by DuckDB
 * (hash of the row number), written once as Parquet and as CSV; the CSV is
 * COPYed into a PostgreSQL 15 of the benchmark's own (test/helpers/pg.ts)
 * and uploaded through veilbox's ingest into SQLite (the embedded engine).
 *
 * Queries (the issue's): GROUP BY district (7 groups) SUM(income) with a
 * WHERE, and AVG(income). For each engine: veilbox's statement for the
 * source declared unitBounded (one row per household, as the demo's
 * primary key guarantees: no window), the same statement with the
 * row_number() window that bounds contributions when the source is not
 * unitBounded, and the bare aggregate. The embedded engine runs the plan's
 * task through the sandbox pool over the uploaded version. Each time is
 * the median of REPEAT runs after one warm-up, including the round trip
 * from Node. Every statement's aggregates are checked against the embedded
 * engine's (identical, or the benchmark fails).
 *
 * Goal: veilbox's statement at most 1.5x the bare aggregate in the same
 * engine. Writes benchmarks/results/sources.json.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import pg from 'pg'
import { DEMO_SPEC, DISTRICT_NAMES } from '../src/demo/binzhou.js'
import type { ExecTask } from '../src/engine/exec/task.js'
import type { AggregateResult } from '../src/engine/exec/types.js'
import { ColumnCache } from '../src/engine/exec/column-cache.js'
import { loadKernel } from '../src/engine/exec/loader.js'
import { parse } from '../src/engine/dp/budget.js'
import { planQuery } from '../src/engine/plan/index.js'
import { compileTask, type SourceRelation } from '../src/engine/pushdown/compile.js'
import { dialectFor } from '../src/engine/pushdown/dialect.js'
import { bindQuery, parseQuery } from '../src/engine/query/index.js'
import { ingest } from '../src/ingest/index.js'
import { SandboxPool } from '../src/sandbox/pool.js'
import type { DatasetSpec } from '../src/schema.js'
import { DuckDbSource, PostgresSource, type SourceEngine } from '../src/sources/index.js'
import { createDataset } from '../src/store/datasets.js'
import { openStore } from '../src/store/db.js'
import { SYSTEM_ACTOR } from '../src/store/keys.js'
import { startPostgres } from '../test/helpers/pg.js'
import { envInt, machine, table, writeResult } from './lib.js'

const SMOKE = process.argv.includes('--smoke') || process.env.SMOKE === '1'
const ROWS = envInt('ROWS', SMOKE ? 200_000 : 10_000_000)
const REPEAT = envInt('REPEAT', SMOKE ? 1 : 3)
const GOAL = 1.5

const SPEC: DatasetSpec = { ...DEMO_SPEC, id: 'households' }
const QUERIES = [
  {
    name: 'GROUP BY 7 SUM + WHERE',
    sql: 'SELECT district, SUM(income) FROM households WHERE age >= 40 GROUP BY district',
    bare: 'SELECT district, sum(income) FROM households_src WHERE age >= 40 GROUP BY district',
  },
  {
    name: 'AVG',
    sql: 'SELECT AVG(income) FROM households',
    bare: 'SELECT avg(income) FROM households_src',
  },
]

function plain(r: AggregateResult): string {
  return JSON.stringify({ count: [...r.count], measures: r.measures }, (_, v) =>
    typeof v === 'bigint' ? v.toString() : ArrayBuffer.isView(v) ? [...(v as Float64Array)] : v,
  )
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  await fn()
  const times: number[] = []
  for (let i = 0; i < REPEAT; i++) {
    const t0 = performance.now()
    await fn()
    times.push(performance.now() - t0)
  }
  return Math.round(median(times) * 10) / 10
}

function log(s: string): void {
  process.stderr.write(`${s}\n`)
}

/** The rows, made by DuckDB from the row number alone: Parquet and CSV of the same table. */
async function makeData(dir: string): Promise<{ parquet: string; csv: string }> {
  const parquet = path.join(dir, 'households.parquet')
  const csv = path.join(dir, 'households.csv')
  const instance = await DuckDBInstance.create(':memory:')
  const c = await instance.connect()
  const districts = `[${DISTRICT_NAMES.map((d) => `'${d}'`).join(', ')}]`
  await c.run(`CREATE TABLE h AS SELECT
      'BZ' || lpad(CAST(i AS VARCHAR), 9, '0') AS household_id,
      ${districts}[CAST(1 + hash(i, 1) % 7 AS INTEGER)] AS district,
      hash(i, 2) % 10 < 7 AS insured,
      CAST(18 + hash(i, 3) % 83 AS INTEGER) AS age,
      CAST(1 + hash(i, 4) % 8 AS INTEGER) AS household_size,
      CAST(hash(i, 5) % 100000000 AS DOUBLE) / 100 AS income,
      CAST(hash(i, 6) % 20000000 AS DOUBLE) / 100 AS medical_spending
    FROM range(${ROWS}) t(i)`)
  await c.run(`CREATE TABLE households AS SELECT household_id, district, insured,
      CASE WHEN age < 30 THEN '18-29' WHEN age < 45 THEN '30-44' WHEN age < 60 THEN '45-59' WHEN age < 75 THEN '60-74' ELSE '75+' END AS age_band,
      age, household_size, income, medical_spending FROM h`)
  await c.run(`COPY households TO '${parquet}' (FORMAT parquet)`)
  await c.run(`COPY households TO '${csv}' (HEADER, DELIMITER ',')`)
  c.closeSync()
  instance.closeSync()
  return { parquet, csv }
}

interface Case {
  engine: string
  query: string
  veilboxMs: number
  veilboxWindowMs: number
  bareMs: number
  ratio: number
  windowRatio: number
  metGoal: boolean
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'veilbox-bench-sources-'))
  fs.chmodSync(dir, 0o755)
  const teardowns: (() => unknown)[] = []
  try {
    log(`${ROWS.toLocaleString()} rows: generating (DuckDB)...`)
    const t0 = performance.now()
    const { parquet, csv } = await makeData(dir)
    fs.chmodSync(csv, 0o644)
    log(`  ${Math.round(performance.now() - t0)} ms; PostgreSQL: COPY...`)
    const cluster = await startPostgres({ teardown: (fn) => teardowns.push(fn) })
    const url = await cluster.createDatabase('bench')
    const admin = new pg.Client({ connectionString: url })
    await admin.connect()
    await admin.query(`CREATE TABLE households_src (household_id text, district text, insured boolean, age_band text,
      age integer, household_size integer, income double precision, medical_spending double precision)`)
    const t1 = performance.now()
    await admin.query(`COPY households_src FROM '${csv}' WITH (FORMAT csv, HEADER true)`)
    await admin.query('VACUUM ANALYZE households_src')
    await admin.end()
    log(`  ${Math.round(performance.now() - t1)} ms; the embedded engine: ingest...`)

    const store = await openStore({ dataDir: path.join(dir, 'store') })
    teardowns.push(() => store.close())
    await createDataset(store, SPEC, SYSTEM_ACTOR)
    const t2 = performance.now()
    const { version } = await ingest(store, SPEC.id, 'text/csv', fs.createReadStream(csv), SYSTEM_ACTOR)
    const ingestMs = Math.round(performance.now() - t2)
    log(`  ${ingestMs} ms`)
    const cache = new ColumnCache(store, 8 * 1024 * 1024 * 1024)
    const native = loadKernel({ native: true }).kernel.name === 'native'
    const pool = new SandboxPool(
      cache,
      { workers: 1, queueMax: 4, timeoutMs: 600_000, maxCells: Number.MAX_SAFE_INTEGER, heapMb: 512, native },
      native ? 'native' : 'ts',
    )
    teardowns.push(() => pool.close())

    const pgSource = new PostgresSource({ name: 'bench', url, poolSize: 1 })
    const duck = new DuckDbSource({ root: dir, threads: os.availableParallelism(), memoryLimitMb: 4096 })
    teardowns.push(
      () => pgSource.close(),
      () => duck.close(),
    )
    const engines: { name: string; engine: SourceEngine; from: SourceRelation['from']; bareFrom: string }[] = [
      {
        name: 'postgres',
        engine: pgSource,
        from: { kind: 'table', name: 'public.households_src' },
        bareFrom: 'households_src',
      },
      {
        name: 'duckdb (parquet)',
        engine: duck,
        from: { kind: 'parquet', files: [parquet] },
        bareFrom: `read_parquet('${parquet}')`,
      },
    ]
    const cases: Case[] = []
    const embedded: { query: string; ms: number; kernel: string }[] = []
    for (const q of QUERIES) {
      const planned = planQuery(bindQuery(parseQuery(q.sql), SPEC), {
        mechanism: 'laplace',
        confidence: 0.95,
        epsilon: parse('epsilon', 1, 'up'),
        delta: 0n as never,
      })
      const task: ExecTask = { dataset: SPEC.id, version, ...planned.exec }
      log(`${q.name}: embedded...`)
      embedded.push({ query: q.name, ms: await timeIt(() => pool.execute(task)), kernel: native ? 'native' : 'ts' })
      const exact = plain(await pool.execute(task))
      for (const e of engines) {
        const relation = (unitBounded: boolean): SourceRelation => ({
          from: e.from,
          filter: null,
          rowOrder: ['household_id'],
          unitBounded,
        })
        const run = (s: { sql: string; params: readonly unknown[] }) => () =>
          e.engine.run(s.sql, s.params as never, { timeoutMs: 3_600_000 })
        const statement = compileTask(task, SPEC, relation(true), dialectFor(e.engine.dialect))
        const windowed = compileTask(task, SPEC, relation(false), dialectFor(e.engine.dialect))
        log(`${q.name}: ${e.name}...`)
        const bareMs = await timeIt(run({ sql: q.bare.replace('households_src', e.bareFrom), params: [] }))
        const veilboxMs = await timeIt(run(statement))
        const veilboxWindowMs = await timeIt(run(windowed))
        // The statements' aggregates must be the embedded engine's, bit for bit: a benchmark of wrong answers is no benchmark.
        for (const s of [statement, windowed]) {
          const got = s.decode((await run(s)()) as unknown[][])
          if (plain(got.result) !== exact || got.rows !== ROWS || got.violations !== 0)
            throw new Error(`${e.name}, ${q.name}: the statement's aggregates differ from the embedded engine's`)
        }
        const ratio = Math.round((veilboxMs / bareMs) * 100) / 100
        cases.push({
          engine: e.name,
          query: q.name,
          veilboxMs,
          veilboxWindowMs,
          bareMs,
          ratio,
          windowRatio: Math.round((veilboxWindowMs / bareMs) * 100) / 100,
          metGoal: ratio <= GOAL,
        })
      }
    }
    const result = {
      machine: machine(),
      rows: ROWS,
      repeat: REPEAT,
      goal: `veilbox's statement (unitBounded source) <= ${GOAL}x the bare aggregate in the same engine`,
      embeddedIngestMs: ingestMs,
      cases,
      embedded,
    }
    process.stdout.write(
      `${table(
        cases.map((c) => ({
          engine: c.engine,
          query: c.query,
          'bare ms': c.bareMs,
          'veilbox ms': c.veilboxMs,
          ratio: c.ratio,
          'with window ms': c.veilboxWindowMs,
          'window ratio': c.windowRatio,
        })),
      )}\n`,
    )
    process.stdout.write(
      `${table(embedded.map((e) => ({ 'embedded engine': e.query, ms: e.ms, kernel: e.kernel })))}\n`,
    )
    log(`wrote ${writeResult('sources', result)}`)
  } finally {
    for (const fn of teardowns.reverse()) await fn()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

await main()
