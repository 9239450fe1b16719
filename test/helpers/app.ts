import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { buildApp } from '../../src/api/app.js'
import { loadConfig, type Config } from '../../src/config/index.js'
import { createKey, SYSTEM_ACTOR } from '../../src/store/keys.js'

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

/** An app on a fresh data directory with one key per role; closed in teardown. */
export async function testApp(
  t: { teardown(fn: () => unknown): void },
  overrides: Partial<Config> = {},
): Promise<TestApp> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'veilbox-test-'))
  const config = loadConfig({}, { dataDir, logLevel: 'silent', ...overrides })
  const app = await buildApp({ config, logger: false })
  t.teardown(async () => {
    await app.close()
    fs.rmSync(dataDir, { recursive: true, force: true })
  })
  await app.ready()
  const keys = {
    operator: createKey(app.db, { name: 'olga', role: 'operator' }, SYSTEM_ACTOR).key,
    analyst: createKey(app.db, { name: 'alice', role: 'analyst' }, SYSTEM_ACTOR).key,
    custodian: createKey(app.db, { name: 'carl', role: 'custodian' }, SYSTEM_ACTOR).key,
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
