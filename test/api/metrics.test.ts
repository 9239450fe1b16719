import t from 'tap'
import { VeilboxMetrics } from '../../src/api/metrics.js'
import type { Custodian } from '../../src/engine/he/types.js'
import { fileURLToPath } from 'node:url'
import { peopleCsv, queryApp, testApp, type TestApp } from '../helpers/app.js'
import { CLINIC_ID, heApp } from '../helpers/he.js'

const FIXTURE = fileURLToPath(new URL('../fixtures/sandbox-worker.ts', import.meta.url))

const GROUPED = 'SELECT district, COUNT(*), AVG(income) FROM binzhou_households GROUP BY district'
const TOKEN = 'scrape-token-of-at-least-thirty-two-characters'

/** The value of one sample line (`name{labels} value`), or null when absent. */
function sample(text: string, series: string): number | null {
  for (const line of text.split('\n')) if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1))
  return null
}

function families(text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) out.set(m[1]!, m[2]!)
  return out
}

const scrape = async (qa: TestApp) => {
  const res = await qa.call('operator', { method: 'GET', url: '/metrics' })
  if (res.statusCode !== 200) throw new Error(res.body)
  return res.body
}

t.test('/metrics after a release, a cached re-read, a refusal and an upload: every family, with counts', async (t) => {
  const qa = await queryApp(t, { rows: 3000 })
  const body = { sql: GROUPED, grant: qa.grant, epsilon: 0.25 }
  const first = await qa.call('analyst', { method: 'POST', url: '/v1/queries', payload: body })
  t.equal(first.statusCode, 200, first.body)
  t.equal(first.json().cached, false)
  const again = await qa.call('analyst', { method: 'POST', url: '/v1/queries', payload: body })
  t.equal(again.json().cached, true)
  const other = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: 'SELECT COUNT(*) FROM binzhou_households', grant: qa.grant, epsilon: 0.5 },
  })
  t.equal(other.statusCode, 200, other.body)
  const refused = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: 'SELECT COUNT(*) FROM nowhere', grant: qa.grant, epsilon: 0.1 },
  })
  t.equal(refused.statusCode >= 400, true)
  const code: string = refused.json().code

  const text = await scrape(qa)
  const types = families(text)
  for (const [name, type] of [
    ['veilbox_http_requests_total', 'counter'],
    ['veilbox_http_request_duration_seconds', 'histogram'],
    ['veilbox_sandbox_queue_depth', 'gauge'],
    ['veilbox_sandbox_busy_workers', 'gauge'],
    ['veilbox_sandbox_workers', 'gauge'],
    ['veilbox_sandbox_deadline_hits_total', 'counter'],
    ['veilbox_sandbox_crashes_total', 'counter'],
    ['veilbox_column_cache_bytes', 'gauge'],
    ['veilbox_column_cache_budget_bytes', 'gauge'],
    ['veilbox_column_cache_versions', 'gauge'],
    ['veilbox_column_cache_evictions_total', 'counter'],
    ['veilbox_query_releases_total', 'counter'],
    ['veilbox_query_cached_rereads_total', 'counter'],
    ['veilbox_query_refusals_total', 'counter'],
    ['veilbox_dataset_epsilon_charged_total', 'counter'],
    ['veilbox_custodian_calls_total', 'counter'],
    ['veilbox_custodian_call_duration_seconds', 'histogram'],
    ['veilbox_ingest_rows_total', 'counter'],
    ['process_cpu_seconds_total', 'counter'],
    ['nodejs_eventloop_lag_seconds', 'gauge'],
  ] as const)
    t.equal(types.get(name), type, `${name} is a ${type}`)

  t.equal(sample(text, 'veilbox_query_releases_total'), 2, 'two fresh answers')
  t.equal(sample(text, 'veilbox_query_cached_rereads_total'), 1, 'one stored answer')
  t.equal(sample(text, `veilbox_query_refusals_total{code="${code}"}`), 1, `one refusal, by its code ${code}`)
  t.equal(sample(text, 'veilbox_dataset_epsilon_charged_total{dataset="binzhou_households"}'), 0.75)
  t.equal(sample(text, 'veilbox_ingest_rows_total'), 3000, 'the rows of the one upload')
  t.equal(sample(text, 'veilbox_sandbox_workers'), 1)
  t.equal(sample(text, 'veilbox_sandbox_queue_depth'), 0)
  t.equal(sample(text, 'veilbox_sandbox_busy_workers'), 0)
  t.equal(sample(text, 'veilbox_sandbox_deadline_hits_total'), 0)
  t.equal(sample(text, 'veilbox_sandbox_crashes_total'), 0)
  t.ok((sample(text, 'veilbox_column_cache_bytes') ?? 0) > 0, 'the loaded version takes bytes')
  t.equal(sample(text, 'veilbox_column_cache_versions'), 1)
  t.equal(sample(text, 'veilbox_column_cache_evictions_total'), 0)
  t.equal(
    sample(text, 'veilbox_http_requests_total{method="POST",route="/v1/queries",status_code="200"}'),
    3,
    'by route pattern and status',
  )
  t.equal(
    sample(text, 'veilbox_http_request_duration_seconds_count{method="POST",route="/v1/queries",status_code="200"}'),
    3,
  )
  t.equal(
    sample(text, 'veilbox_http_requests_total{method="POST",route="/v1/datasets/:id/versions",status_code="201"}'),
    1,
    'the pattern, not the URL with its id',
  )
  t.notOk(text.includes('/v1/datasets/binzhou_households'), 'no URL with an id')
  const lost = await qa.call('analyst', { method: 'GET', url: '/v1/no/such/path/p123' })
  t.equal(lost.statusCode, 404)
  const afterLost = await scrape(qa)
  t.equal(
    sample(afterLost, 'veilbox_http_requests_total{method="GET",route="unmatched",status_code="404"}'),
    1,
    'a path that matches no route is counted as unmatched',
  )
  t.notOk(afterLost.includes('p123'), 'and its URL shows nowhere')
  // Nothing of who asked or what: no analyst, grant, key or query text, no category value.
  for (const secret of [qa.grant, 'alice', qa.keys.analyst, 'district', '滨城区', 'SELECT'])
    t.notOk(text.includes(secret), `nothing names ${secret}`)

  // Counters only grow: a second scrape after one more release shows exactly one more.
  await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: 'SELECT COUNT(*) FROM binzhou_households', grant: qa.grant, epsilon: 0.125 },
  })
  const later = await scrape(qa)
  t.equal(sample(later, 'veilbox_query_releases_total'), 3)
  t.equal(sample(later, 'veilbox_dataset_epsilon_charged_total{dataset="binzhou_households"}'), 0.875)
})

t.test('analysts, owners and custodians are refused; no key is 401; the scrape token works', async (t) => {
  const qa = await testApp(t, { metricsToken: TOKEN })
  for (const role of ['analyst', 'custodian'] as const) {
    const res = await qa.call(role, { method: 'GET', url: '/metrics' })
    t.equal(res.statusCode, 403, role)
    t.match(res.headers['content-type'], /application\/problem\+json/)
    t.equal(res.json().code, 'VEILBOX_ERR_AUTH_FORBIDDEN_ROLE')
  }
  const none = await qa.call(null, { method: 'GET', url: '/metrics' })
  t.equal(none.statusCode, 401)
  t.equal(none.json().code, 'VEILBOX_ERR_AUTH_MISSING_KEY')
  const wrong = await qa.call(null, {
    method: 'GET',
    url: '/metrics',
    headers: { authorization: `Bearer ${TOKEN.slice(0, -1)}x` },
  })
  t.equal(wrong.statusCode, 401)
  t.equal(wrong.json().code, 'VEILBOX_ERR_AUTH_INVALID_KEY')
  const token = await qa.call(null, { method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(token.statusCode, 200)
  t.match(token.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  t.match(token.body, /# TYPE veilbox_query_releases_total counter/)
  const op = await qa.call('operator', { method: 'GET', url: '/metrics' })
  t.equal(op.statusCode, 200, 'an operator key works beside the token')
})

t.test('owners are refused', async (t) => {
  const qa = await testApp(t)
  const owner = await qa.call('operator', {
    method: 'POST',
    url: '/v1/keys',
    payload: { name: 'bureau', role: 'owner' },
  })
  t.equal(owner.statusCode, 201, owner.body)
  const res = await qa.app.inject({
    method: 'GET',
    url: '/metrics',
    headers: { authorization: `Bearer ${owner.json().key}` },
  })
  t.equal(res.statusCode, 403)
  t.equal(res.json().code, 'VEILBOX_ERR_AUTH_FORBIDDEN_ROLE')
})

t.test('VEILBOX_METRICS_PORT: /metrics on a port of its own, and not on the service port', async (t) => {
  const qa = await testApp(t, { metricsPort: 0, metricsHost: '127.0.0.1', metricsToken: TOKEN })
  const server = qa.app.metricsServer
  t.ok(server, 'a metrics server')
  const address = server!.server.address()
  if (address === null || typeof address === 'string') throw new Error('the metrics server is not listening on TCP')
  const url = `http://127.0.0.1:${address.port}/metrics`
  t.equal((await qa.call('operator', { method: 'GET', url: '/metrics' })).statusCode, 404, 'not on the service port')
  const byToken = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(byToken.status, 200)
  t.match(await byToken.text(), /# TYPE veilbox_http_requests_total counter/)
  const byOperator = await fetch(url, { headers: { authorization: `Bearer ${qa.keys.operator}` } })
  t.equal(byOperator.status, 200)
  await byOperator.text()
  const byAnalyst = await fetch(url, { headers: { authorization: `Bearer ${qa.keys.analyst}` } })
  t.equal(byAnalyst.status, 403)
  t.equal(((await byAnalyst.json()) as { code: string }).code, 'VEILBOX_ERR_AUTH_FORBIDDEN_ROLE')
  const none = await fetch(url)
  t.equal(none.status, 401)
  t.match(none.headers.get('content-type') ?? '', /application\/problem\+json/)
  await none.text()
  const elsewhere = await fetch(url.replace('/metrics', '/v1/datasets'), {
    headers: { authorization: `Bearer ${TOKEN}` },
  })
  t.equal(elsewhere.status, 404, 'the metrics port answers nothing else')
  await elsewhere.text()
})

t.test('VEILBOX_METRICS=off: no /metrics', async (t) => {
  const qa = await testApp(t, { metrics: false })
  t.equal((await qa.call('operator', { method: 'GET', url: '/metrics' })).statusCode, 404)
})

t.test('column cache evictions and a second upload are counted', async (t) => {
  // A budget of one byte: each version loaded evicts the one before once its lease ends.
  const qa = await testApp(t, { columnCacheBytes: 1 })
  const { PEOPLE_SPEC } = await import('../helpers/app.js')
  t.equal((await qa.call('operator', { method: 'POST', url: '/v1/datasets', payload: PEOPLE_SPEC })).statusCode, 201)
  for (const rows of [40, 60]) {
    const up = await qa.call('operator', {
      method: 'POST',
      url: '/v1/datasets/people/versions',
      headers: { 'content-type': 'text/csv' },
      payload: peopleCsv(rows),
    })
    t.equal(up.statusCode, 201, up.body)
  }
  await qa.app.columnCache.acquire('people', 1).then((l) => l.end())
  await qa.app.columnCache.acquire('people', 2).then((l) => l.end())
  const text = await scrape(qa)
  t.equal(sample(text, 'veilbox_ingest_rows_total'), 100)
  t.ok((sample(text, 'veilbox_column_cache_evictions_total') ?? 0) >= 1, 'an eviction')
})

t.test('custodian calls are counted and timed by operation and outcome only', async (t) => {
  const m = new VeilboxMetrics({ defaults: false })
  const inner: Custodian = {
    createKeys: async () => {
      throw new Error('no')
    },
    publicMaterial: async () => {
      throw new Error('not used')
    },
    decryptAggregates: async (r) => ({ queryId: r.queryId, values: [] }),
  }
  const c = m.custodian(inner)
  await c.decryptAggregates({ dataset: 'd', profileId: 'p', queryId: 'q_1', aggregates: [] })
  await c.decryptAggregates({ dataset: 'd', profileId: 'p', queryId: 'q_2', aggregates: [] })
  await t.rejects(c.createKeys('d', { id: 'd' } as never, {} as never))
  const text = (await m.scrape()).text
  t.equal(sample(text, 'veilbox_custodian_calls_total{operation="decrypt",outcome="ok"}'), 2)
  t.equal(sample(text, 'veilbox_custodian_calls_total{operation="create_keys",outcome="error"}'), 1)
  t.equal(sample(text, 'veilbox_custodian_call_duration_seconds_count{operation="decrypt",outcome="ok"}'), 2)
  t.notOk(text.includes('q_1'), 'nothing of the query')
  t.notOk(text.includes('process_cpu'), 'no default metrics when asked for none')
})

t.test('two apps in one process keep registries of their own', async (t) => {
  const a = new VeilboxMetrics()
  const b = new VeilboxMetrics()
  a.queries.released()
  t.equal(sample((await a.scrape()).text, 'veilbox_query_releases_total'), 1)
  t.equal(sample((await b.scrape()).text, 'veilbox_query_releases_total'), 0)
})

t.test(
  'a deadline hit and a crashed worker: counted in the sandbox, the refusals and the epsilon charged',
  async (t) => {
    const qa = await queryApp(t, { rows: 600, sandboxWorker: FIXTURE, overrides: { queryTimeoutMs: 3000 } })
    const ask = (code: number, epsilon: number) =>
      qa.call('analyst', {
        method: 'POST',
        url: '/v1/queries',
        payload: { sql: `SELECT COUNT(*) FROM binzhou_households WHERE age = ${code}`, grant: qa.grant, epsilon },
      })
    // A first query starts the worker (under tsx, slower than a deadline); its release is counted too.
    // A busy answer (the worker still booting) is free: ask again.
    let warm = await ask(30, 0.125)
    for (let i = 0; i < 5 && warm.statusCode === 503; i++) warm = await ask(30, 0.125)
    t.equal(warm.statusCode, 200, warm.body)
    const spin = await ask(-1001, 0.5)
    t.equal(spin.json().code, 'VEILBOX_ERR_SANDBOX_TIMEOUT', spin.body)
    const dead = await ask(-1002, 0.25)
    t.equal(dead.json().code, 'VEILBOX_ERR_SANDBOX_CRASHED', dead.body)
    const text = await scrape(qa)
    t.equal(sample(text, 'veilbox_sandbox_deadline_hits_total'), 1)
    t.equal(sample(text, 'veilbox_sandbox_crashes_total'), 1)
    t.equal(sample(text, 'veilbox_query_refusals_total{code="VEILBOX_ERR_SANDBOX_TIMEOUT"}'), 1)
    t.equal(sample(text, 'veilbox_query_refusals_total{code="VEILBOX_ERR_SANDBOX_CRASHED"}'), 1)
    t.equal(sample(text, 'veilbox_query_releases_total'), 1, 'only the first query released')
    t.equal(
      sample(text, 'veilbox_dataset_epsilon_charged_total{dataset="binzhou_households"}'),
      0.625,
      'the release and the deadline hit were charged, the crash was not',
    )
  },
)

t.test('the in-process custodian making a dataset its keys is counted', async (t) => {
  const qa = await heApp(t, { maxRows: 1000, degree: 4096 })
  const text = await scrape(qa)
  t.ok(
    (sample(text, 'veilbox_custodian_calls_total{operation="create_keys",outcome="ok"}') ?? 0) >= 1,
    'create_keys counted',
  )
  t.ok((sample(text, 'veilbox_custodian_call_duration_seconds_count{operation="create_keys",outcome="ok"}') ?? 0) >= 1)
  t.notOk(text.includes(CLINIC_ID), 'no dataset named outside the epsilon counter')
})
