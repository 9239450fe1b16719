import t from 'tap'
import { DUMMY_MAX_ROWS, dummyCsv, dummyTable } from '../../src/engine/dummy.js'
import { datasetSpecSchema } from '../../src/schema.js'
import { PEOPLE_SPEC } from '../helpers/app.js'

const spec = datasetSpecSchema.parse(PEOPLE_SPEC)

t.test('dummy rows keep to the declared categories, bounds, nullability and rows per unit', async (t) => {
  const table = dummyTable(spec, 2000, 7)
  t.same(table.columns, ['pid', 'city', 'member', 'age', 'income'])
  t.equal(table.rows.length, 2000)
  const perUnit = new Map<unknown, number>()
  let nulls = 0
  for (const [pid, city, member, age, income] of table.rows) {
    perUnit.set(pid, (perUnit.get(pid) ?? 0) + 1)
    t.ok(city === 'north' || city === 'south')
    t.type(member, 'boolean')
    t.ok(Number.isInteger(age) && Number(age) >= 0 && Number(age) <= 120)
    if (income === null) nulls++
    else t.ok(typeof income === 'number' && income >= 0 && income <= 500000)
  }
  t.ok(Math.max(...perUnit.values()) <= spec.maxRowsPerUnit, 'no unit holds more than maxRowsPerUnit rows')
  // 2000 draws at 10%: mean 200, sd about 13.4; 80..320 is about 9 sd either side.
  t.ok(nulls > 80 && nulls < 320, `about a tenth of the nullable column is empty (${nulls})`)
  t.ok(
    table.rows.every((r) => r[3] !== null),
    'a column that is not nullable is never empty',
  )
})

t.test('the same seed gives the same rows; another seed others', async (t) => {
  t.equal(dummyCsv(dummyTable(spec, 300, 1)), dummyCsv(dummyTable(spec, 300, 1)))
  t.not(dummyCsv(dummyTable(spec, 300, 1)), dummyCsv(dummyTable(spec, 300, 2)))
})

t.test('more rows than the limit are refused', async (t) => {
  t.throws(() => dummyTable(spec, DUMMY_MAX_ROWS + 1, 0), RangeError)
  t.equal(dummyTable(spec, DUMMY_MAX_ROWS, 0).rows.length, DUMMY_MAX_ROWS)
})

t.test('CSV reads as an upload would: a header line, empty cells for nulls', async (t) => {
  const lines = dummyCsv(dummyTable(spec, 50, 3))
    .trimEnd()
    .split('\n')
  t.equal(lines[0], 'pid,city,member,age,income')
  t.equal(lines.length, 51)
})

t.test('date and timestamp columns: ISO text inside the declared range', async (t) => {
  const dated = datasetSpecSchema.parse({
    id: 'events',
    title: 'Events',
    classification: 'internal',
    privacyUnit: 'pid',
    maxRowsPerUnit: 1,
    columns: [
      { name: 'pid', type: 'id', protection: 'public' },
      { name: 'd', type: 'date', protection: 'public', lower: '2024-01-01', upper: '2024-12-31' },
      {
        name: 'ts',
        type: 'timestamp',
        protection: 'public',
        lower: '2024-01-01T00:00:00Z',
        upper: '2024-01-31T23:59:59Z',
      },
    ],
  })
  for (const [, d, ts] of dummyTable(dated, 500, 9).rows) {
    t.ok(typeof d === 'string' && /^2024-\d\d-\d\d$/.test(d), String(d))
    t.ok(typeof ts === 'string' && /^2024-01-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(ts), String(ts))
  }
})

t.test('a foreign key names one referenced unit per unit, as ingest requires', async (t) => {
  const people = datasetSpecSchema.parse({
    id: 'residents',
    title: 'Residents',
    classification: 'internal',
    privacyUnit: 'person',
    maxRowsPerUnit: 3,
    columns: [
      { name: 'person', type: 'id', protection: 'public' },
      { name: 'household', type: 'id', protection: 'public', references: { dataset: 'people', column: 'pid' } },
    ],
  })
  const of = new Map<unknown, unknown>()
  for (const [person, household] of dummyTable(people, 300, 4).rows) {
    t.equal(of.get(person) ?? household, household)
    of.set(person, household)
  }
  t.ok(of.size > 50 && of.size < 300, 'units hold several rows')
})
