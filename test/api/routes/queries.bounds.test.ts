/**
 * Analyst bounds through the API (issue 24, point 1): the preview's
 * half-width follows the bounds, the answer and its receipt state them, a
 * repeat with other bounds is a new question, and bounds outside the
 * declared ones are refused, charging nothing.
 */
import t from 'tap'
import { queryApp } from '../../helpers/app.js'

const DECLARED = 'SELECT SUM(income) FROM binzhou_households'
const NARROW = 'SELECT SUM(income BOUNDS 0, 200000) FROM binzhou_households'

t.test('done-when: SUM with BOUNDS 0, 200000 previews a half-width 5x narrower than the declared bounds', async (t) => {
  const qa = await queryApp(t)
  const preview = async (sql: string) => {
    const res = await qa.call('analyst', {
      method: 'POST',
      url: '/v1/queries/preview',
      payload: { sql, grant: qa.grant, epsilon: 0.1 },
    })
    t.equal(res.statusCode, 200, res.body)
    return res.json().privacy.perAggregate[0]
  }
  const declared = await preview(DECLARED)
  const narrow = await preview(NARROW)
  t.ok(Math.abs(declared.halfWidth / narrow.halfWidth - 5) < 1e-3, `${declared.halfWidth} vs ${narrow.halfWidth}`)
  t.same(declared.bounds, { lower: 0, upper: 1_000_000, source: 'declared' })
  t.same(narrow.bounds, { lower: 0, upper: 200_000, source: 'analyst' })
})

t.test('answers and receipts state the bounds; other bounds are another question, not a cached repeat', async (t) => {
  const qa = await queryApp(t)
  const run = async (sql: string) => {
    const res = await qa.call('analyst', {
      method: 'POST',
      url: '/v1/queries',
      payload: { sql, grant: qa.grant, epsilon: 0.1 },
    })
    t.equal(res.statusCode, 200, res.body)
    return res.json()
  }
  const a = await run(NARROW)
  t.same(a.privacy.perAggregate[0].bounds, { lower: 0, upper: 200_000, source: 'analyst' })
  t.same(a.receipt.privacy.perAggregate[0].bounds, { lower: 0, upper: 200_000, source: 'analyst' })
  t.ok(a.rows[0][0] <= 200_000 * 100_000, 'plausible')
  const again = await run(NARROW)
  t.equal(again.cached, true, 'the same bounds: a repeat')
  const other = await run('SELECT SUM(income BOUNDS 0, 300000) FROM binzhou_households')
  t.equal(other.cached, false, 'other bounds: a fresh answer')
  t.not(other.queryHash, a.queryHash)
  const json = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: {
      query: {
        select: [{ kind: 'aggregate', fn: 'sum', column: 'income', bounds: { lower: 0, upper: 200000 } }],
        from: 'binzhou_households',
      },
      grant: qa.grant,
      epsilon: 0.1,
    },
  })
  t.equal(json.statusCode, 200, json.body)
  t.equal(json.json().queryHash, a.queryHash, 'the JSON form is the same question')
})

t.test('bounds outside the declared ones: 400 with a stable code naming both ranges, nothing charged', async (t) => {
  const qa = await queryApp(t)
  const before = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${qa.grant}` })).json().budget
  const res = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: 'SELECT SUM(income BOUNDS 0, 2000000) FROM binzhou_households', grant: qa.grant, epsilon: 0.1 },
  })
  t.equal(res.statusCode, 400)
  t.equal(res.json().code, 'VEILBOX_ERR_QUERY_BOUNDS_OUTSIDE_DECLARED')
  t.match(res.json().detail, /0 to 2000000.*declared bounds 0 to 1000000/)
  const after = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${qa.grant}` })).json().budget
  t.same(after, before)
})
