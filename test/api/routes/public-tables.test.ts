/**
 * Public reference tables through the API (issue 21): registered with
 * `public: true` and a key, one row per key (ingest refuses a repeat, naming
 * both rows), seen by every analyst, joined to a dataset on the key without
 * the grant covering them, grouped by their columns (the values the version
 * holds are the domain), never charged, and named in the receipt. Queried
 * alone they are refused with VEILBOX_ERR_QUERY_PUBLIC_TABLE.
 */
import t, { type Test } from 'tap'
import { queryApp } from '../../helpers/app.js'
import { DEMO_REGIONS_SPEC, DISTRICT_REGIONS, regionsCsv } from '../../../src/demo/regions.js'

async function csvOf(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of stream) chunks.push(Buffer.from(c as string))
  return Buffer.concat(chunks)
}

async function withRegions(t: Test, rows = 600) {
  const qa = await queryApp(t, { rows })
  const reg = await qa.call('operator', { method: 'POST', url: '/v1/datasets', payload: DEMO_REGIONS_SPEC })
  t.equal(reg.statusCode, 201, reg.body)
  const up = await qa.call('operator', {
    method: 'POST',
    url: `/v1/datasets/${DEMO_REGIONS_SPEC.id}/versions`,
    headers: { 'content-type': 'text/csv' },
    payload: await csvOf(regionsCsv()),
  })
  t.equal(up.statusCode, 201, up.body)
  return qa
}

const REGIONS = [...new Set(DISTRICT_REGIONS.map((r) => r[1]))].sort()
const BY_REGION =
  'SELECT r.region, COUNT(*) AS n, SUM(income) AS total FROM binzhou_households h JOIN binzhou_district_regions r ON h.district = r.district GROUP BY r.region'

t.test('a join with a public table groups by its column, charges only the dataset, and names the table', async (t) => {
  const qa = await withRegions(t)
  const before = (await qa.call('operator', { method: 'GET', url: '/v1/datasets/binzhou_households/budget' })).json()
  const res = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: BY_REGION, grant: qa.grant, epsilon: 0.3 },
  })
  t.equal(res.statusCode, 200, res.body)
  const a = res.json()
  t.same(a.columns, ['region', 'n', 'total'])
  t.same(
    a.rows.map((r: unknown[]) => r[0]),
    REGIONS,
    "every value the table's version holds is a key, in sorted order",
  )
  t.same(a.privacy.charged.grant, { epsilon: 0.3, delta: 0 })
  t.notOk(a.datasets?.includes(DEMO_REGIONS_SPEC.id), 'the public table is no charged dataset')
  t.match(a.receipt.publicTables, [{ dataset: DEMO_REGIONS_SPEC.id, version: 1, datasetCommitment: /^[0-9a-f]{64}$/ }])
  const after = (await qa.call('operator', { method: 'GET', url: '/v1/datasets/binzhou_households/budget' })).json()
  t.equal(after.epsilon.spent - before.epsilon.spent, 0.3, "the households' budget paid")
  const verified = await qa.call('operator', {
    method: 'POST',
    url: '/v1/audit/receipts/verify',
    payload: { receipt: a.receipt },
  })
  t.match(verified.json(), { ok: true, signature: true })
  // A repeat is the stored answer, free, though the grant does not name the table.
  const again = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: BY_REGION, grant: qa.grant, epsilon: 0.3 },
  })
  t.equal(again.json().cached, true)
  t.same(again.json().rows, a.rows)
  // A filter on the table's column, and USING on the key, work the same way.
  const filtered = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: {
      sql: "SELECT admin_kind, COUNT(*) FROM binzhou_households JOIN binzhou_district_regions USING (district) WHERE region = '南部' GROUP BY admin_kind",
      grant: qa.grant,
      epsilon: 0.1,
    },
  })
  t.equal(filtered.statusCode, 200, filtered.body)
  t.same(
    filtered.json().rows.map((r: unknown[]) => r[0]),
    ['区', '县', '县级市'],
    'a declared domain stays the declared one',
  )
})

t.test(
  'the exact answer: the join drops no row whose district the table has, and maps each to its region',
  async (t) => {
    const qa = await withRegions(t, 400)
    // At epsilon 1e6 the noise is far below one row: the released counts are the exact ones.
    const byRegion = await qa.call('analyst', {
      method: 'POST',
      url: '/v1/queries',
      payload: { sql: BY_REGION.replace(', SUM(income) AS total', ''), grant: qa.grant, epsilon: 5 },
    })
    const byDistrict = await qa.call('analyst', {
      method: 'POST',
      url: '/v1/queries',
      payload: {
        sql: 'SELECT district, COUNT(*) FROM binzhou_households GROUP BY district',
        grant: qa.grant,
        epsilon: 5,
      },
    })
    t.equal(byRegion.statusCode, 200, byRegion.body)
    const districtCount = new Map<string, number>(byDistrict.json().rows.map((r: [string, number]) => [r[0], r[1]]))
    const expected = new Map<string, number>()
    for (const [d, region] of DISTRICT_REGIONS)
      expected.set(region, (expected.get(region) ?? 0) + districtCount.get(d)!)
    for (const [region, n] of byRegion.json().rows as [string, number][]) {
      // Each count's noise at epsilon 5 (laplace, sensitivity m): within a few rows, never tens.
      t.ok(Math.abs(n - expected.get(region)!) < 40, `${region}: ${n} near ${expected.get(region)}`)
    }
  },
)

t.test('public tables: seen by analysts, refused alone, keys unique, no grant needed', async (t) => {
  const qa = await withRegions(t)
  const seen = await qa.call('analyst', { method: 'GET', url: `/v1/datasets/${DEMO_REGIONS_SPEC.id}` })
  t.equal(seen.statusCode, 200, seen.body)
  t.match(seen.json(), { public: true, key: 'district' })
  const alone = await qa.call('operator', {
    method: 'POST',
    url: '/v1/grants',
    payload: {
      analyst: 'alice',
      datasets: ['binzhou_households', DEMO_REGIONS_SPEC.id],
      purpose: 'test',
      epsilon: 1,
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    },
  })
  // A grant may name a public table (nothing to guard); a query over it alone is still refused.
  t.equal(alone.statusCode, 201, alone.body)
  const res = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: {
      sql: `SELECT region, COUNT(*) FROM ${DEMO_REGIONS_SPEC.id} GROUP BY region`,
      grant: alone.json().id,
      epsilon: 0.1,
    },
  })
  t.equal(res.statusCode, 400, res.body)
  t.equal(res.json().code, 'VEILBOX_ERR_QUERY_PUBLIC_TABLE')
  t.match(res.json().detail, /join it to a dataset on its key/)
  // A second row for one key is refused, naming both rows; nothing is stored.
  const dup = await qa.call('operator', {
    method: 'POST',
    url: `/v1/datasets/${DEMO_REGIONS_SPEC.id}/versions`,
    headers: { 'content-type': 'text/csv' },
    payload: 'district,region,admin_kind\n滨城区,中部,区\n沾化区,北部沿海,区\n滨城区,南部,区\n',
  })
  t.equal(dup.statusCode, 400, dup.body)
  t.equal(dup.json().code, 'VEILBOX_ERR_INGEST_BAD_ROW')
  t.match(dup.json().detail, /data row 3.*already the key of data row 1/)
  const versions = (await qa.call('operator', { method: 'GET', url: `/v1/datasets/${DEMO_REGIONS_SPEC.id}` })).json()
    .versions
  t.equal(versions.length, 1, 'nothing stored')
  // Join on a column that is not public, or of another kind: refused with what to do.
  for (const [sql, code] of [
    [
      'SELECT COUNT(*) FROM binzhou_households h JOIN binzhou_district_regions r ON h.household_id = r.district',
      'VEILBOX_ERR_QUERY_JOIN',
    ],
    [
      'SELECT COUNT(*) FROM binzhou_households h JOIN binzhou_district_regions r ON h.district = r.region',
      'VEILBOX_ERR_QUERY_JOIN',
    ],
    [
      'SELECT COUNT(*) FROM binzhou_households h JOIN binzhou_district_regions r ON h.income = r.district',
      'VEILBOX_ERR_QUERY_JOIN',
    ],
  ]) {
    const res = await qa.call('analyst', {
      method: 'POST',
      url: '/v1/queries',
      payload: { sql, grant: qa.grant, epsilon: 0.1 },
    })
    t.equal(res.statusCode, 400, sql)
    t.equal(res.json().code, code, `${sql}: ${res.json().detail}`)
  }
  const bad = await qa.call('operator', {
    method: 'POST',
    url: '/v1/datasets',
    payload: {
      ...DEMO_REGIONS_SPEC,
      id: 'bad_public',
      columns: [{ ...DEMO_REGIONS_SPEC.columns[0], protection: 'dp' }, ...DEMO_REGIONS_SPEC.columns.slice(1)],
    },
  })
  t.equal(bad.statusCode, 400)
  t.match(bad.body, /every column of a public table is public/)
  const { privacyUnit: _u, maxRowsPerUnit: _m, ...bare } = DEMO_REGIONS_SPEC
  const plain = await qa.call('operator', {
    method: 'POST',
    url: '/v1/datasets',
    payload: { ...bare, id: 'bare_public' },
  })
  t.equal(plain.statusCode, 201, `a public table is registered without a unit: ${plain.body}`)
  t.match(plain.json(), { privacyUnit: 'district', maxRowsPerUnit: 1 })
})

t.test('FROM a public table: refused without a grant on it, saying to name the dataset first', async (t) => {
  const qa = await withRegions(t)
  for (const [sql, detail] of [
    [`SELECT region, COUNT(*) FROM ${DEMO_REGIONS_SPEC.id} GROUP BY region`, /join it to a dataset on its key/],
    [
      `SELECT r.region, COUNT(*) FROM ${DEMO_REGIONS_SPEC.id} r JOIN binzhou_households h ON h.district = r.district GROUP BY r.region`,
      /write FROM binzhou_households JOIN binzhou_district_regions/,
    ],
  ] as const) {
    const res = await qa.call('analyst', {
      method: 'POST',
      url: '/v1/queries',
      payload: { sql, grant: qa.grant, epsilon: 0.1 },
    })
    t.equal(res.statusCode, 400, res.body)
    t.equal(res.json().code, 'VEILBOX_ERR_QUERY_PUBLIC_TABLE')
    t.match(res.json().detail, detail)
  }
  const grant = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${qa.grant}` })).json()
  t.equal(grant.budget.epsilon.spent, 0, 'nothing charged')
})
