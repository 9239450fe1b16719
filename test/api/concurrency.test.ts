import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { startServerProcess } from '../../benchmarks/lib.js'
import { DEMO_SPEC, demoCsv } from '../../src/demo/binzhou.js'
import { setDatasetBudget } from '../../src/store/budgets.js'
import { createDataset } from '../../src/store/datasets.js'
import { openDb } from '../../src/store/db.js'
import { guardedCharge } from '../../src/store/ledger.js'
import { createGrant, getGrant } from '../../src/store/grants.js'
import { ingest } from '../../src/ingest/index.js'
import { createKey, SYSTEM_ACTOR } from '../../src/store/keys.js'
import { queryApp, tempDir } from '../helpers/app.js'

const sqlFor = (i: number) => `SELECT COUNT(*) FROM binzhou_households WHERE age >= ${20 + i}`

t.test('with 0.9 left, 20 parallel queries at 0.1: exactly 9 succeed and exactly 1.0 is spent', async (t) => {
  const qa = await queryApp(t, { grantEpsilon: 1 })
  const first = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: 'SELECT COUNT(*) FROM binzhou_households', grant: qa.grant, epsilon: 0.1 },
  })
  t.equal(first.statusCode, 200)
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      qa.call('analyst', {
        method: 'POST',
        url: '/v1/queries',
        payload: { sql: sqlFor(i), grant: qa.grant, epsilon: 0.1 },
      }),
    ),
  )
  const ok = results.filter((r) => r.statusCode === 200)
  const refused = results.filter((r) => r.statusCode !== 200)
  t.equal(ok.length, 9)
  t.equal(refused.length, 11)
  for (const r of refused) t.equal(r.json().code, 'VEILBOX_ERR_BUDGET_EXHAUSTED')
  const grant = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${qa.grant}` })).json()
  t.same(grant.budget.epsilon, { total: 1, spent: 1, remaining: 0 })
  t.equal(await qa.app.db.value<number>('SELECT COUNT(*) FROM answers'), 10)
})

// The two tests below are SQLite's by construction, whatever VEILBOX_TEST_STORE says: servers started on one
// data directory (openDb, the lock file) and a second process writing that SQLite file. Nodes sharing one
// PostgreSQL database are test/cluster's.
t.test(
  'finding 12: a second server on one data directory refuses to start; a server and another process writing the database never overspend',
  async (t) => {
    const dir = tempDir(t)
    const db = openDb(dir)
    await createDataset(db, DEMO_SPEC, SYSTEM_ACTOR)
    await ingest(db, DEMO_SPEC.id, 'text/csv', demoCsv(2000), SYSTEM_ACTOR)
    await setDatasetBudget(db, DEMO_SPEC.id, { epsilon: 100_000_000n, delta: 0n }, SYSTEM_ACTOR, {
      epsilon: '100',
      delta: '0',
    })
    const key = (await createKey(db, { name: 'alice', role: 'analyst' }, SYSTEM_ACTOR)).key
    const grant = await createGrant(
      db,
      {
        analyst: 'alice',
        dataset: DEMO_SPEC.id,
        purpose: 'two processes',
        columns: null,
        aggregates: null,
        epsilonTotal: 1_000_000n,
        deltaTotal: 0n,
        expiresAt: new Date(Date.now() + 3600_000).toISOString(),
      },
      SYSTEM_ACTOR,
      { epsilon: '1', delta: '0' },
    )
    await db.close()
    const a = await startServerProcess({ dataDir: dir })
    t.teardown(() => a.stop())
    // The second server on the same directory: refused before it touches anything.
    await t.rejects(
      startServerProcess({ dataDir: dir }),
      /in use by another veilbox server/,
      'the second start fails with the reason',
    )
    // Two processes writing one database: the server answering, and another connection (this test
    // process) charging the same grant with the same guarded statement. The total never passes 1.0.
    const other = openDb(dir)
    t.teardown(() => other.close())
    let charged = 0n
    const charger = (async () => {
      for (let i = 0; i < 40; i++) {
        const ok = await other.transaction((tx) =>
          guardedCharge(tx, 'grants', grant.id, { epsilon: 50_000n, delta: 0n, rho: 0n, rhoBefore: 0n }),
        )
        if (ok) charged += 50_000n
        await new Promise((r) => setTimeout(r, 5))
      }
    })()
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        fetch(new URL('/v1/queries', a.url), {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ sql: sqlFor(i), grant: grant.id, epsilon: 0.1 }),
        }).then(async (r) => ({ status: r.status, body: (await r.json()) as { code?: string } })),
      ),
    )
    await charger
    const answered = results.filter((r) => r.status === 200).length
    for (const r of results.filter((x) => x.status !== 200)) t.equal(r.body.code, 'VEILBOX_ERR_BUDGET_EXHAUSTED')
    const spent = (await getGrant(other, grant.id)).ledger.epsilonSpent
    t.equal(spent, BigInt(answered) * 100_000n + charged, "the ledger is exactly the sum of both processes' charges")
    t.ok(spent <= 1_000_000n, `never more than 1.0 (${spent} micro-units)`)
    t.ok(spent > 1_000_000n - 100_000n, 'and the budget was used up')
    t.equal(await other.value<number>('SELECT COUNT(*) FROM answers'), answered)
    t.ok(fs.existsSync(path.join(dir, 'veilbox.lock')))
  },
)

t.test(
  'finding 12: two simultaneous fresh starts with the demo: one serves, the other refuses, each demo dataset exists once',
  async (t) => {
    const dir = tempDir(t)
    const started = await Promise.allSettled([
      startServerProcess({ dataDir: dir, demo: true }),
      startServerProcess({ dataDir: dir, demo: true }),
    ])
    const up = started.filter(
      (s): s is PromiseFulfilledResult<Awaited<ReturnType<typeof startServerProcess>>> => s.status === 'fulfilled',
    )
    for (const s of up) t.teardown(() => s.value.stop())
    t.equal(up.length, 1, 'exactly one server runs')
    const refused = started.find((s): s is PromiseRejectedResult => s.status === 'rejected')
    t.match(String(refused?.reason), /in use by another veilbox server/)
    const db = openDb(dir)
    t.teardown(() => db.close())
    const ids = (await db.rows('SELECT id FROM datasets ORDER BY id')).map((r) => r[0])
    t.same(ids, ['binzhou_claims', 'binzhou_district_regions', 'binzhou_households', 'binzhou_subsidies'])
    t.same(
      await db.all('SELECT dataset_id, COUNT(*) AS n FROM dataset_versions GROUP BY dataset_id ORDER BY dataset_id'),
      [
        { dataset_id: 'binzhou_claims', n: 1 },
        { dataset_id: 'binzhou_district_regions', n: 1 },
        { dataset_id: 'binzhou_households', n: 1 },
        { dataset_id: 'binzhou_subsidies', n: 1 },
      ],
    )
  },
)
