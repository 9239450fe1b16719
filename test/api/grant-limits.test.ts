/**
 * Budget windows and the cap per answer (issue 24, point 4), through the
 * API, on the store VEILBOX_TEST_STORE names: an answer above the grant's
 * maxEpsilonPerAnswer is refused before anything runs; a window's spend is
 * capped, under concurrency too, and starts again at the window's boundary
 * (an injected clock crosses it); a dataset with refresh off never starts
 * it again; GET /v1/grants/{id} says how many more answers of a shape fit.
 */
import t from 'tap'
import { queryApp } from '../helpers/app.js'

const DAY = 86_400_000

/** A clock the test moves: starts now, `set` jumps it. */
function testClock(): { now: () => Date; set(d: Date): void } {
  let at: Date | null = null
  return {
    now: () => at ?? new Date(),
    set: (d) => {
      at = d
    },
  }
}

/** The first instant of the calendar month after `d`, UTC. */
const nextMonth = (d: Date) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1))

async function limitedGrant(
  qa: Awaited<ReturnType<typeof queryApp>>,
  limits: Record<string, unknown>,
  epsilon = 10,
): Promise<string> {
  const res = await qa.call('operator', {
    method: 'POST',
    url: '/v1/grants',
    payload: {
      analyst: 'alice',
      dataset: qa.dataset,
      purpose: 'test: windows and caps',
      epsilon,
      expiresAt: new Date(Date.now() + 120 * DAY).toISOString(),
      ...limits,
    },
  })
  if (res.statusCode !== 201) throw new Error(res.body)
  return res.json().id
}

const ask = (qa: Awaited<ReturnType<typeof queryApp>>, grant: string, i: number, epsilon = 0.1) =>
  qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: `SELECT COUNT(*) FROM binzhou_households WHERE age >= ${18 + i}`, grant, epsilon },
  })

t.test('an answer above maxEpsilonPerAnswer is refused before anything runs, and charges nothing', async (t) => {
  const qa = await queryApp(t)
  const grant = await limitedGrant(qa, { maxEpsilonPerAnswer: 0.5 })
  const over = await ask(qa, grant, 0, 0.500001)
  t.equal(over.statusCode, 403, over.body)
  t.match(over.json(), { code: 'VEILBOX_ERR_BUDGET_OVER_ANSWER_CAP', max: 0.5, requested: 0.500001 })
  const view = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${grant}` })).json()
  t.equal(view.budget.epsilon.spent, 0, 'nothing charged')
  t.equal(view.limits.maxEpsilonPerAnswer, 0.5)
  t.equal(await qa.app.db.value<number>("SELECT COUNT(*) FROM audit_log WHERE action = 'query.release'"), 0)
  const at = await ask(qa, grant, 1, 0.5)
  t.equal(at.statusCode, 200, 'exactly the cap is allowed')
  // The shape of an answer above the cap fits 0 times, and says why.
  const shaped = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${grant}?epsilon=0.6` })).json()
  t.match(shaped.limits.fits, { answers: 0, bindingLimit: 'maxEpsilonPerAnswer', basis: 'asked' })
})

t.test('a monthly window caps its spend, and its refresh (an injected clock) starts the spend again', async (t) => {
  const clock = testClock()
  const qa = await queryApp(t, { now: clock.now })
  const grant = await limitedGrant(qa, { window: { every: 'month', epsilon: 0.3 } })
  for (let i = 0; i < 3; i++) t.equal((await ask(qa, grant, i)).statusCode, 200)
  const refused = await ask(qa, grant, 3)
  t.equal(refused.statusCode, 403)
  t.match(refused.json(), { code: 'VEILBOX_ERR_BUDGET_WINDOW_EXHAUSTED', cap: 0.3, spent: 0.3, remaining: 0 })
  t.equal(refused.json().windowEnd, nextMonth(clock.now()).toISOString())
  let view = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${grant}` })).json()
  t.match(view.limits.window, { every: 'month', epsilon: 0.3, spent: 0.3, remaining: 0 })
  t.match(view.limits.fits, { answers: 0, bindingLimit: 'window', basis: 'lastAnswer', epsilonPerAnswer: 0.1 })
  t.equal(view.budget.epsilon.spent, 0.3, 'the refused query charged nothing')

  clock.set(new Date(nextMonth(clock.now()).getTime() + 1000))
  const after = await ask(qa, grant, 3)
  t.equal(after.statusCode, 200, `the next month's window pays: ${after.body}`)
  view = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${grant}?epsilon=0.1` })).json()
  t.match(view.limits.window, { spent: 0.1, remaining: 0.2, start: nextMonth(new Date()).toISOString() })
  t.match(view.limits.fits, { answers: 2, bindingLimit: 'window', basis: 'asked' })
  t.equal(view.budget.epsilon.spent, 0.4, "the grant's total is never refreshed")
})

t.test('with refresh off on the dataset, a window never starts again', async (t) => {
  const clock = testClock()
  const qa = await queryApp(t, { now: clock.now })
  const put = await qa.call('operator', {
    method: 'PUT',
    url: `/v1/datasets/${qa.dataset}/budget`,
    payload: { epsilon: 100, delta: 1e-5, windowRefresh: false },
  })
  t.equal(put.statusCode, 200, put.body)
  t.equal(put.json().windowRefresh, false)
  const grant = await limitedGrant(qa, { window: { every: 7, epsilon: 0.2 } })
  for (let i = 0; i < 2; i++) t.equal((await ask(qa, grant, i)).statusCode, 200)
  clock.set(new Date(Date.now() + 30 * DAY))
  const refused = await ask(qa, grant, 2)
  t.equal(refused.statusCode, 403)
  t.match(refused.json(), { code: 'VEILBOX_ERR_BUDGET_WINDOW_EXHAUSTED', windowEnd: null })
  const view = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${grant}` })).json()
  t.match(view.limits.window, { every: 7, start: null, end: null, spent: 0.2 })
})

t.test(
  '20 parallel queries against a window cap of 0.5 at 0.1 each: exactly 5 answer, the window never overspends',
  async (t) => {
    const qa = await queryApp(t)
    const grant = await limitedGrant(qa, { window: { every: 'month', epsilon: 0.5 } })
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => ask(qa, grant, i)))
    const ok = results.filter((r) => r.statusCode === 200)
    t.equal(ok.length, 5)
    for (const r of results.filter((r) => r.statusCode !== 200))
      t.equal(r.json().code, 'VEILBOX_ERR_BUDGET_WINDOW_EXHAUSTED', r.body)
    const view = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${grant}` })).json()
    t.match(view.limits.window, { spent: 0.5, remaining: 0 })
    t.equal(view.budget.epsilon.spent, 0.5)
    t.equal(await qa.app.db.value<number>('SELECT COUNT(*) FROM answers'), 5)
    t.equal(Number(await qa.app.db.value<number>('SELECT window_spent FROM grants WHERE id = $1', [grant])), 500_000)
  },
)

t.test('the fit is exact: floor(remaining / epsilon) over the smallest limit', async (t) => {
  const qa = await queryApp(t, { datasetEpsilon: 100 })
  const grant = await limitedGrant(qa, { window: { every: 'month', epsilon: 5 } }, 1)
  const view = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${grant}?epsilon=0.3` })).json()
  // The grant's 1.0 binds: 1.0 / 0.3 = 3.33, so 3 (floats would say 3 too; 0.1 below shows the exact division).
  t.match(view.limits.fits, { answers: 3, bindingLimit: 'grant' })
  const tenth = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${grant}?epsilon=0.1` })).json()
  t.match(tenth.limits.fits, { answers: 10, bindingLimit: 'grant' }, '1.0 / 0.1 is 10 exactly, not 9.999...')
  const none = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${grant}` })).json()
  t.equal(none.limits.fits, null, 'no answer yet and no shape asked')
})
