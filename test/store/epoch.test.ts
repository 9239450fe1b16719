import t from 'tap'
import { bootstrap } from '../../src/demo/bootstrap.js'
import { DEMO_SPEC } from '../../src/demo/binzhou.js'
import { openStore } from '../../src/store/db.js'
import { catalogEpoch, EpochMemo } from '../../src/store/epoch.js'
import { createGrant, revokeGrant } from '../../src/store/grants.js'
import { guardedCharge } from '../../src/store/ledger.js'
import { guardedSpend, putSetting } from '../../src/store/market.js'
import { storeOverrides, tempDir } from '../helpers/app.js'

// What nodes keep of the catalog is kept while this counter stays: every change to what they keep must move it,
// on either backend, and a charge (on every answer) must not.
t.test('the catalog epoch moves with the catalog, and not with spending', async (t) => {
  const dir = tempDir(t)
  const db = await openStore({ dataDir: dir, databaseUrl: (await storeOverrides()).databaseUrl ?? null })
  t.teardown(() => db.close())
  await bootstrap(db, dir, { demo: true })
  const actor = { principal: 'op', role: 'operator' }
  let last = await catalogEpoch(db)
  const moved = async (what: string, change: () => Promise<unknown>, expected = true) => {
    await change()
    const now = await catalogEpoch(db)
    if (expected) t.ok(now > last, `${what} moves the epoch (${last} -> ${now})`)
    else t.equal(now, last, `${what} leaves the epoch`)
    last = now
  }
  let grant = ''
  await moved('a new grant', async () => {
    grant = (
      await createGrant(
        db,
        {
          analyst: 'demo-analyst',
          dataset: DEMO_SPEC.id,
          purpose: 'epoch',
          columns: null,
          aggregates: null,
          epsilonTotal: 2_000_000n,
          deltaTotal: 0n,
          expiresAt: '2099-01-01T00:00:00.000Z',
        },
        actor,
        { epsilon: '2', delta: '0' },
      )
    ).id
  })
  await moved(
    'a privacy charge',
    () => guardedCharge(db, 'grants', grant, { epsilon: 1_000n, delta: 0n, rho: 0n, rhoBefore: 0n }),
    false,
  )
  await moved('a money charge', () => guardedSpend(db, grant, 0n), false)
  await moved('a revocation', () => revokeGrant(db, grant, actor))
  await moved('a setting', () => putSetting(db, 'epoch-test', '1', actor, { action: 'test.setting', detail: {} }))
  await moved('a listing change', () => db.run('UPDATE datasets SET listed = 1 WHERE id = $1', [DEMO_SPEC.id]))
  await moved('a version row', () =>
    db.run('UPDATE dataset_versions SET created_by = created_by WHERE dataset_id = $1', [DEMO_SPEC.id]),
  )
  await moved('a principal', () => db.run("UPDATE principals SET name = name WHERE name = 'demo-analyst'"))
})

t.test('an epoch memo keeps a value while the epoch stays, and never a failed load', async (t) => {
  const memo = new EpochMemo<number>(2)
  let loads = 0
  const load = () => Promise.resolve(++loads)
  t.equal(await memo.get(1, 'a', load), 1)
  t.equal(await memo.get(1, 'a', load), 1, 'kept')
  t.equal(await memo.get(2, 'a', load), 2, 'a new epoch reads again')
  t.equal(await memo.get(1, 'a', load), 3, 'an older epoch is never served from, nor kept')
  t.equal(await memo.get(2, 'a', load), 2, 'the newer value stays')
  await t.rejects(memo.get(2, 'b', () => Promise.reject(new Error('no'))))
  t.equal(await memo.get(2, 'b', load), 4, 'a failed load is not kept')
})
