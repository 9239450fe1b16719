import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { startServerProcess } from '../../benchmarks/lib.js'
import { DEMO_SPEC, demoCsv } from '../../src/demo/binzhou.js'
import { setDatasetBudget } from '../../src/store/budgets.js'
import { createDataset } from '../../src/store/datasets.js'
import { openDb } from '../../src/store/db.js'
import { createGrant, getGrant } from '../../src/store/grants.js'
import { ingest } from '../../src/store/ingest/index.js'
import { createKey, SYSTEM_ACTOR } from '../../src/store/keys.js'
import { queryApp, tempDir } from '../helpers/app.js'

const sqlFor = (i: number) => `SELECT COUNT(*) FROM binzhou_households WHERE age >= ${20 + i}`

t.test('with 0.9 left, 20 parallel queries at 0.1: exactly 9 succeed and exactly 1.0 is spent', async (t) => {
  const qa = await queryApp(t, { grantEpsilon: 1 })
  const first = await qa.call('analyst', { method: 'POST', url: '/v1/queries', payload: { sql: 'SELECT COUNT(*) FROM binzhou_households', grant: qa.grant, epsilon: 0.1 } })
  t.equal(first.statusCode, 200)
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) => qa.call('analyst', { method: 'POST', url: '/v1/queries', payload: { sql: sqlFor(i), grant: qa.grant, epsilon: 0.1 } })),
  )
  const ok = results.filter((r) => r.statusCode === 200)
  const refused = results.filter((r) => r.statusCode !== 200)
  t.equal(ok.length, 9)
  t.equal(refused.length, 11)
  for (const r of refused) t.equal(r.json().code, 'VEILBOX_ERR_BUDGET_EXHAUSTED')
  const grant = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${qa.grant}` })).json()
  t.same(grant.budget.epsilon, { total: 1, spent: 1, remaining: 0 })
  t.equal(qa.app.db.prepare('SELECT COUNT(*) FROM answers').pluck().get(), 10)
})

t.test('two server processes on one database never overspend', async (t) => {
  const dir = tempDir(t)
  const db = openDb(dir)
  createDataset(db, DEMO_SPEC, SYSTEM_ACTOR)
  await ingest(db, DEMO_SPEC.id, 'text/csv', demoCsv(2000), SYSTEM_ACTOR)
  setDatasetBudget(db, DEMO_SPEC.id, { epsilonMicro: 100e6, deltaFemto: 0 }, SYSTEM_ACTOR, { epsilon: '100', delta: '0' })
  const key = createKey(db, { name: 'alice', role: 'analyst' }, SYSTEM_ACTOR).key
  const grant = createGrant(
    db,
    { analyst: 'alice', dataset: DEMO_SPEC.id, purpose: 'two processes', columns: null, aggregates: null, epsilonMicro: 1_000_000, deltaFemto: 0, expiresAt: new Date(Date.now() + 3600_000).toISOString() },
    SYSTEM_ACTOR,
    { epsilon: '1', delta: '0' },
  )
  db.close()
  const a = await startServerProcess({ dataDir: dir })
  t.teardown(() => a.stop())
  const b = await startServerProcess({ dataDir: dir })
  t.teardown(() => b.stop())
  const results = await Promise.all(
    Array.from({ length: 24 }, (_, i) =>
      fetch(new URL('/v1/queries', i % 2 === 0 ? a.url : b.url), {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ sql: sqlFor(i), grant: grant.id, epsilon: 0.1 }),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as { code?: string } })),
    ),
  )
  const ok = results.filter((r) => r.status === 200)
  t.equal(ok.length, 10, 'exactly ten answers fit in 1.0')
  for (const r of results.filter((x) => x.status !== 200)) t.equal(r.body.code, 'VEILBOX_ERR_BUDGET_EXHAUSTED')
  const check = openDb(dir)
  t.teardown(() => check.close())
  t.equal(getGrant(check, grant.id).ledger.epsilonSpent, 1_000_000, 'exactly 1.0 spent')
  t.equal(check.prepare('SELECT COUNT(*) FROM answers').pluck().get(), 10)
  t.ok(fs.existsSync(path.join(dir, 'veilbox.db')))
})
