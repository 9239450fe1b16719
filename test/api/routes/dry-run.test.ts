import t from 'tap'
import { queryApp, type TestApp } from '../../helpers/app.js'

const SQL = 'SELECT district, COUNT(*), AVG(income) FROM binzhou_households GROUP BY district'

async function ledgers(ta: TestApp & { grant: string; dataset: string }): Promise<unknown[]> {
  const grant = await ta.call('operator', { method: 'GET', url: `/v1/grants/${ta.grant}` })
  const dataset = await ta.call('operator', { method: 'GET', url: `/v1/datasets/${ta.dataset}/budget` })
  return [grant.json().budget, grant.json().money, dataset.json()]
}

const records = (ta: TestApp, action: string) =>
  ta.app.db.value<number>('SELECT COUNT(*) FROM audit_log WHERE action = $1', [action])

t.test('a dry run charges nothing, is marked as dummy in every field, is audited and never stored', async (t) => {
  const ta = await queryApp(t, { rows: 2000 })
  const before = await ledgers(ta)
  const res = await ta.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: SQL, grant: ta.grant, epsilon: 0.5, dryRun: true },
  })
  t.equal(res.statusCode, 200, res.body)
  t.equal(res.headers['x-veilbox-dummy'], 'true')
  const dry = res.json()
  t.equal(dry.dummy, true)
  t.equal(dry.kind, 'dummy')
  t.match(dry.notice, /^DUMMY RESULT/)
  t.match(dry.dryRunId, /^dry_[0-9a-f]{24}$/)
  t.equal(dry.queryId, undefined, 'no query id')
  t.equal(dry.receipt, undefined, 'no receipt that could pass for a real one')
  t.equal(dry.price, undefined, 'no price')
  t.equal(dry.privacy.dummy, true)
  t.same(dry.privacy.charged, { grant: { epsilon: 0, delta: 0 }, dataset: { epsilon: 0, delta: 0 } })
  t.equal(dry.rows.length, 7, 'one row per declared district, as a real answer')
  t.ok(
    dry.rows.every((r: unknown[]) => r.every((c) => typeof c === 'object' && c !== null && 'dummy' in c)),
    'every value wrapped as dummy',
  )
  t.ok(
    dry.intervals.every((r: unknown[]) => r.every((c) => c === null || (typeof c === 'object' && 'dummy' in c))),
    'every interval wrapped as dummy',
  )
  t.same(await ledgers(ta), before, 'the grant, its money and the dataset budget are untouched')
  t.equal(await records(ta, 'query.dryrun'), 1, 'audited')
  t.equal(await records(ta, 'query.release'), 0, 'not a release')
  const listed = await ta.call('analyst', { method: 'GET', url: '/v1/queries' })
  t.same(listed.json().answers, [], 'not stored as an answer')

  // The real query afterwards is a fresh answer (the dry run cached nothing), and a dry run after it still dummy.
  const real = await ta.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: SQL, grant: ta.grant, epsilon: 0.5 },
  })
  t.equal(real.statusCode, 200)
  t.equal(real.json().cached, false)
  const again = await ta.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: SQL, grant: ta.grant, epsilon: 0.5, dryRun: true },
  })
  t.equal(again.json().dummy, true, 'a dry run never returns the stored answer')
  t.equal(again.json().receipt, undefined)
})

t.test('a dry run reads a dummy version of a fixed size, never the real one', async (t) => {
  const ta = await queryApp(t, { rows: 500 })
  const dry = (
    await ta.call('analyst', {
      method: 'POST',
      url: '/v1/queries',
      payload: { sql: 'SELECT COUNT(*) FROM binzhou_households', grant: ta.grant, epsilon: 1000, dryRun: true },
    })
  ).json()
  t.equal(dry.dummyRows, 1000, 'the dummy version has 1,000 rows (the real one 500)')
  t.same(dry.columns, ['count'])
  // Laplace noise of scale 1/1000: |noise| >= 1 has probability e^-1000.
  const count = dry.rows[0][0].dummy
  t.ok(Math.abs(count - 1000) < 1, `the count is the dummy rows', not the data's (${count})`)
})

t.test('a dry run is refused as a run would be: bad SQL, a grant that is not yours', async (t) => {
  const ta = await queryApp(t, { rows: 200 })
  const bad = await ta.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: 'SELECT income FROM binzhou_households', grant: ta.grant, epsilon: 1, dryRun: true },
  })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().code, 'VEILBOX_ERR_QUERY_NOT_AGGREGATE')
  const other = await ta.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: SQL, grant: 'g_0000000000000000', epsilon: 1, dryRun: true },
  })
  t.ok(other.statusCode >= 400 && other.statusCode < 500)
})
