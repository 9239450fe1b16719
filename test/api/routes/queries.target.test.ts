/**
 * Accuracy-first previews through the API (issue 24, point 3): a target
 * half-width gives the smallest epsilon meeting it, the rest of the preview
 * priced at that epsilon, and whether the grant can pay.
 */
import t from 'tap'
import { queryApp } from '../../helpers/app.js'

const SUM = 'SELECT SUM(income BOUNDS 0, 200000) AS s FROM binzhou_households'

t.test(
  'a target half-width: the epsilon that meets it, previewed at that epsilon; one micro-unit less does not',
  async (t) => {
    const qa = await queryApp(t)
    const preview = async (payload: Record<string, unknown>) => {
      const res = await qa.call('analyst', { method: 'POST', url: '/v1/queries/preview', payload })
      t.equal(res.statusCode, 200, res.body)
      return res.json()
    }
    const p = await preview({ sql: SUM, grant: qa.grant, target: { halfWidth: 2_000_000 } })
    t.equal(p.target.met, true)
    t.equal(p.target.ceiling, 1_000_000)
    const e = p.target.epsilon
    t.equal(p.privacy.epsilon, e, 'the preview is of the epsilon found')
    t.ok(p.privacy.perAggregate[0].halfWidth <= 2_000_000)
    t.same(p.target.aggregates, [{ name: 's', target: 2_000_000, halfWidth: p.privacy.perAggregate[0].halfWidth }])
    t.equal(p.affordable, true)
    const less = await preview({ sql: SUM, grant: qa.grant, epsilon: Math.round(e * 1e6 - 1) / 1e6 })
    t.ok(less.privacy.perAggregate[0].halfWidth > 2_000_000, 'one micro-unit less misses the target')
    const relative = await preview({
      sql: SUM,
      grant: qa.grant,
      target: { relative: 0.01, expected: { s: 200_000_000 } },
    })
    t.equal(relative.target.epsilon, e, '1% of a stated 200,000,000 is the same 2,000,000')
  },
)

t.test('the grant cannot pay: the epsilon is still found, and the preview says why it is refused', async (t) => {
  const qa = await queryApp(t)
  const res = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries/preview',
    payload: { sql: SUM, grant: qa.grant, target: { halfWidth: 1000 } },
  })
  t.equal(res.statusCode, 200, res.body)
  const p = res.json()
  t.equal(p.target.met, true)
  t.ok(p.target.epsilon > 10, `needs ${p.target.epsilon}, more than the grant's 10`)
  t.equal(p.affordable, false)
  t.equal(p.refusal.code, 'VEILBOX_ERR_BUDGET_EXHAUSTED')
})

t.test('unmet up to the epsilon given; bad bodies are 400', async (t) => {
  const qa = await queryApp(t)
  const call = (payload: Record<string, unknown>) =>
    qa.call('analyst', { method: 'POST', url: '/v1/queries/preview', payload })
  const res = await call({ sql: SUM, grant: qa.grant, epsilon: 0.1, target: { halfWidth: 1000 } })
  t.equal(res.statusCode, 200, res.body)
  t.match(res.json().target, { met: false, epsilon: null, ceiling: 0.1 })
  t.equal(res.json().privacy.epsilon, 0.1, 'previewed at the ceiling')
  const none = await call({ sql: SUM, grant: qa.grant })
  t.equal(none.statusCode, 400)
  t.equal(none.json().code, 'VEILBOX_ERR_REQUEST_VALIDATION')
  const avg = await call({
    sql: 'SELECT AVG(income) FROM binzhou_households',
    grant: qa.grant,
    target: { halfWidth: 5 },
  })
  t.equal(avg.statusCode, 400)
  t.equal(avg.json().code, 'VEILBOX_ERR_DP_INVALID_PARAMETER')
  const run = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: SUM, grant: qa.grant, epsilon: 0.1, target: { halfWidth: 5 } },
  })
  t.equal(run.statusCode, 400, 'a target belongs to previews only')
})
