/**
 * A unit join through the sandbox (issue 21, joins branch): the pool leases
 * both versions, sends each side's columns by their own names, and the worker
 * builds the joined rows (exec/join.ts) before the kernels run. The exact
 * counts equal a plain computation of the same join over the rows.
 */
import t from 'tap'

import { CLAIMS_SPEC, claimRows, claimsCsv } from '../../src/demo/claims.js'
import { demoRows } from '../../src/demo/binzhou.js'
import { joinPart } from '../../src/engine/plan/join.js'
import { bindQuery, parseQuery } from '../../src/engine/query/index.js'
import { planQuery } from '../../src/engine/plan/index.js'
import { planOptions } from '../engine/fixtures.js'
import { queryApp } from '../helpers/app.js'

t.test('the sandbox joins households and claims on the household', async (t) => {
  const rows = 600
  const qa = await queryApp(t, { rows })
  t.equal((await qa.call('operator', { method: 'POST', url: '/v1/datasets', payload: CLAIMS_SPEC })).statusCode, 201)
  const chunks: Buffer[] = []
  for await (const c of claimsCsv(rows)) chunks.push(Buffer.from(c as string))
  const up = await qa.call('operator', {
    method: 'POST',
    url: `/v1/datasets/${CLAIMS_SPEC.id}/versions`,
    headers: { 'content-type': 'text/csv' },
    payload: Buffer.concat(chunks),
  })
  t.equal(up.statusCode, 201, up.body)
  const { DEMO_SPEC } = await import('../../src/demo/binzhou.js')
  const sql =
    'SELECT h.district, COUNT(*) AS pairs, COUNT(DISTINCT household_id) AS households FROM binzhou_households h JOIN binzhou_claims c USING (household_id) GROUP BY h.district'
  const bound = bindQuery(parseQuery(sql), DEMO_SPEC, [CLAIMS_SPEC])
  const p = planQuery(bound, planOptions({ epsilon: 1 }))
  const task = { dataset: DEMO_SPEC.id, version: 1, ...p.exec, join: joinPart(bound, p.exec, 1) }
  const exact = await qa.app.executor.execute(task)

  // The same join by hand: each household's first row (m = 1) with its first m_J claims (m_claims = 5).
  const districts = DEMO_SPEC.columns.find((c) => c.name === 'district')!.categories!
  const byHousehold = new Map([...demoRows(rows)].map((h) => [h.household_id, h.district]))
  const claims = new Map<string, number>()
  for (const c of claimRows(rows)) claims.set(c.household_id, Math.min(5, (claims.get(c.household_id) ?? 0) + 1))
  const pairs = new Array(districts.length).fill(0)
  const units = new Array(districts.length).fill(0)
  for (const [h, n] of claims) {
    const d = districts.indexOf(byHousehold.get(h)!)
    pairs[d] += Math.min(n, bound.dataset.maxRowsPerUnit)
    units[d] += 1
  }
  t.same([...exact.count], pairs, 'joined rows per district')
  const distinct = exact.measures.find((m) => m.kind === 'nonNull')
  t.same(distinct?.kind === 'nonNull' ? [...distinct.nonNull] : null, units, 'households with a claim per district')
  t.ok(pairs.reduce((a, b) => a + b, 0) > 0, 'the join matched rows')
})

t.test('the sandbox looks up a public table: counts per region equal the households of its districts', async (t) => {
  const rows = 500
  const qa = await queryApp(t, { rows })
  const { DEMO_REGIONS_SPEC, DISTRICT_REGIONS, regionsCsv } = await import('../../src/demo/regions.js')
  t.equal(
    (await qa.call('operator', { method: 'POST', url: '/v1/datasets', payload: DEMO_REGIONS_SPEC })).statusCode,
    201,
  )
  const chunks: Buffer[] = []
  for await (const c of regionsCsv()) chunks.push(Buffer.from(c as string))
  const up = await qa.call('operator', {
    method: 'POST',
    url: `/v1/datasets/${DEMO_REGIONS_SPEC.id}/versions`,
    headers: { 'content-type': 'text/csv' },
    payload: Buffer.concat(chunks),
  })
  t.equal(up.statusCode, 201, up.body)
  const { DEMO_SPEC } = await import('../../src/demo/binzhou.js')
  const regions = ['中部', '北部沿海', '南部']
  const spec = {
    ...DEMO_REGIONS_SPEC,
    columns: DEMO_REGIONS_SPEC.columns.map((c) => (c.name === 'region' ? { ...c, categories: regions } : c)),
  }
  const sql =
    'SELECT r.region, COUNT(*) AS n FROM binzhou_households h JOIN binzhou_district_regions r ON h.district = r.district GROUP BY r.region'
  const bound = bindQuery(parseQuery(sql), DEMO_SPEC, [spec])
  const p = planQuery(bound, planOptions({ epsilon: 1 }))
  const task = { dataset: DEMO_SPEC.id, version: 1, ...p.exec, join: joinPart(bound, p.exec, 1) }
  t.equal(task.join?.lookup, true)
  const exact = await qa.app.executor.execute(task)
  const regionOf = new Map(DISTRICT_REGIONS.map(([d, r]) => [d, r]))
  const expected = regions.map(() => 0)
  for (const h of demoRows(rows)) expected[regions.indexOf(regionOf.get(h.district)!)]! += 1
  t.same([...exact.count], expected, 'households per region: every district maps to its region')
  t.equal(
    expected.reduce((a, b) => a + b, 0),
    rows,
    'no household dropped: the table has every district',
  )
})
