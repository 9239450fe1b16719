import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { buildApp } from '../../src/api/app.js'
import { loadConfig, type Config } from '../../src/config/index.js'
import tap from 'tap'
import { verifyChain } from '../../src/store/audit.js'
import { createKey, SYSTEM_ACTOR } from '../../src/store/keys.js'
import { startPostgres, type PgCluster } from './pg.js'

export interface TestApp {
  readonly app: FastifyInstance
  readonly dataDir: string
  readonly config: Config
  readonly keys: { operator: string; analyst: string; custodian: string }
  /** app.inject with the key of a role (or none). */
  call(as: 'operator' | 'analyst' | 'custodian' | null, opts: InjectOptions): Promise<LightMyRequestResponse>
}

export function tempDir(t: { teardown(fn: () => void): void }, prefix = 'veilbox-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/**
 * Which store the test apps use: SQLite in their data directory (the
 * default), or with VEILBOX_TEST_STORE=postgres a database of their own in a
 * real PostgreSQL this test process starts (test/helpers/pg.ts): the same
 * suite runs on both (.ci/run runs the matrix).
 */
export const TEST_STORE: 'sqlite' | 'postgres' = process.env.VEILBOX_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite'

let cluster: Promise<PgCluster> | null = null

/** A fresh PostgreSQL database in this process's cluster (started on first use, stopped when the process's tests end). */
export function testDatabaseUrl(): Promise<string> {
  cluster ??= startPostgres(tap)
  return cluster.then((c) => c.createDatabase('vb'))
}

/** What a test app's configuration adds for the store under test. */
export async function storeOverrides(): Promise<Partial<Config>> {
  if (TEST_STORE === 'sqlite') return {}
  return {
    databaseUrl: await testDatabaseUrl(),
    secret: 'test-sealing-secret-of-at-least-32-characters',
    databasePoolSize: 4,
  }
}

/** An app on a fresh data directory with one key per role; closed in teardown. */
export async function testApp(
  t: { teardown(fn: () => unknown): void },
  overrides: Partial<Config> = {},
  sandboxWorker?: string,
  now?: () => Date,
): Promise<TestApp> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'veilbox-test-'))
  // One sandbox worker: booting workers under tsx dominates the cost of a test app.
  const config = loadConfig({}, { dataDir, logLevel: 'silent', workers: 1, ...(await storeOverrides()), ...overrides })
  const app = await buildApp({
    config,
    logger: false,
    ...(sandboxWorker ? { sandboxWorker } : {}),
    ...(now ? { now } : {}),
  })
  t.teardown(async () => {
    // Whatever a test did, the audit chain it leaves must verify.
    const chain = await verifyChain(app.db)
    await app.close()
    fs.rmSync(dataDir, { recursive: true, force: true })
    if (!chain.ok) throw new Error(`the audit chain is broken at record ${chain.badSeq}: ${chain.problem}`)
  })
  await app.ready()
  const keys = {
    operator: (await createKey(app.db, { name: 'olga', role: 'operator' }, SYSTEM_ACTOR)).key,
    analyst: (await createKey(app.db, { name: 'alice', role: 'analyst' }, SYSTEM_ACTOR)).key,
    custodian: (await createKey(app.db, { name: 'carl', role: 'custodian' }, SYSTEM_ACTOR)).key,
  }
  const call = (as: keyof typeof keys | null, opts: InjectOptions) =>
    app.inject({
      ...opts,
      headers: { ...(opts.headers ?? {}), ...(as ? { authorization: `Bearer ${keys[as]}` } : {}) },
    })
  return { app, dataDir, config, keys, call }
}

/** A small dataset spec used across tests. */
export const PEOPLE_SPEC = {
  id: 'people',
  title: 'People',
  classification: 'internal',
  privacyUnit: 'pid',
  maxRowsPerUnit: 2,
  columns: [
    { name: 'pid', type: 'id', protection: 'public' },
    { name: 'city', type: 'category', protection: 'public', categories: ['north', 'south'] },
    { name: 'member', type: 'boolean', protection: 'public' },
    { name: 'age', type: 'integer', protection: 'dp', lower: 0, upper: 120 },
    { name: 'income', type: 'number', protection: 'dp', lower: 0, upper: 500000, nullable: true },
  ],
} as const

export function peopleCsv(rows: number, bad?: { row: number; cell: string; value: string }): string {
  const header = 'pid,city,member,age,income\n'
  let body = ''
  for (let i = 1; i <= rows; i++) {
    const cells: Record<string, string> = {
      pid: `p${Math.ceil(i / 2)}`,
      city: i % 3 === 0 ? 'south' : 'north',
      member: i % 2 === 0 ? 'true' : 'false',
      age: String(20 + (i % 60)),
      income: i % 10 === 0 ? '' : String(1000 * (i % 50) + 0.5),
    }
    if (bad && bad.row === i) cells[bad.cell] = bad.value
    body += `${cells.pid},${cells.city},${cells.member},${cells.age},${cells.income}\n`
  }
  return header + body
}

/** An app with a small demo dataset loaded, a dataset budget, and a grant for the analyst alice. */
export async function queryApp(
  t: { teardown(fn: () => unknown): void },
  options: {
    rows?: number
    datasetEpsilon?: number
    datasetDelta?: number
    grantEpsilon?: number
    grantDelta?: number
    overrides?: Partial<Config>
    sandboxWorker?: string
    /** The service's clock (budget windows); default: the system's. */
    now?: () => Date
  } = {},
): Promise<TestApp & { grant: string; dataset: string }> {
  const { DEMO_SPEC, demoCsv } = await import('../../src/demo/binzhou.js')
  const ta = await testApp(t, options.overrides ?? {}, options.sandboxWorker, options.now)
  const created = await ta.call('operator', { method: 'POST', url: '/v1/datasets', payload: DEMO_SPEC })
  if (created.statusCode !== 201) throw new Error(created.body)
  const chunks: Buffer[] = []
  for await (const c of demoCsv(options.rows ?? 3000)) chunks.push(Buffer.from(c as string))
  const up = await ta.call('operator', {
    method: 'POST',
    url: `/v1/datasets/${DEMO_SPEC.id}/versions`,
    headers: { 'content-type': 'text/csv' },
    payload: Buffer.concat(chunks),
  })
  if (up.statusCode !== 201) throw new Error(up.body)
  const budget = await ta.call('operator', {
    method: 'PUT',
    url: `/v1/datasets/${DEMO_SPEC.id}/budget`,
    payload: { epsilon: options.datasetEpsilon ?? 100, delta: options.datasetDelta ?? 1e-5 },
  })
  if (budget.statusCode !== 200) throw new Error(budget.body)
  const grant = await ta.call('operator', {
    method: 'POST',
    url: '/v1/grants',
    payload: {
      analyst: 'alice',
      dataset: DEMO_SPEC.id,
      purpose: 'test: household statistics',
      epsilon: options.grantEpsilon ?? 10,
      delta: options.grantDelta ?? 1e-6,
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    },
  })
  if (grant.statusCode !== 201) throw new Error(grant.body)
  return { ...ta, grant: grant.json().id as string, dataset: DEMO_SPEC.id }
}
