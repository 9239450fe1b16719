/**
 * Joins on a declared foreign key (issue 21), through the API: residents,
 * each of whom belongs to one household (`household_id` references the
 * households' unit; ingest refuses a resident whose rows name two), joined to
 * the households. The joined unit is the household, with at most m_J pairs;
 * the households' budget pays the answer's epsilon and the residents' twice
 * it (group privacy: a resident changes one household, two steps).
 */
import t from 'tap'
import { demoRows } from '../../../src/demo/binzhou.js'
import type { DatasetSpec } from '../../../src/schema.js'
import { queryApp } from '../../helpers/app.js'

const RESIDENTS: DatasetSpec = {
  id: 'binzhou_residents',
  title: 'Binzhou residents (test)',
  classification: 'sensitive',
  privacyUnit: 'person_id',
  maxRowsPerUnit: 1,
  columns: [
    { name: 'person_id', type: 'id', protection: 'public' },
    {
      name: 'household_id',
      type: 'id',
      protection: 'public',
      references: { dataset: 'binzhou_households', column: 'household_id', maxRows: 8 },
    },
    { name: 'age', type: 'integer', protection: 'dp', lower: 0, upper: 110 },
    { name: 'employed', type: 'boolean', protection: 'public' },
  ],
}

/** Each household's members: household_size of them, ages around the head's. */
function residentsCsv(households: number): { csv: string; perHousehold: Map<string, number> } {
  let csv = 'person_id,household_id,age,employed\n'
  const perHousehold = new Map<string, number>()
  let n = 0
  for (const h of demoRows(households)) {
    for (let k = 0; k < h.household_size; k++) {
      const age = Math.max(0, Math.min(110, h.age - 25 * (k % 3)))
      csv += `P${++n},${h.household_id},${age},${age >= 18 && age < 65 && k % 2 === 0}\n`
    }
    perHousehold.set(h.household_id, h.household_size)
  }
  return { csv, perHousehold }
}

t.test('a foreign-key join answers per household and charges the residents twice the epsilon', async (t) => {
  const rows = 600
  const qa = await queryApp(t, { rows, datasetEpsilon: 100 })
  t.equal((await qa.call('operator', { method: 'POST', url: '/v1/datasets', payload: RESIDENTS })).statusCode, 201)
  const { csv, perHousehold } = residentsCsv(rows)
  const up = await qa.call('operator', {
    method: 'POST',
    url: `/v1/datasets/${RESIDENTS.id}/versions`,
    headers: { 'content-type': 'text/csv' },
    payload: csv,
  })
  t.equal(up.statusCode, 201, up.body)
  await qa.call('operator', {
    method: 'PUT',
    url: `/v1/datasets/${RESIDENTS.id}/budget`,
    payload: { epsilon: 100, delta: 0 },
  })
  const g = await qa.call('operator', {
    method: 'POST',
    url: '/v1/grants',
    payload: {
      analyst: 'alice',
      datasets: ['binzhou_households', RESIDENTS.id],
      purpose: 'test: residents by district',
      epsilon: 50,
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    },
  })
  t.equal(g.statusCode, 201, g.body)
  const sql =
    'SELECT h.district, COUNT(*) AS pairs, COUNT(DISTINCT household_id) AS households FROM binzhou_residents r JOIN binzhou_households h ON r.household_id = h.household_id GROUP BY h.district'
  const res = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql, grant: g.json().id, epsilon: 20 },
  })
  t.equal(res.statusCode, 200, res.body)
  const a = res.json()
  t.same(a.privacy.charged.datasets, {
    binzhou_households: { epsilon: 20, delta: 0 },
    [RESIDENTS.id]: { epsilon: 40, delta: 0 },
  })
  t.same(a.privacy.charged.grant, { epsilon: 20, delta: 0 }, 'the grant pays the answer once')
  // The truth by hand: each household keeps min(members, m_J = 8 x 1) pairs: all its members (at most 8).
  // At epsilon 20 split in two, the counts' noise (scale 8 / 10 and 1 / 10) is beyond 25 and 3 with
  // probability about e^-30.
  const district = new Map([...demoRows(rows)].map((h) => [h.household_id, h.district]))
  const members = new Map<string, number>()
  const households = new Map<string, number>()
  for (const [h, n] of perHousehold) {
    const d = district.get(h)!
    members.set(d, (members.get(d) ?? 0) + Math.min(8, n))
    households.set(d, (households.get(d) ?? 0) + 1)
  }
  for (const [d, pairs, units] of a.rows as [string, number, number][]) {
    t.ok(Math.abs(pairs - members.get(d)!) <= 25, `${d}: ${pairs} residents, ${members.get(d)} exactly`)
    t.ok(Math.abs(units - households.get(d)!) <= 3, `${d}: ${units} households, ${households.get(d)} exactly`)
  }
  const budget = (await qa.call('operator', { method: 'GET', url: `/v1/datasets/${RESIDENTS.id}/budget` })).json()
  t.equal(budget.epsilon.spent, 40, "the residents' budget paid 2 epsilon")
  // The other way round, with USING: the same join.
  const using = await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries/preview',
    payload: {
      sql: 'SELECT COUNT(*) FROM binzhou_households JOIN binzhou_residents USING (household_id)',
      grant: g.json().id,
      epsilon: 1,
    },
  })
  t.equal(using.statusCode, 200, using.body)
  t.match(using.json(), { affordable: true })
})

t.test('a resident whose rows name two households is refused at ingest, naming both rows', async (t) => {
  const qa = await queryApp(t, { rows: 50 })
  t.equal(
    (await qa.call('operator', { method: 'POST', url: '/v1/datasets', payload: { ...RESIDENTS, maxRowsPerUnit: 3 } }))
      .statusCode,
    201,
  )
  const [h1, h2] = [...demoRows(2)].map((h) => h.household_id)
  const res = await qa.call('operator', {
    method: 'POST',
    url: `/v1/datasets/${RESIDENTS.id}/versions`,
    headers: { 'content-type': 'text/csv' },
    payload: `person_id,household_id,age,employed\nP1,${h1},40,true\nP2,${h2},30,false\nP1,${h2},40,true\n`,
  })
  t.equal(res.statusCode, 400, res.body)
  t.equal(res.json().code, 'VEILBOX_ERR_INGEST_BAD_ROW')
  t.match(res.json().detail, /data row 3.*unit "P1".*data row 1.*foreign key/)
  const bad = await qa.call('operator', {
    method: 'POST',
    url: '/v1/datasets',
    payload: {
      ...RESIDENTS,
      id: 'bad_refs',
      columns: RESIDENTS.columns.map((c) =>
        c.name === 'age' ? { ...c, references: { dataset: 'binzhou_households', column: 'household_id' } } : c,
      ),
    },
  })
  t.equal(bad.statusCode, 400)
  t.match(bad.body, /references.{0,3} applies to a public id column/)
})

t.test('the catalog shows a foreign key, so that analysts know what joins on it', async (t) => {
  const qa = await queryApp(t, { rows: 20 })
  t.equal((await qa.call('operator', { method: 'POST', url: '/v1/datasets', payload: RESIDENTS })).statusCode, 201)
  const seen = await qa.call('operator', { method: 'GET', url: `/v1/datasets/${RESIDENTS.id}` })
  t.match(
    seen.json().columns.find((c: { name: string }) => c.name === 'household_id'),
    { references: { dataset: 'binzhou_households', column: 'household_id', maxRows: 8 } },
  )
})
