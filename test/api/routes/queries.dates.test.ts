/**
 * Dates and timestamps through the API (issue 24 point 2): a dataset with a
 * date and a timestamp column and declared ranges, ingest refusing values
 * outside them or malformed (naming the row and column), WHERE comparing
 * with date strings, and calendar buckets: one row per declared period,
 * empty ones included, labelled by the period's text.
 */
import t, { type Test } from 'tap'
import { testApp } from '../../helpers/app.js'

const SPEC = {
  id: 'permits',
  title: 'Building permits',
  classification: 'internal',
  privacyUnit: 'firm',
  maxRowsPerUnit: 5,
  columns: [
    { name: 'firm', type: 'id', protection: 'dp' },
    { name: 'd', type: 'date', protection: 'public', lower: '2024-01-01', upper: '2024-12-31' },
    {
      name: 'at',
      type: 'timestamp',
      protection: 'public',
      lower: '2024-01-01T00:00:00Z',
      upper: '2024-12-31T23:59:59.999Z',
      nullable: true,
    },
    { name: 'cost', type: 'integer', protection: 'dp', lower: 0, upper: 1000 },
  ],
}

/** Rows in January to June only: July to December are empty months. */
function csv(rows: number): string {
  const lines = ['firm,d,at,cost']
  for (let i = 0; i < rows; i++) {
    const month = 1 + (i % 6)
    const day = 1 + (i % 28)
    const d = `2024-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`
    const at = i % 10 === 0 ? '' : `${d}T${String(8 + (i % 16)).padStart(2, '0')}:30:00+08:00`
    lines.push(`f${i % 400},${d},${at},${i % 1000}`)
  }
  return `${lines.join('\n')}\n`
}

async function withPermits(t: Test, rows = 1200) {
  const ta = await testApp(t)
  const reg = await ta.call('operator', { method: 'POST', url: '/v1/datasets', payload: SPEC })
  t.equal(reg.statusCode, 201, reg.body)
  const up = await ta.call('operator', {
    method: 'POST',
    url: '/v1/datasets/permits/versions',
    headers: { 'content-type': 'text/csv' },
    payload: csv(rows),
  })
  t.equal(up.statusCode, 201, up.body)
  const budget = await ta.call('operator', {
    method: 'PUT',
    url: '/v1/datasets/permits/budget',
    payload: { epsilon: 100, delta: 1e-5 },
  })
  t.equal(budget.statusCode, 200, budget.body)
  const grant = await ta.call('operator', {
    method: 'POST',
    url: '/v1/grants',
    payload: {
      analyst: 'alice',
      dataset: 'permits',
      purpose: 'test: permits per month',
      epsilon: 50,
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    },
  })
  t.equal(grant.statusCode, 201, grant.body)
  const run = (sql: string, epsilon = 1) =>
    ta.call('analyst', { method: 'POST', url: '/v1/queries', payload: { sql, grant: grant.json().id, epsilon } })
  return { ...ta, run, grant: grant.json().id as string }
}

const MONTHS = Array.from({ length: 12 }, (_, i) => `2024-${String(i + 1).padStart(2, '0')}`)

t.test('SELECT MONTH(d), COUNT(*) GROUP BY MONTH(d) answers one row per declared month', async (t) => {
  const qa = await withPermits(t)
  const res = await qa.run('SELECT MONTH(d), COUNT(*) AS n FROM permits GROUP BY MONTH(d)', 5)
  t.equal(res.statusCode, 200, res.body)
  const a = res.json()
  t.same(
    a.rows.map((r: unknown[]) => r[0]),
    MONTHS,
    'every month of the declared range, empty ones included, labelled YYYY-MM',
  )
  // 200 rows in each of January to June, none after: Laplace noise at epsilon 5 (sensitivity 5) stays far within 100.
  a.rows.forEach((r: [string, number], i: number) => {
    const expected = i < 6 ? 200 : 0
    t.ok(Math.abs(r[1] - expected) < 100, `${r[0]}: ${r[1]} near ${expected}`)
  })
  const json = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: {
      query: {
        select: [
          { kind: 'column', column: 'd', calendar: 'month' },
          { kind: 'aggregate', fn: 'count', alias: 'n' },
        ],
        from: 'permits',
        groupBy: [{ column: 'd', calendar: 'month' }],
      },
      grant: qa.grant,
      epsilon: 5,
    },
  })
  t.equal(json.statusCode, 200, json.body)
  t.equal(json.json().cached, true, 'the JSON form is the same query: a cached re-read')
  t.same(json.json().rows, a.rows)
  const years = await qa.run('SELECT YEAR(d), COUNT(*) FROM permits GROUP BY YEAR(d)')
  t.equal(years.statusCode, 200, years.body)
  t.same(
    years.json().rows.map((r: unknown[]) => r[0]),
    ['2024'],
  )
  const weeks = await qa.run('SELECT WEEK(d), COUNT(*) FROM permits GROUP BY WEEK(d)')
  t.equal(weeks.statusCode, 200, weeks.body)
  const w = weeks.json().rows.map((r: unknown[]) => r[0])
  t.equal(w.length, 53, '2024-01-01 is a Monday and 2024-12-31 a Tuesday: ISO weeks 2024-W01 to 2025-W01')
  t.equal(w[0], '2024-W01')
  t.equal(w[52], '2025-W01')
  const days = await qa.run('SELECT DAY(at), COUNT(*) FROM permits GROUP BY DAY(at)')
  t.equal(days.statusCode, 200, days.body)
  t.equal(days.json().rows.length, 366, 'every day of the leap year 2024 (UTC)')
  t.equal(days.json().rows[59][0], '2024-02-29')
})

t.test('WHERE compares date and timestamp columns with date strings', async (t) => {
  const qa = await withPermits(t)
  const res = await qa.run(
    "SELECT MONTH(d), COUNT(*) FROM permits WHERE d >= '2024-03-01' AND d < '2024-05-01' GROUP BY MONTH(d)",
    5,
  )
  t.equal(res.statusCode, 200, res.body)
  res.json().rows.forEach((r: [string, number]) => {
    const expected = r[0] === '2024-03' || r[0] === '2024-04' ? 200 : 0
    t.ok(Math.abs(r[1] - expected) < 100, `${r[0]}: ${r[1]} near ${expected}`)
  })
  const ts = await qa.run("SELECT COUNT(*) FROM permits WHERE at BETWEEN '2024-06-01' AND '2024-12-31T00:00:00Z'", 5)
  t.equal(ts.statusCode, 200, ts.body)
  t.ok(Math.abs(ts.json().rows[0][0] - 180) < 100, 'a date against a timestamp column is its midnight UTC')
  const keyword = await qa.run("SELECT COUNT(*) FROM permits WHERE d >= DATE '2024-01-01'")
  t.equal(keyword.statusCode, 400, keyword.body)
  t.equal(keyword.json().code, 'VEILBOX_ERR_QUERY_BAD_LITERAL')
  t.match(keyword.json().detail, /without DATE/)
  const bad = await qa.run("SELECT COUNT(*) FROM permits WHERE d >= '2024-13-01'")
  t.equal(bad.statusCode, 400, bad.body)
  t.equal(bad.json().code, 'VEILBOX_ERR_QUERY_TYPE_MISMATCH')
  const num = await qa.run('SELECT COUNT(*) FROM permits WHERE d >= 19723')
  t.equal(num.statusCode, 400, num.body)
  t.equal(num.json().code, 'VEILBOX_ERR_QUERY_TYPE_MISMATCH')
  const sum = await qa.run('SELECT SUM(d) FROM permits')
  t.equal(sum.statusCode, 400, sum.body)
  t.equal(sum.json().code, 'VEILBOX_ERR_QUERY_BAD_AGGREGATE')
  const plain = await qa.run('SELECT d, COUNT(*) FROM permits GROUP BY d')
  t.equal(plain.statusCode, 400, plain.body)
  t.equal(plain.json().code, 'VEILBOX_ERR_QUERY_BAD_GROUP_BY')
  t.match(plain.json().detail, /GROUP BY YEAR\(d\), MONTH\(d\), WEEK\(d\) or DAY\(d\)/)
  const month = await qa.run('SELECT MONTH(cost), COUNT(*) FROM permits GROUP BY MONTH(cost)')
  t.equal(month.statusCode, 400, month.body)
  t.equal(month.json().code, 'VEILBOX_ERR_QUERY_BAD_BUCKET')
})

t.test('ingest refuses dates outside the declared range or malformed, naming the row and column', async (t) => {
  const qa = await withPermits(t, 10)
  const upload = (body: string) =>
    qa.call('operator', {
      method: 'POST',
      url: '/v1/datasets/permits/versions',
      headers: { 'content-type': 'text/csv' },
      payload: body,
    })
  const cases: [string, RegExp][] = [
    ['f1,2024-01-01,,1\nf2,2025-01-01,,1\n', /row 2.*\bd\b.*outside the declared range \[2024-01-01, 2024-12-31\]/s],
    ['f1,2024-02-30,,1\n', /row 1.*\bd\b.*not a date \(YYYY-MM-DD\)/s],
    ['f1,2024-1-5,,1\n', /row 1.*not a date/s],
    ['f1,2024-01-05,2024-01-01T00:00:00,1\n', /row 1.*\bat\b.*not a timestamp/s],
    ['f1,2024-01-05,2024-01-01T07:59:59+08:00,1\n', /row 1.*\bat\b.*outside the declared range/s],
  ]
  for (const [rows, why] of cases) {
    const res = await upload(`firm,d,at,cost\n${rows}`)
    t.equal(res.statusCode, 400, res.body)
    t.match(`${res.json().detail} ${JSON.stringify(res.json())}`, why)
  }
  const json = await qa.call('operator', {
    method: 'POST',
    url: '/v1/datasets/permits/versions',
    headers: { 'content-type': 'application/x-ndjson' },
    payload: '{"firm":"f1","d":"2024-03-01","at":null,"cost":1}\n{"firm":"f2","d":20000,"at":null,"cost":1}\n',
  })
  t.equal(json.statusCode, 400, json.body)
  t.match(json.body, /row 2/)
  t.match(json.body, /not a date/)
})

t.test('date specs: ISO bounds required, no sourced or he date columns', async (t) => {
  const ta = await testApp(t)
  const register = (columns: unknown[], extra: Record<string, unknown> = {}) =>
    ta.call('operator', {
      method: 'POST',
      url: '/v1/datasets',
      payload: { ...SPEC, id: 'p2', columns: [SPEC.columns[0], ...columns], ...extra },
    })
  const noBounds = await register([{ name: 'd', type: 'date', protection: 'public' }])
  t.equal(noBounds.statusCode, 400, noBounds.body)
  t.match(noBounds.json().detail, /declares "lower" and "upper" as YYYY-MM-DD/)
  const badBound = await register([
    { name: 'd', type: 'date', protection: 'public', lower: '2024-01-32', upper: '2025-01-01' },
  ])
  t.equal(badBound.statusCode, 400, badBound.body)
  t.match(badBound.json().detail, /is not a bound/)
  const he = await register([{ name: 'd', type: 'date', protection: 'he', lower: '2024-01-01', upper: '2025-01-01' }])
  t.equal(he.statusCode, 400, he.body)
  const sourced = await register(
    [{ name: 'd', type: 'date', protection: 'public', lower: '2024-01-01', upper: '2025-01-01' }],
    {
      source: { kind: 'parquet', path: 'p.parquet' },
    },
  )
  t.equal(sourced.statusCode, 400, sourced.body)
  t.match(sourced.json().detail, /not available on sourced datasets/)
  const days = await register([
    { name: 'd', type: 'date', protection: 'public', lower: '1990-01-01', upper: '2024-12-31' },
  ])
  t.equal(days.statusCode, 201, days.body)
  t.equal(days.json().columns[1].lower, 7305, 'stored as the day number since 1970-01-01')
})
