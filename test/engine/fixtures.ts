/**
 * Shared helpers for the engine-level tests (sensitivity, coverage, planner):
 * a seeded generator for test data, a temporary store, and the path a query
 * takes through the engine (parse, bind, plan, exact aggregates, release).
 * The generator makes data only; privacy noise always comes from node:crypto.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'

import { tsKernel } from '../../src/engine/exec/kernel.js'
import { aggregateTask, type TaskColumns } from '../../src/engine/exec/task.js'
import type { AggregateResult } from '../../src/engine/exec/types.js'
import { bindQuery, parseQuery, type BoundQuery } from '../../src/engine/query/index.js'
import { parse, type Delta, type Epsilon } from '../../src/engine/dp/budget.js'
import { planQuery, type Plan, type PlanOptions } from '../../src/engine/plan/index.js'
import { datasetSpecSchema, type DatasetSpec } from '../../src/schema.js'
import { createDataset, findDataset } from '../../src/store/datasets.js'
import { openStore, type Store } from '../../src/store/db.js'
import { ingest } from '../../src/ingest/index.js'
import { SYSTEM_ACTOR } from '../../src/store/keys.js'
import { mulberry32 } from '../../src/engine/mulberry32.js'
import { releaseTable, type DecryptedMeasure, type ReleasedTable } from '../../src/engine/release/answer.js'
import { TEST_STORE, testDatabaseUrl } from '../helpers/app.js'

/** Test data only (mulberry32). */
export const seeded = mulberry32

export type Rand = () => number

/** An integer in [0, n). */
export function below(r: Rand, n: number): number {
  return Math.floor(r() * n)
}

export function choose<T>(r: Rand, items: readonly T[]): T {
  return items[below(r, items.length)]!
}

/** Fisher-Yates, in place. */
export function shuffle<T>(r: Rand, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = below(r, i + 1)
    const x = items[i]!
    items[i] = items[j]!
    items[j] = x
  }
  return items
}

export function spec(raw: unknown): DatasetSpec {
  return datasetSpecSchema.parse(raw)
}

/**
 * A fresh store, closed and removed in teardown: SQLite in a temporary
 * directory, or with VEILBOX_TEST_STORE=postgres a fresh PostgreSQL database.
 */
export async function tempDb(t: { teardown(fn: () => unknown): void }): Promise<Store> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'veilbox-engine-'))
  const db = await openStore({ dataDir: dir, databaseUrl: TEST_STORE === 'postgres' ? await testDatabaseUrl() : null })
  t.teardown(async () => {
    await db.close()
    fs.rmSync(dir, { recursive: true, force: true })
  })
  return db
}

/** Registers the dataset (once) and ingests `csv` as its next version. */
export async function ingestCsv(db: Store, ds: DatasetSpec, csv: string | Readable): Promise<number> {
  if ((await findDataset(db, ds.id)) === null) await createDataset(db, ds, SYSTEM_ACTOR)
  const input = typeof csv === 'string' ? Readable.from([csv]) : csv
  const { version } = await ingest(db, ds.id, 'text/csv', input, SYSTEM_ACTOR)
  return version
}

export function bound(ds: DatasetSpec, sql: string): BoundQuery {
  return bindQuery(parseQuery(sql), ds)
}

/**
 * Plan options for tests: epsilon and delta as a request's numbers, read as
 * the query pipeline reads them (budget.parse, rounded up; a delta of 0 is
 * none), or as units already.
 */
export interface TestPlanOptions extends Omit<Partial<PlanOptions>, 'epsilon' | 'delta'> {
  readonly epsilon?: number | Epsilon
  readonly delta?: number | Delta
}

/** Complete plan options: laplace, epsilon 1, delta 1e-6, confidence 0.95 unless given. */
export function planOptions(options: TestPlanOptions = {}): PlanOptions {
  const { epsilon = 1, delta = 1e-6, ...rest } = options
  return {
    mechanism: 'laplace',
    confidence: 0.95,
    ...rest,
    epsilon: typeof epsilon === 'bigint' ? epsilon : parse('epsilon', epsilon, 'up'),
    delta: typeof delta === 'bigint' ? delta : parse('delta', delta, 'up', { zero: true }),
  }
}

export function plan(ds: DatasetSpec, sql: string, options: TestPlanOptions = {}): Plan {
  return planQuery(bound(ds, sql), planOptions(options))
}

/**
 * The release step as the query pipeline runs it: the plan's noise reserved
 * (src/engine/queries.ts does it while the sandbox computes), the table
 * released through it, and the reservation ended whatever happens.
 */
export async function releaseOf(
  p: Plan,
  exact: AggregateResult,
  decrypted?: readonly DecryptedMeasure[],
): Promise<ReleasedTable> {
  const noise = await p.reserveNoise()
  try {
    return await releaseTable(p, exact, noise, decrypted)
  } finally {
    noise.end()
  }
}

/** The exact aggregates of a plan over loaded (or hand-built) columns, as the sandbox computes them. */
export function exactOf(p: Plan, src: TaskColumns): AggregateResult {
  return aggregateTask(tsKernel, { dataset: p.bound.dataset.id, version: 1, ...p.exec }, src).result
}

/**
 * The contribution bound as the column cache applies it: the first m rows of
 * each unit in row order are kept. Written independently of column-cache.ts.
 */
export function keepFirst(units: readonly string[], m: number): Uint8Array {
  const seen = new Map<string, number>()
  const keep = new Uint8Array(units.length)
  units.forEach((u, i) => {
    const n = seen.get(u) ?? 0
    if (n < m) keep[i] = 1
    seen.set(u, n + 1)
  })
  return keep
}
