import t from 'tap'
import { queryApp, testApp } from '../../helpers/app.js'
import { emptyTakeCount } from '../../../src/engine/dp/noise-pool.js'

const GROUPED = 'SELECT district, COUNT(*), SUM(income), AVG(income) FROM binzhou_households GROUP BY district'
const DISTRICTS = ['滨城区', '沾化区', '惠民县', '阳信县', '无棣县', '博兴县', '邹平市']

t.test('a grouped query answers one row per declared district with intervals and its privacy', async (t) => {
  const qa = await queryApp(t)
  const res = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: GROUPED, grant: qa.grant, epsilon: 0.1 },
  })
  t.equal(res.statusCode, 200, res.body)
  const a = res.json()
  t.same(a.columns, ['district', 'count', 'sum_income', 'avg_income'])
  t.same(
    a.rows.map((r: unknown[]) => r[0]),
    DISTRICTS,
    'every declared key, in declared order',
  )
  t.equal(a.rows.length, a.intervals.length)
  for (let i = 0; i < a.rows.length; i++) {
    t.equal(a.intervals[i][0], null, 'no interval for a group column')
    for (let j = 1; j < 4; j++) {
      const [lo, hi] = a.intervals[i][j]
      t.ok(lo <= a.rows[i][j] && a.rows[i][j] <= hi, `value inside its own interval (${i},${j})`)
    }
    t.ok(Number.isInteger(a.rows[i][1]), 'COUNT is released as an integer')
  }
  t.equal(a.confidence, 0.95)
  t.match(a.privacy, {
    mechanism: 'laplace',
    epsilon: 0.1,
    delta: 0,
    charged: { grant: { epsilon: 0.1, delta: 0 }, dataset: { epsilon: 0.1, delta: 0 } },
  })
  t.equal(a.privacy.perAggregate.length, 3)
  const parts = a.privacy.perAggregate.reduce((s: number, p: { epsilon: number }) => s + Math.round(p.epsilon * 1e6), 0)
  t.equal(parts, 100_000, "the aggregates' parts add up to the query's epsilon exactly")
  t.same(a.budget.remaining, { epsilon: 9.9, delta: 0.000001 })
  t.equal(a.cached, false)
  t.match(a.queryId, /^q_[0-9a-f]{24}$/)
  t.match(a.datasetCommitment, /^[0-9a-f]{64}$/)
  t.notOk('datasetSha256' in a, 'the content hash of the rows is not shown to analysts')
  t.notOk('auditSeq' in a.receipt, 'no global counter in the receipt')
})

t.test(
  'preview spends nothing; the run spends exactly what it said; a repeat is cached, identical and free',
  async (t) => {
    const qa = await queryApp(t)
    const body = { sql: GROUPED, grant: qa.grant, epsilon: 0.25 }
    const grantBefore = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${qa.grant}` })).json().budget
    const preview = await qa.call('analyst', { method: 'POST', url: '/v1/queries/preview', payload: body })
    t.equal(preview.statusCode, 200, preview.body)
    const p = preview.json()
    t.match(p, {
      affordable: true,
      cached: false,
      charge: { grant: { epsilon: 0.25, delta: 0 }, dataset: { epsilon: 0.25 } },
    })
    t.same(p.budget.remaining, { epsilon: 10, delta: 0.000001 })
    t.same(p.budget.remainingAfter, { epsilon: 9.75, delta: 0.000001 })
    t.equal(p.privacy.perAggregate[0].halfWidth > 0, true, 'COUNT has an expected half-width')
    t.equal(p.privacy.perAggregate[2].halfWidth, null, 'AVG depends on the data')
    const afterPreview = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${qa.grant}` })).json().budget
    t.same(afterPreview, grantBefore, 'the preview spent nothing')

    const run = (await qa.call('analyst', { method: 'POST', url: '/v1/queries', payload: body })).json()
    t.same(run.privacy.charged, p.charge, 'charged what the preview said')
    const afterRun = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${qa.grant}` })).json().budget
    t.equal(afterRun.epsilon.spent, 0.25)
    t.equal(afterRun.epsilon.remaining, 9.75)
    const datasetAfter = (await qa.call('operator', { method: 'GET', url: `/v1/datasets/${qa.dataset}/budget` })).json()
    t.equal(datasetAfter.epsilon.spent, 0.25, 'the dataset is charged too')

    // Same query, spelled differently: the canonical form matches.
    const again = await qa.call('analyst', {
      method: 'POST',
      url: '/v1/queries',
      payload: {
        ...body,
        sql: 'select  DISTRICT, count(*), sum(INCOME), avg(income)\nfrom binzhou_households group by district;',
      },
    })
    t.equal(again.statusCode, 200)
    const repeat = again.json()
    t.equal(repeat.cached, true)
    t.same(repeat.rows, run.rows, 'identical rows')
    t.same(repeat.intervals, run.intervals)
    t.equal(repeat.queryId, run.queryId)
    t.same(repeat.privacy.charged, { grant: { epsilon: 0, delta: 0 }, dataset: { epsilon: 0, delta: 0 } })
    const afterRepeat = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${qa.grant}` })).json().budget
    t.same(afterRepeat, afterRun, 'the repeat cost nothing')
    const previewRepeat = (
      await qa.call('analyst', { method: 'POST', url: '/v1/queries/preview', payload: body })
    ).json()
    t.match(previewRepeat, { cached: true, charge: { grant: { epsilon: 0 } } })

    const stored = await qa.call('analyst', { method: 'GET', url: `/v1/queries/${run.queryId}` })
    t.equal(stored.statusCode, 200)
    t.same(stored.json().rows, run.rows)
    t.equal(stored.json().cached, true)
    const list = (await qa.call('analyst', { method: 'GET', url: '/v1/queries' })).json()
    t.same(
      list.answers.map((x: { queryId: string }) => x.queryId),
      [run.queryId],
    )

    const otherEps = (
      await qa.call('analyst', { method: 'POST', url: '/v1/queries', payload: { ...body, epsilon: 0.3 } })
    ).json()
    t.equal(otherEps.cached, false, 'another epsilon is another answer')
  },
)

t.test('ten charges of 0.1 exhaust a grant of 1.0 exactly; the eleventh is refused with the amounts', async (t) => {
  const qa = await queryApp(t, { grantEpsilon: 1 })
  for (let i = 0; i < 10; i++) {
    const res = await qa.call('analyst', {
      method: 'POST',
      url: '/v1/queries',
      payload: { sql: `SELECT COUNT(*) FROM binzhou_households WHERE age > ${20 + i}`, grant: qa.grant, epsilon: 0.1 },
    })
    t.equal(res.statusCode, 200, `charge ${i + 1}`)
  }
  const res = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: 'SELECT COUNT(*) FROM binzhou_households WHERE age > 90', grant: qa.grant, epsilon: 0.1 },
  })
  t.equal(res.statusCode, 403)
  const body = res.json()
  t.match(body.code, /BUDGET/)
  t.equal(body.code, 'VEILBOX_ERR_BUDGET_EXHAUSTED')
  t.equal(body.scope, 'grant')
  t.same(body.requested, { epsilon: 0.1, delta: 0 })
  t.same(body.spent, { epsilon: 1, delta: 0 })
  t.same(body.total, { epsilon: 1, delta: 0.000001 })
  t.same(body.remaining, { epsilon: 0, delta: 0.000001 })
  const grant = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${qa.grant}` })).json()
  t.equal(grant.budget.epsilon.spent, 1)
})

t.test('the dataset budget refuses too, naming itself', async (t) => {
  const qa = await queryApp(t, { datasetEpsilon: 0.15 })
  t.equal(
    (
      await qa.call('analyst', {
        method: 'POST',
        url: '/v1/queries',
        payload: { sql: 'SELECT COUNT(*) FROM binzhou_households', grant: qa.grant, epsilon: 0.1 },
      })
    ).statusCode,
    200,
  )
  const res = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: 'SELECT SUM(age) FROM binzhou_households', grant: qa.grant, epsilon: 0.1 },
  })
  t.equal(res.statusCode, 403)
  t.match(res.json(), {
    code: 'VEILBOX_ERR_BUDGET_EXHAUSTED',
    scope: 'dataset',
    dataset: 'binzhou_households',
    remaining: { epsilon: 0.05 },
  })
  const grant = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${qa.grant}` })).json()
  t.equal(grant.budget.epsilon.spent, 0.1, 'the grant was not charged for the refused query')
})

t.test('a query that cannot pay computes nothing; one that fails before release charges nothing', async (t) => {
  const qa = await queryApp(t, { grantEpsilon: 0.5 })
  let executed = 0
  const real = qa.app.executor.execute.bind(qa.app.executor)
  let fail = false
  qa.app.executor.execute = async (task) => {
    executed += 1
    if (fail) throw new Error('the sandbox crashed')
    return real(task)
  }
  const refused = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: 'SELECT COUNT(*) FROM binzhou_households', grant: qa.grant, epsilon: 0.6 },
  })
  t.equal(refused.statusCode, 403)
  t.equal(executed, 0, 'refused before any computation')

  fail = true
  const failed = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: 'SELECT COUNT(*) FROM binzhou_households', grant: qa.grant, epsilon: 0.2 },
  })
  t.equal(failed.statusCode, 500)
  t.equal(failed.json().code, 'VEILBOX_ERR_INTERNAL')
  t.notMatch(failed.json().detail, /sandbox crashed/, 'a 5xx never shows the internal message')
  t.equal(executed, 1)
  const grant = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${qa.grant}` })).json()
  t.equal(grant.budget.epsilon.spent, 0, 'nothing was charged')
  t.equal(await qa.app.db.value<number>('SELECT COUNT(*) FROM answers'), 0)
  const audit = await qa.app.db.all("SELECT action, outcome FROM audit_log WHERE action LIKE 'query.%' ORDER BY seq")
  t.same(audit, [
    { action: 'query.refused', outcome: 'VEILBOX_ERR_BUDGET_EXHAUSTED' },
    { action: 'query.failed', outcome: 'VEILBOX_ERR_INTERNAL' },
  ])
})

t.test('non-aggregate and unsupported SQL is refused with a QUERY code and a position', async (t) => {
  const qa = await queryApp(t)
  const cases: [string, string][] = [
    ['SELECT * FROM binzhou_households', 'VEILBOX_ERR_QUERY_NOT_AGGREGATE'],
    ['SELECT income FROM binzhou_households', 'VEILBOX_ERR_QUERY_NOT_AGGREGATE'],
    [
      'SELECT district, income, COUNT(*) FROM binzhou_households GROUP BY district',
      'VEILBOX_ERR_QUERY_UNGROUPED_COLUMN',
    ],
    [
      'SELECT COUNT(*) FROM binzhou_households LEFT JOIN people ON binzhou_households.age = people.age',
      'VEILBOX_ERR_QUERY_JOIN',
    ],
    ['SELECT COUNT(*) FROM binzhou_households, people', 'VEILBOX_ERR_QUERY_JOIN'],
    ['SELECT COUNT(*) FROM (SELECT * FROM binzhou_households)', 'VEILBOX_ERR_QUERY_SUBQUERY'],
    ['SELECT SUM(COUNT(age)) FROM binzhou_households', 'VEILBOX_ERR_QUERY_NESTED_AGGREGATE'],
    [
      'SELECT COUNT(*) FROM binzhou_households; SELECT COUNT(*) FROM binzhou_households',
      'VEILBOX_ERR_QUERY_MULTIPLE_STATEMENTS',
    ],
    ['DROP TABLE binzhou_households', 'VEILBOX_ERR_QUERY_NOT_SELECT'],
    ['SELECT income * 2 FROM binzhou_households', 'VEILBOX_ERR_QUERY_ROW_EXPRESSION'],
    ['SELECT COUNT(*) FROM binzhou_households GROUP BY income', 'VEILBOX_ERR_QUERY_BAD_GROUP_BY'],
    ['SELECT COUNT(nope) FROM binzhou_households', 'VEILBOX_ERR_QUERY_UNKNOWN_COLUMN'],
  ]
  for (const [sql, code] of cases) {
    const res = await qa.call('analyst', {
      method: 'POST',
      url: '/v1/queries',
      payload: { sql, grant: qa.grant, epsilon: 0.1 },
    })
    t.equal(res.statusCode, 400, sql)
    t.equal(res.json().code, code, sql)
    t.match(res.json().position, { offset: Number, line: 1, column: Number }, `${sql}: has a position`)
  }
  const grant = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${qa.grant}` })).json()
  t.equal(grant.budget.epsilon.spent, 0)
})

t.test('the JSON form of a query gives the same answer shape and caches with its SQL twin', async (t) => {
  const qa = await queryApp(t)
  const sql = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: {
      sql: 'SELECT insured, COUNT(*) AS n FROM binzhou_households WHERE age >= 60 GROUP BY insured',
      grant: qa.grant,
      epsilon: 0.2,
    },
  })
  t.equal(sql.statusCode, 200, sql.body)
  const json = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: {
      query: {
        select: [
          { kind: 'column', column: 'insured' },
          { kind: 'aggregate', fn: 'count', alias: 'n' },
        ],
        from: 'binzhou_households',
        where: { kind: 'compare', column: 'age', op: '>=', value: 60 },
        groupBy: ['insured'],
      },
      grant: qa.grant,
      epsilon: 0.2,
    },
  })
  t.equal(json.statusCode, 200, json.body)
  t.equal(json.json().cached, true, 'the same canonical query')
  t.same(json.json().rows, sql.json().rows)
  t.same(
    sql.json().rows.map((r: unknown[]) => r[0]),
    [false, true],
    'boolean keys are booleans',
  )
  const both = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: {
      sql: 'SELECT COUNT(*) FROM binzhou_households',
      query: { select: [], from: 'x' },
      grant: qa.grant,
      epsilon: 0.1,
    },
  })
  t.equal(both.statusCode, 400)
})

t.test('the gaussian mechanism composes in zCDP: later answers cost less than the first', async (t) => {
  const qa = await queryApp(t)
  const charges: number[] = []
  for (let i = 0; i < 4; i++) {
    const res = await qa.call('analyst', {
      method: 'POST',
      url: '/v1/queries',
      payload: {
        sql: `SELECT COUNT(*), SUM(age) FROM binzhou_households WHERE household_size >= ${i + 1}`,
        grant: qa.grant,
        epsilon: 0.5,
        mechanism: 'gaussian',
      },
    })
    t.equal(res.statusCode, 200, res.body)
    const a = res.json()
    t.equal(a.privacy.mechanism, 'gaussian')
    t.ok(a.privacy.rho > 0)
    charges.push(a.privacy.charged.grant.epsilon)
    if (i === 0)
      t.equal(a.privacy.charged.grant.delta, 0.000001, "the first gaussian answer reserves the grant's delta")
    else t.equal(a.privacy.charged.grant.delta, 0)
  }
  t.ok(charges[0]! <= 0.5 + 1e-6, `the first costs at most its epsilon (${charges[0]})`)
  for (let i = 1; i < 4; i++)
    t.ok(charges[i]! < charges[i - 1]!, `answer ${i + 1} costs less than answer ${i} (${charges.join(', ')})`)
  const grant = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${qa.grant}` })).json()
  t.ok(grant.budget.epsilon.spent < 4 * 0.5, 'composition is sublinear')
  t.equal(
    Math.round(grant.budget.epsilon.spent * 1e6),
    charges.reduce((s, c) => s + Math.round(c * 1e6), 0),
    'the charges add up to what is spent',
  )
  const laplaceDelta = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: 'SELECT COUNT(*) FROM binzhou_households', grant: qa.grant, epsilon: 0.1, delta: 1e-6 },
  })
  t.equal(laplaceDelta.statusCode, 400)
  t.equal(laplaceDelta.json().code, 'VEILBOX_ERR_DP_INVALID_PARAMETER')
})

t.test('queries need a budget on the dataset and a version', async (t) => {
  const qa = await queryApp(t)
  await qa.app.db.run('DELETE FROM dataset_budgets')
  const res = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: 'SELECT COUNT(*) FROM binzhou_households', grant: qa.grant, epsilon: 0.1 },
  })
  t.equal(res.statusCode, 409)
  t.equal(res.json().code, 'VEILBOX_ERR_BUDGET_NOT_SET')
  const v = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: 'SELECT COUNT(*) FROM binzhou_households', grant: qa.grant, epsilon: 0.1, version: 7 },
  })
  t.equal(v.statusCode, 404)
  t.equal(v.json().code, 'VEILBOX_ERR_DATASET_VERSION_NOT_FOUND')
})

t.test('a fresh answer is sent as the very bytes stored for it', async (t) => {
  const qa = await queryApp(t)
  const res = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: {
      sql: 'SELECT district, COUNT(*) FROM binzhou_households GROUP BY district',
      grant: qa.grant,
      epsilon: 0.5,
    },
  })
  t.equal(res.statusCode, 200)
  const { queryId } = res.json() as { queryId: string }
  const stored = await qa.app.db.value<string>('SELECT body FROM answers WHERE query_id = $1', [queryId])
  t.equal(res.body, stored, 'one serialization, stored and sent')
})

t.test(
  'no release draws noise on its own path: every sample a query takes was reserved before it computed',
  async (t) => {
    const qa = await queryApp(t)
    const before = emptyTakeCount()
    // COUNT and AVG's count share a noise parameter; so do concurrent queries with one epsilon.
    const sql =
      'SELECT district, COUNT(*), SUM(income), AVG(income), VAR(income) FROM binzhou_households GROUP BY district'
    const results = await Promise.all(
      [0.5, 0.5, 0.7].map((epsilon, i) =>
        qa.call('analyst', {
          method: 'POST',
          url: '/v1/queries',
          payload: {
            sql: i === 1 ? sql.replace(' GROUP BY', ' WHERE age >= 18 GROUP BY') : sql,
            grant: qa.grant,
            epsilon,
          },
        }),
      ),
    )
    t.same(
      results.map((r) => r.statusCode),
      [200, 200, 200],
    )
    t.same(
      results.map((r) => (r.json() as { cached: boolean }).cached),
      [false, false, false],
      'three fresh releases',
    )
    t.equal(emptyTakeCount(), before, 'no take found its pool empty')
  },
)

t.test(
  'HAVING and LIMIT filter the released rows after noise, charged as the query, cached as their own',
  async (t) => {
    const qa = await queryApp(t)
    const run = (sql: string) =>
      qa.call('analyst', { method: 'POST', url: '/v1/queries', payload: { sql, grant: qa.grant, epsilon: 0.5 } })
    const all = await run('SELECT district, COUNT(*) AS n FROM binzhou_households GROUP BY district')
    t.equal(all.statusCode, 200, all.body)
    t.equal(all.json().rows.length, 7, 'every declared district without HAVING')
    const sql =
      'SELECT district, COUNT(*) AS n FROM binzhou_households GROUP BY district HAVING n >= 300 ORDER BY n DESC LIMIT 3'
    const kept = await run(sql)
    t.equal(kept.statusCode, 200, kept.body)
    const body = kept.json()
    t.ok(body.rows.length <= 3, 'LIMIT keeps at most three rows')
    t.ok(
      body.rows.every((r: [string, number]) => r[1] >= 300),
      'every kept row meets HAVING on its released value',
    )
    t.ok(
      body.rows.every((r: [string, number], i: number) => i === 0 || body.rows[i - 1][1] >= r[1]),
      'ORDER BY before LIMIT',
    )
    t.equal(body.intervals.length, body.rows.length, 'the intervals follow the rows')
    t.equal(body.privacy.charged.grant.epsilon, 0.5, 'charged as any query')
    t.equal(body.cached, false, 'a query with HAVING is another query than the one without')
    const again = await run(sql)
    t.equal(again.json().cached, true)
    t.same(again.json().rows, body.rows, 'a repeat returns the same rows')
    const none = await run('SELECT COUNT(*) FROM binzhou_households HAVING count < 0')
    t.equal(none.statusCode, 200, 'a HAVING that keeps nothing still answers')
    t.equal(none.json().rows.length, 0)
    const bad = await run('SELECT COUNT(*) FROM binzhou_households HAVING SUM(income) > 1')
    t.equal(bad.statusCode, 400)
    t.equal(bad.json().code, 'VEILBOX_ERR_QUERY_BAD_HAVING')
  },
)

t.test(
  'a bucketed GROUP BY releases every bucket, keyed by its lower edge, and caches with its JSON twin',
  async (t) => {
    const qa = await queryApp(t)
    const sql =
      'SELECT BUCKET(age, 20, 100, 20) AS decade, COUNT(*) AS n, AVG(income) FROM binzhou_households GROUP BY BUCKET(age, 20, 100, 20)'
    const res = await qa.call('analyst', {
      method: 'POST',
      url: '/v1/queries',
      payload: { sql, grant: qa.grant, epsilon: 0.1 },
    })
    t.equal(res.statusCode, 200, res.body)
    const a = res.json()
    t.same(a.columns, ['decade', 'n', 'avg_income'])
    t.same(
      a.rows.map((r: unknown[]) => r[0]),
      [20, 40, 60, 80],
      'every bucket, its key a number',
    )
    const total = a.rows.reduce((s: number, r: number[]) => s + r[1]!, 0)
    t.ok(total > 0, 'the buckets count the demo households')
    const json = await qa.call('analyst', {
      method: 'POST',
      url: '/v1/queries',
      payload: {
        query: {
          select: [
            { kind: 'column', column: 'age', bucket: { lower: 20, upper: 100, width: 20 }, alias: 'decade' },
            { kind: 'aggregate', fn: 'count', alias: 'n' },
            { kind: 'aggregate', fn: 'avg', column: 'income' },
          ],
          from: 'binzhou_households',
          groupBy: [{ column: 'age', bucket: { lower: 20, upper: 100, width: 20 } }],
        },
        grant: qa.grant,
        epsilon: 0.1,
      },
    })
    t.equal(json.statusCode, 200, json.body)
    t.equal(json.json().cached, true, 'the JSON form is the same query: a cached re-read')
    t.same(json.json().rows, a.rows)
    const bad = await qa.call('analyst', {
      method: 'POST',
      url: '/v1/queries',
      payload: {
        sql: 'SELECT COUNT(*) FROM binzhou_households GROUP BY BUCKET(age, 0, 120, 20)',
        grant: qa.grant,
        epsilon: 0.1,
      },
    })
    t.equal(bad.statusCode, 400)
    t.equal(bad.json().code, 'VEILBOX_ERR_QUERY_BAD_BUCKET')
    t.match(bad.json().detail, /declared bounds \[18, 100\]/)
    t.same(bad.json().position, { offset: 49, line: 1, column: 50 })
  },
)

t.test('COUNT(DISTINCT unit) counts households per district, and names its sensitivity', async (t) => {
  const qa = await queryApp(t)
  const res = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries/preview',
    payload: {
      sql: 'SELECT district, COUNT(DISTINCT household_id) AS households, COUNT(*) AS n FROM binzhou_households GROUP BY district',
      grant: qa.grant,
      epsilon: 0.2,
    },
  })
  t.equal(res.statusCode, 200, res.body)
  const p = res.json()
  const distinct = p.privacy.perAggregate.find((a: { name: string }) => a.name === 'households')
  t.match(distinct, { aggregate: 'count_distinct', column: 'household_id', epsilon: 0.1 })
  const answer = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: {
      sql: 'SELECT district, COUNT(DISTINCT household_id) AS households FROM binzhou_households GROUP BY district',
      grant: qa.grant,
      epsilon: 0.2,
    },
  })
  t.equal(answer.statusCode, 200, answer.body)
  t.same(answer.json().columns, ['district', 'households'])
  t.equal(answer.json().rows.length, DISTRICTS.length)
  const bad = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: 'SELECT COUNT(DISTINCT district) FROM binzhou_households', grant: qa.grant, epsilon: 0.2 },
  })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().code, 'VEILBOX_ERR_QUERY_BAD_AGGREGATE')
})

t.test('partition selection: keys found in the data, the selection priced separately, delta charged', async (t) => {
  const qa = await testApp(t)
  const spec = {
    id: 'firms',
    title: 'Enterprise registry (test)',
    classification: 'internal',
    privacyUnit: 'firm_id',
    maxRowsPerUnit: 1,
    columns: [
      { name: 'firm_id', type: 'id', protection: 'public' },
      { name: 'industry', type: 'category', protection: 'public', maxKeys: 20 },
      { name: 'staff', type: 'integer', protection: 'dp', lower: 0, upper: 500 },
    ],
  }
  t.equal((await qa.call('operator', { method: 'POST', url: '/v1/datasets', payload: spec })).statusCode, 201)
  let csv = 'firm_id,industry,staff\n'
  for (let i = 0; i < 600; i++) csv += `f${i},${['C13', 'F51', 'I64'][i % 3]},${i % 50}\n`
  csv += 'f_alone,Z99,7\n'
  const up = await qa.call('operator', {
    method: 'POST',
    url: '/v1/datasets/firms/versions',
    headers: { 'content-type': 'text/csv' },
    payload: csv,
  })
  t.equal(up.statusCode, 201, up.body)
  await qa.call('operator', { method: 'PUT', url: '/v1/datasets/firms/budget', payload: { epsilon: 10, delta: 1e-5 } })
  const grant = await qa.call('operator', {
    method: 'POST',
    url: '/v1/grants',
    payload: {
      analyst: 'alice',
      dataset: 'firms',
      purpose: 'test: firms by industry',
      epsilon: 5,
      delta: 1e-5,
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    },
  })
  t.equal(grant.statusCode, 201, grant.body)
  const sql = 'SELECT industry, COUNT(*) AS firms FROM firms GROUP BY industry'
  const payload = { sql, grant: grant.json().id, epsilon: 1, delta: 1e-6 }
  const preview = await qa.call('analyst', { method: 'POST', url: '/v1/queries/preview', payload })
  t.equal(preview.statusCode, 200, preview.body)
  t.match(preview.json().privacy, {
    epsilon: 1,
    delta: 1e-6,
    selection: { column: 'industry', epsilon: 0.5, delta: 1e-6, maxGroupsContributed: 1, noise: 2 },
  })
  t.match(preview.json().charge.grant, { epsilon: 1, delta: 1e-6 })
  const res = await qa.call('analyst', { method: 'POST', url: '/v1/queries', payload })
  t.equal(res.statusCode, 200, res.body)
  const a = res.json()
  t.same(
    a.rows.map((r: unknown[]) => r[0]),
    ['C13', 'F51', 'I64'],
    'the common keys, in key order; the key one firm holds is not released',
  )
  t.ok(a.privacy.selection.threshold > 1)
  t.same(a.privacy.charged.grant, { epsilon: 1, delta: 1e-6 })
  t.same(a.budget.remaining, { epsilon: 4, delta: 0.000009 })
  const noDelta = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql, grant: grant.json().id, epsilon: 1, delta: 1e-3 },
  })
  t.equal(noDelta.statusCode, 400)
  t.equal(noDelta.json().code, 'VEILBOX_ERR_DP_DELTA_TOO_LARGE')
  // A grant may set its own bound on keys per unit, in place of the dataset's.
  const threeKeys = await qa.call('operator', {
    method: 'POST',
    url: '/v1/grants',
    payload: {
      analyst: 'alice',
      dataset: 'firms',
      purpose: 'test: firms by industry, three keys per firm',
      epsilon: 1,
      delta: 1e-6,
      maxGroupsContributed: 3,
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    },
  })
  t.equal(threeKeys.statusCode, 201, threeKeys.body)
  t.equal(threeKeys.json().maxGroupsContributed, 3)
  const p3 = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries/preview',
    payload: { ...payload, grant: threeKeys.json().id },
  })
  t.match(p3.json().privacy.selection, { maxGroupsContributed: 3, noise: 6 }, 'Laplace scale 3 / 0.5')
  // Ingest refuses a version with more distinct keys than maxKeys, naming the row.
  let wide = 'firm_id,industry,staff\n'
  for (let i = 0; i < 21; i++) wide += `g${i},K${i},1\n`
  const tooMany = await qa.call('operator', {
    method: 'POST',
    url: '/v1/datasets/firms/versions',
    headers: { 'content-type': 'text/csv' },
    payload: wide,
  })
  t.equal(tooMany.statusCode, 400)
  t.equal(tooMany.json().code, 'VEILBOX_ERR_INGEST_BAD_ROW')
  t.match(tooMany.json().detail, /data row 21.*maxKeys of 20/)
})

t.test("a unit join of two owners' datasets answers through the API and charges both", async (t) => {
  const { CLAIMS_SPEC, claimsCsv } = await import('../../../src/demo/claims.js')
  const qa = await queryApp(t, { rows: 800 })
  t.equal((await qa.call('operator', { method: 'POST', url: '/v1/datasets', payload: CLAIMS_SPEC })).statusCode, 201)
  const chunks: Buffer[] = []
  for await (const c of claimsCsv(800)) chunks.push(Buffer.from(c as string))
  const up = await qa.call('operator', {
    method: 'POST',
    url: `/v1/datasets/${CLAIMS_SPEC.id}/versions`,
    headers: { 'content-type': 'text/csv' },
    payload: Buffer.concat(chunks),
  })
  t.equal(up.statusCode, 201, up.body)
  await qa.call('operator', {
    method: 'PUT',
    url: `/v1/datasets/${CLAIMS_SPEC.id}/budget`,
    payload: { epsilon: 5, delta: 0 },
  })
  // Research use is priced on both: the answer's price is each dataset's price list on its charge, added up.
  const priced = { households: { perEpsilon: 100_000, perAnswer: 500 }, claims: { perEpsilon: 50_000, perAnswer: 200 } }
  for (const [id, price] of [
    ['binzhou_households', priced.households],
    [CLAIMS_SPEC.id, priced.claims],
  ] as const) {
    const set = await qa.call('operator', {
      method: 'PUT',
      url: `/v1/datasets/${id}/prices`,
      payload: { prices: { research: price } },
    })
    t.equal(set.statusCode, 200, set.body)
  }
  const grant = await qa.call('operator', {
    method: 'POST',
    url: '/v1/grants',
    payload: {
      analyst: 'alice',
      datasets: ['binzhou_households', CLAIMS_SPEC.id],
      purpose: 'test: claims by district',
      scenario: 'research',
      epsilon: 3,
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    },
  })
  t.equal(grant.statusCode, 201, grant.body)
  const sql =
    'SELECT h.district, COUNT(DISTINCT household_id) AS households, AVG(c.claim_amount) AS avg_claim FROM binzhou_households h JOIN binzhou_claims c USING (household_id) GROUP BY h.district'
  const res = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql, grant: grant.json().id, epsilon: 0.4 },
  })
  t.equal(res.statusCode, 200, res.body)
  const a = res.json()
  t.same(a.datasets, ['binzhou_households', CLAIMS_SPEC.id])
  t.same(a.columns, ['district', 'households', 'avg_claim'])
  t.equal(a.rows.length, DISTRICTS.length)
  t.same(a.privacy.charged.datasets, {
    binzhou_households: { epsilon: 0.4, delta: 0 },
    [CLAIMS_SPEC.id]: { epsilon: 0.4, delta: 0 },
  })
  const { priceOf } = await import('../../../src/engine/market/money.js')
  t.equal(
    a.price.amount,
    Number(priceOf(priced.households, 400_000n) + priceOf(priced.claims, 400_000n)),
    "the price: both datasets' parts",
  )
  const claimsBudget = await qa.call('operator', { method: 'GET', url: `/v1/datasets/${CLAIMS_SPEC.id}/budget` })
  t.equal(claimsBudget.json().epsilon.spent, 0.4, "the claims owner's budget paid")
  const householdsBudget = await qa.call('operator', { method: 'GET', url: '/v1/datasets/binzhou_households/budget' })
  t.equal(householdsBudget.json().epsilon.spent, 0.4, "and the households'")
  t.match(a.receipt.joined, [{ dataset: CLAIMS_SPEC.id, version: 1, datasetCommitment: /^[0-9a-f]{64}$/ }])
  const verified = await qa.call('operator', {
    method: 'POST',
    url: '/v1/audit/receipts/verify',
    payload: { receipt: a.receipt },
  })
  t.equal(verified.statusCode, 200, verified.body)
  t.match(verified.json(), { ok: true, signature: true }, 'the receipt, naming both datasets, verifies')
  const again = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql, grant: grant.json().id, epsilon: 0.4 },
  })
  t.equal(again.json().cached, true)
  // A new version of the joined dataset makes the same request another query: answered fresh, not repeated.
  const chunks2: Buffer[] = []
  for await (const c of claimsCsv(800)) chunks2.push(Buffer.from(c as string))
  const up2 = await qa.call('operator', {
    method: 'POST',
    url: `/v1/datasets/${CLAIMS_SPEC.id}/versions`,
    headers: { 'content-type': 'text/csv' },
    payload: Buffer.concat(chunks2),
  })
  t.equal(up2.statusCode, 201, up2.body)
  const fresh = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql, grant: grant.json().id, epsilon: 0.4 },
  })
  t.equal(fresh.statusCode, 200, fresh.body)
  t.equal(fresh.json().cached, false, 'the join reads the new claims version')
  t.match(fresh.json().receipt.joined, [{ dataset: CLAIMS_SPEC.id, version: 2 }])
  // A grant on the households alone cannot read the claims through a join.
  const narrow = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql, grant: qa.grant, epsilon: 0.4 },
  })
  t.equal(narrow.statusCode, 403)
  t.equal(narrow.json().code, 'VEILBOX_ERR_POLICY_DATASET_MISMATCH')
})
