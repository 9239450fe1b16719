import t from 'tap'
import { bootstrap } from '../../src/demo/bootstrap.js'
import { DEMO_SPEC } from '../../src/demo/binzhou.js'
import { openStore } from '../../src/store/db.js'
import { createGrant, getGrant, listGrants, revokeGrant } from '../../src/store/grants.js'
import { storeOverrides, tempDir } from '../helpers/app.js'

// findGrant reads a fixed column list as an array (it runs on every query); listGrants reads SELECT * as
// objects. Both must give the same record for a grant with every field set, or the list has drifted.
t.test('a grant read by id is the grant the full-row listing gives, every field set', async (t) => {
  const dir = tempDir(t)
  const db = await openStore({ dataDir: dir, databaseUrl: (await storeOverrides()).databaseUrl ?? null })
  t.teardown(() => db.close())
  await bootstrap(db, dir, { demo: true })
  const actor = { principal: 'op', role: 'operator' }
  const g = await createGrant(
    db,
    {
      analyst: 'demo-analyst',
      dataset: DEMO_SPEC.id,
      purpose: 'drift check',
      columns: ['district', 'income'],
      aggregates: ['count', 'sum'],
      epsilonTotal: 2_000_000n,
      deltaTotal: 1_000n,
      expiresAt: '2099-01-01T00:00:00.000Z',
    },
    actor,
    { epsilon: '2', delta: '1e-12' },
  )
  await db.run('UPDATE grants SET epsilon_spent = 123, delta_spent = 4, rho_spent = 5 WHERE id = $1', [g.id])
  await revokeGrant(db, g.id, actor)
  const byId = await getGrant(db, g.id)
  const listed = (await listGrants(db, { dataset: DEMO_SPEC.id })).find((x) => x.id === g.id)
  t.same(byId, listed)
  t.match(byId, {
    purpose: 'drift check',
    columns: ['district', 'income'],
    aggregates: ['count', 'sum'],
    expiresAt: '2099-01-01T00:00:00.000Z',
  })
  t.type(byId.revokedAt, 'string')
  t.match(byId.ledger, { epsilonTotal: 2_000_000, epsilonSpent: 123, deltaTotal: 1_000, deltaSpent: 4, rhoSpent: 5 })
})
