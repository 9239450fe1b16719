import t from 'tap'
import { queryApp } from '../../helpers/app.js'

const future = () => new Date(Date.now() + 86_400_000).toISOString()

t.test('an operator creates, lists, reads and revokes grants; analysts see only their own', async (t) => {
  const qa = await queryApp(t)
  await qa.call('operator', { method: 'POST', url: '/v1/keys', payload: { role: 'analyst', name: 'bob' } })
  const created = await qa.call('operator', {
    method: 'POST',
    url: '/v1/grants',
    payload: {
      analyst: 'bob',
      dataset: qa.dataset,
      purpose: 'hospital capacity planning',
      columns: ['district', 'age'],
      aggregates: ['count', 'avg'],
      epsilon: 2,
      expiresAt: future(),
    },
  })
  t.equal(created.statusCode, 201, created.body)
  const g = created.json()
  t.match(g, {
    analyst: 'bob',
    dataset: qa.dataset,
    purpose: 'hospital capacity planning',
    columns: ['district', 'age'],
    aggregates: ['count', 'avg'],
    status: 'active',
    revokedAt: null,
  })
  t.same(g.budget.epsilon, { total: 2, spent: 0, remaining: 2 })
  t.same(g.budget.delta, { total: 0, spent: 0, remaining: 0 })

  const all = (await qa.call('operator', { method: 'GET', url: '/v1/grants' })).json().grants
  t.equal(all.length, 2)
  const mine = (await qa.call('analyst', { method: 'GET', url: '/v1/grants' })).json().grants
  t.same(
    mine.map((x: { analyst: string }) => x.analyst),
    ['alice'],
  )
  const filtered = (await qa.call('operator', { method: 'GET', url: '/v1/grants?analyst=bob' })).json().grants
  t.same(
    filtered.map((x: { id: string }) => x.id),
    [g.id],
  )
  const peek = await qa.call('analyst', { method: 'GET', url: `/v1/grants/${g.id}` })
  t.equal(peek.statusCode, 403)
  t.equal(peek.json().code, 'VEILBOX_ERR_POLICY_NOT_YOUR_GRANT')

  const revoked = await qa.call('operator', { method: 'DELETE', url: `/v1/grants/${g.id}` })
  t.equal(revoked.statusCode, 200)
  t.equal(revoked.json().status, 'revoked')
  const twice = await qa.call('operator', { method: 'DELETE', url: `/v1/grants/${g.id}` })
  t.equal(twice.json().code, 'VEILBOX_ERR_POLICY_GRANT_REVOKED')
  const audit = (await qa.app.db.rows("SELECT action FROM audit_log WHERE action LIKE 'grant.%' ORDER BY seq")).map(
    (r) => r[0],
  )
  t.same(audit, ['grant.create', 'grant.create', 'grant.revoke'])
})

t.test('bad grant requests are refused with the rule named', async (t) => {
  const qa = await queryApp(t)
  const base = { analyst: 'alice', dataset: qa.dataset, purpose: 'a purpose', epsilon: 1, expiresAt: future() }
  const cases: [Record<string, unknown>, number, string, RegExp][] = [
    [{ ...base, analyst: 'nobody' }, 400, 'VEILBOX_ERR_POLICY_UNKNOWN_ANALYST', /no analyst named "nobody"/],
    [{ ...base, dataset: 'nope' }, 404, 'VEILBOX_ERR_DATASET_NOT_FOUND', /nope/],
    [{ ...base, columns: ['district', 'salary'] }, 400, 'VEILBOX_ERR_POLICY_BAD_GRANT', /no column salary/],
    [{ ...base, expiresAt: '2020-01-01T00:00:00Z' }, 400, 'VEILBOX_ERR_POLICY_BAD_GRANT', /not in the future/],
    [{ ...base, epsilon: 0 }, 400, 'VEILBOX_ERR_REQUEST_VALIDATION', /epsilon/],
    [{ ...base, epsilon: Number.NaN }, 400, 'VEILBOX_ERR_REQUEST_VALIDATION', /epsilon/],
    [{ ...base, aggregates: ['count', 'max'] }, 400, 'VEILBOX_ERR_REQUEST_VALIDATION', /aggregates/],
    [{ ...base, expiresAt: 'tomorrow' }, 400, 'VEILBOX_ERR_REQUEST_VALIDATION', /expiresAt/],
    [{ ...base, extra: true }, 400, 'VEILBOX_ERR_REQUEST_VALIDATION', /extra/],
  ]
  for (const [payload, status, code, re] of cases) {
    const res = await qa.call('operator', { method: 'POST', url: '/v1/grants', payload })
    t.equal(res.statusCode, status, JSON.stringify(payload))
    t.equal(res.json().code, code)
    t.match(res.json().detail, re)
  }
  t.equal(
    (await qa.call('operator', { method: 'GET', url: '/v1/grants' })).json().grants.length,
    1,
    'nothing was created',
  )
})

t.test('a query outside its grant is refused with 403 naming the reason', async (t) => {
  const qa = await queryApp(t)
  await qa.call('operator', { method: 'POST', url: '/v1/keys', payload: { role: 'analyst', name: 'bob' } })
  const narrow = (
    await qa.call('operator', {
      method: 'POST',
      url: '/v1/grants',
      payload: {
        analyst: 'alice',
        dataset: qa.dataset,
        purpose: 'ages only',
        columns: ['district', 'age'],
        aggregates: ['count', 'avg', 'median'],
        epsilon: 1,
        expiresAt: future(),
      },
    })
  ).json().id
  const bobs = (
    await qa.call('operator', {
      method: 'POST',
      url: '/v1/grants',
      payload: { analyst: 'bob', dataset: qa.dataset, purpose: 'bob', epsilon: 1, expiresAt: future() },
    })
  ).json().id
  const ask = (sql: string, grant: string) =>
    qa.call('analyst', { method: 'POST', url: '/v1/queries', payload: { sql, grant, epsilon: 0.1 } })

  const col = await ask('SELECT AVG(income) FROM binzhou_households', narrow)
  t.equal(col.statusCode, 403)
  t.match(col.json(), { code: 'VEILBOX_ERR_POLICY_COLUMN_NOT_GRANTED', column: 'income' })
  const where = await ask('SELECT COUNT(*) FROM binzhou_households WHERE insured = TRUE', narrow)
  t.match(
    where.json(),
    { code: 'VEILBOX_ERR_POLICY_COLUMN_NOT_GRANTED', column: 'insured' },
    'a WHERE column counts too',
  )
  const agg = await ask('SELECT SUM(age) FROM binzhou_households', narrow)
  t.match(agg.json(), { code: 'VEILBOX_ERR_POLICY_AGGREGATE_NOT_GRANTED', aggregate: 'sum' })
  const quant = await ask('SELECT QUANTILE(age, 0.9) FROM binzhou_households', narrow)
  t.match(quant.json(), { code: 'VEILBOX_ERR_POLICY_AGGREGATE_NOT_GRANTED' }, 'median does not allow other quantiles')
  t.equal(
    (await ask('SELECT district, MEDIAN(age), COUNT(*) FROM binzhou_households GROUP BY district', narrow)).statusCode,
    200,
  )

  const other = await ask('SELECT COUNT(*) FROM binzhou_households', bobs)
  t.equal(other.statusCode, 403)
  t.equal(other.json().code, 'VEILBOX_ERR_POLICY_NOT_YOUR_GRANT')

  await qa.call('operator', { method: 'DELETE', url: `/v1/grants/${narrow}` })
  const revoked = await ask('SELECT COUNT(*) FROM binzhou_households', narrow)
  t.match(revoked.json(), { code: 'VEILBOX_ERR_POLICY_GRANT_REVOKED', grant: narrow })

  await qa.app.db.run("UPDATE grants SET expires_at = '2020-01-01T00:00:00.000Z' WHERE id = $1", [qa.grant])
  const expired = await ask('SELECT COUNT(*) FROM binzhou_households', qa.grant)
  t.equal(expired.statusCode, 403)
  t.match(expired.json(), { code: 'VEILBOX_ERR_POLICY_GRANT_EXPIRED', expiresAt: '2020-01-01T00:00:00.000Z' })
  t.match(expired.json().detail, /expired at 2020-01-01/)

  const missing = await ask('SELECT COUNT(*) FROM binzhou_households', 'g_0000000000000000')
  t.equal(missing.statusCode, 404)
  const wrongDataset = await ask('SELECT COUNT(*) FROM people', bobs)
  t.equal(wrongDataset.statusCode, 403)
})

t.test('dataset budgets: set, read, and never below what is spent', async (t) => {
  const qa = await queryApp(t)
  const read = await qa.call('analyst', { method: 'GET', url: `/v1/datasets/${qa.dataset}/budget` })
  t.equal(read.statusCode, 200)
  t.match(read.json(), {
    dataset: qa.dataset,
    epsilon: { total: 100, spent: 0, remaining: 100 },
    delta: { total: 0.00001 },
  })
  await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: 'SELECT COUNT(*) FROM binzhou_households', grant: qa.grant, epsilon: 2 },
  })
  const low = await qa.call('operator', {
    method: 'PUT',
    url: `/v1/datasets/${qa.dataset}/budget`,
    payload: { epsilon: 1, delta: 0 },
  })
  t.equal(low.statusCode, 409)
  t.equal(low.json().code, 'VEILBOX_ERR_BUDGET_BELOW_SPENT')
  const raised = await qa.call('operator', {
    method: 'PUT',
    url: `/v1/datasets/${qa.dataset}/budget`,
    payload: { epsilon: 50, delta: 0.00001 },
  })
  t.equal(raised.statusCode, 200)
  t.match(raised.json(), { epsilon: { total: 50, spent: 2, remaining: 48 } })
  const analyst = await qa.call('analyst', {
    method: 'PUT',
    url: `/v1/datasets/${qa.dataset}/budget`,
    payload: { epsilon: 1e6 },
  })
  t.equal(analyst.statusCode, 403)
  const bad = await qa.call('operator', {
    method: 'PUT',
    url: `/v1/datasets/${qa.dataset}/budget`,
    payload: { epsilon: -1 },
  })
  t.equal(bad.statusCode, 400)
  const audit = await qa.app.db.value<number>("SELECT COUNT(*) FROM audit_log WHERE action = 'budget.set'")
  t.equal(audit, 2, 'the initial set and the raise; the refused ones left no record')
})

t.test('finding 8: totals round down and charges up, read exactly from their decimals', async (t) => {
  const qa = await queryApp(t)
  const budget = await qa.call('operator', {
    method: 'PUT',
    url: `/v1/datasets/${qa.dataset}/budget`,
    payload: { epsilon: 100.0000001, delta: 0.9999999999999999 },
  })
  t.equal(budget.statusCode, 200, budget.body)
  t.equal(budget.json().epsilon.total, 100, 'epsilon 100.0000001 holds 100, not 100.000001')
  t.equal(
    budget.json().delta.total,
    0.999999999999999,
    'delta 0.9999999999999999 holds 999999999999999 femto-units, not 1',
  )
  t.equal(await qa.app.db.value<number>('SELECT delta_total FROM dataset_budgets'), 999_999_999_999_999)
  const grant = await qa.call('operator', {
    method: 'POST',
    url: '/v1/grants',
    payload: {
      analyst: 'alice',
      dataset: qa.dataset,
      purpose: 'rounding',
      epsilon: 1.0000001,
      delta: 1e-9,
      expiresAt: '2099-01-01T00:00:00Z',
    },
  })
  t.equal(grant.statusCode, 201, grant.body)
  t.equal(grant.json().budget.epsilon.total, 1)
  const row = await qa.app.db.get('SELECT epsilon_total, delta_total FROM grants WHERE id = $1', [grant.json().id])
  t.same(
    row,
    { epsilon_total: 1_000_000, delta_total: 1_000_000 },
    '1e-9 is exactly 1,000,000 femto-units (float multiplication made it 1,000,001)',
  )
  const recorded = (await qa.app.db.value<string>(
    "SELECT detail FROM audit_log WHERE action = 'grant.create' ORDER BY seq DESC LIMIT 1",
  ))!
  t.match(JSON.parse(recorded), { epsilon: '1', delta: '1e-9' }, 'the chain records what the grant holds')
  const tiny = await qa.call('operator', {
    method: 'POST',
    url: '/v1/grants',
    payload: {
      analyst: 'alice',
      dataset: qa.dataset,
      purpose: 'too small',
      epsilon: 1e-7,
      expiresAt: '2099-01-01T00:00:00Z',
    },
  })
  t.equal(tiny.statusCode, 400)
  t.match(tiny.json(), { code: 'VEILBOX_ERR_POLICY_BAD_GRANT', detail: /below one micro-unit/ })
  // A charge rounds up: 1e-7 costs one micro-unit.
  const answer = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: 'SELECT COUNT(*) FROM binzhou_households', grant: grant.json().id, epsilon: 0.0000001 },
  })
  t.equal(answer.statusCode, 200, answer.body)
  t.same(answer.json().privacy.charged.grant, { epsilon: 0.000001, delta: 0 })
})

t.test(
  'a grant over several datasets: each answer charges the dataset it reads, and columns may be qualified',
  async (t) => {
    const qa = await queryApp(t)
    const { DEMO_SPEC, demoCsv } = await import('../../../src/demo/binzhou.js')
    const twin = { ...DEMO_SPEC, id: 'households_twin', title: 'a second copy' }
    t.equal((await qa.call('operator', { method: 'POST', url: '/v1/datasets', payload: twin })).statusCode, 201)
    const chunks: Buffer[] = []
    for await (const c of demoCsv(500)) chunks.push(Buffer.from(c as string))
    const up = await qa.call('operator', {
      method: 'POST',
      url: '/v1/datasets/households_twin/versions',
      headers: { 'content-type': 'text/csv' },
      payload: Buffer.concat(chunks),
    })
    t.equal(up.statusCode, 201, up.body)
    await qa.call('operator', {
      method: 'PUT',
      url: '/v1/datasets/households_twin/budget',
      payload: { epsilon: 5, delta: 0 },
    })
    const base = {
      analyst: 'alice',
      purpose: 'test: two datasets',
      epsilon: 2,
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    }
    const made = await qa.call('operator', {
      method: 'POST',
      url: '/v1/grants',
      payload: {
        ...base,
        datasets: [qa.dataset, 'households_twin'],
        columns: ['district', 'binzhou_households.income', 'households_twin.age'],
      },
    })
    t.equal(made.statusCode, 201, made.body)
    const g = made.json()
    t.same(g.datasets, [qa.dataset, 'households_twin'])
    t.equal(g.dataset, qa.dataset)
    const ask = (sql: string) =>
      qa.call('analyst', { method: 'POST', url: '/v1/queries', payload: { sql, grant: g.id, epsilon: 0.5 } })
    const a = await ask(`SELECT district, SUM(income) FROM ${qa.dataset} GROUP BY district`)
    t.equal(a.statusCode, 200, a.body)
    t.equal(a.json().dataset, qa.dataset)
    const b = await ask('SELECT district, AVG(age) FROM households_twin GROUP BY district')
    t.equal(b.statusCode, 200, b.body)
    t.equal(b.json().dataset, 'households_twin')
    t.same(b.json().budget.remaining, { epsilon: 1, delta: 0 }, "one grant ledger for both datasets' answers")
    const twinBudget = await qa.call('operator', { method: 'GET', url: '/v1/datasets/households_twin/budget' })
    t.equal(twinBudget.json().epsilon.spent, 0.5, 'the twin dataset paid for its answer only')
    // Qualified entries bind to one dataset: income is granted on the first, not on the twin.
    const c = await ask('SELECT district, SUM(income) FROM households_twin GROUP BY district')
    t.equal(c.statusCode, 403)
    t.equal(c.json().code, 'VEILBOX_ERR_POLICY_COLUMN_NOT_GRANTED')
    // A repeat on the second dataset is served from the store, for its own dataset's version.
    const again = await ask('SELECT district, AVG(age) FROM households_twin GROUP BY district')
    t.equal(again.json().cached, true)
    t.same(again.json().rows, b.json().rows)
    const listed = await qa.call('operator', { method: 'GET', url: '/v1/grants?dataset=households_twin' })
    t.ok(
      listed.json().grants.some((x: { id: string }) => x.id === g.id),
      'listed under each dataset it covers',
    )
    const catalog = await qa.call('analyst', { method: 'GET', url: '/v1/datasets/households_twin' })
    t.equal(catalog.statusCode, 200, 'the analyst sees every dataset the grant covers')
    // Refusals: both fields, neither, a repeat, an unknown qualified dataset, a column no dataset has.
    const refused = async (payload: Record<string, unknown>, code: string, detail: RegExp) => {
      const res = await qa.call('operator', { method: 'POST', url: '/v1/grants', payload: { ...base, ...payload } })
      t.equal(res.json().code, code, JSON.stringify(payload))
      t.match(res.json().detail, detail)
    }
    await refused({ dataset: qa.dataset, datasets: [qa.dataset] }, 'VEILBOX_ERR_REQUEST_VALIDATION', /exactly one/)
    await refused({}, 'VEILBOX_ERR_REQUEST_VALIDATION', /exactly one/)
    await refused({ datasets: [qa.dataset, qa.dataset] }, 'VEILBOX_ERR_POLICY_BAD_GRANT', /twice/)
    await refused(
      { datasets: [qa.dataset], columns: ['households_twin.age'] },
      'VEILBOX_ERR_POLICY_BAD_GRANT',
      /does not cover/,
    )
    await refused(
      { datasets: [qa.dataset, 'households_twin'], columns: ['nope'] },
      'VEILBOX_ERR_POLICY_BAD_GRANT',
      /none of the datasets binzhou_households, households_twin has a column nope/,
    )
  },
)
