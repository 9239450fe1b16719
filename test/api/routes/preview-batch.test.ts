/**
 * Batch previews (issue 24, point 3): a total epsilon split across queries
 * by weights, or to make their relative half-widths equal against stated
 * expected values; each query previewed at its part; spends nothing.
 */
import t from 'tap'
import { queryApp } from '../../helpers/app.js'

const COUNT = 'SELECT COUNT(*) AS n FROM binzhou_households'
const SUM = 'SELECT SUM(income BOUNDS 0, 200000) AS s FROM binzhou_households'

t.test('weights: parts proportional to the weights, in micro-units adding up to the total', async (t) => {
  const qa = await queryApp(t)
  const before = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${qa.grant}` })).json().budget
  const res = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries/preview/batch',
    payload: {
      grant: qa.grant,
      epsilon: 1,
      queries: [
        { sql: COUNT, weight: 1 },
        { sql: SUM, weight: 3 },
      ],
    },
  })
  t.equal(res.statusCode, 200, res.body)
  const b = res.json()
  t.equal(b.split, 'weights')
  t.same(
    b.queries.map((q: { epsilon: number }) => q.epsilon),
    [0.25, 0.75],
  )
  t.equal(b.queries[1].preview.privacy.epsilon, 0.75, 'each previewed at its part')
  t.equal(b.affordable, true)
  const thirds = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries/preview/batch',
    payload: { grant: qa.grant, epsilon: 1, queries: [{ sql: COUNT }, { sql: COUNT }, { sql: SUM }] },
  })
  const parts = thirds.json().queries.map((q: { epsilon: number }) => Math.round(q.epsilon * 1e6))
  t.same(parts, [333_334, 333_333, 333_333], 'whole micro-units adding up to the total exactly')
  const after = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${qa.grant}` })).json().budget
  t.same(after, before, 'nothing spent')
})

t.test('relative: the relative half-widths against the stated expected values come out equal', async (t) => {
  const qa = await queryApp(t)
  const expected = [{ n: 100_000 }, { s: 5_000_000_000 }]
  const res = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries/preview/batch',
    payload: {
      grant: qa.grant,
      epsilon: 1,
      split: 'relative',
      queries: [
        { sql: COUNT, expected: expected[0] },
        { sql: SUM, expected: expected[1] },
      ],
    },
  })
  t.equal(res.statusCode, 200, res.body)
  const b = res.json()
  const rel = b.queries.map(
    (q: { preview: { privacy: { perAggregate: { name: string; halfWidth: number }[] } } }, i: number) => {
      const a = q.preview.privacy.perAggregate[0]!
      return a.halfWidth / Object.values(expected[i]!)[0]!
    },
  )
  t.ok(Math.abs(rel[0] / rel[1] - 1) < 0.02, `relative half-widths ${rel.join(' vs ')}`)
  const sum = b.queries.reduce((s: number, q: { epsilon: number }) => s + Math.round(q.epsilon * 1e6), 0)
  t.equal(sum, 1_000_000)
  const missing = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries/preview/batch',
    payload: { grant: qa.grant, epsilon: 1, split: 'relative', queries: [{ sql: COUNT }] },
  })
  t.equal(missing.statusCode, 400)
  t.equal(missing.json().code, 'VEILBOX_ERR_DP_INVALID_PARAMETER')
})

t.test('more than the grant has: each part may fit, the whole does not', async (t) => {
  const qa = await queryApp(t)
  const res = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries/preview/batch',
    payload: { grant: qa.grant, epsilon: 12, queries: [{ sql: COUNT }, { sql: SUM }] },
  })
  t.equal(res.statusCode, 200, res.body)
  t.equal(res.json().queries[0].preview.affordable, true, '6 fits the grant of 10')
  t.equal(res.json().affordable, false, '12 together does not')
})
