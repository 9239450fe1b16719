/**
 * Binding a unit join (issue 21, on the joins branch): two datasets of one
 * unit space joined on their privacy units bind against a joined spec whose
 * unit is the shared one and whose bound is max(m_left, m_right) joined rows
 * per unit; names both datasets have must be qualified; anything else is
 * refused with VEILBOX_ERR_QUERY_JOIN saying why.
 */
import t from 'tap'

import { CLAIMS_SPEC } from '../../../src/demo/claims.js'
import { DEMO_SPEC } from '../../../src/demo/binzhou.js'
import { bindQuery, parseQuery } from '../../../src/engine/query/index.js'
import type { DatasetSpec } from '../../../src/schema.js'
import { refuses } from './fixture.js'

const bind = (sql: string, right: DatasetSpec = CLAIMS_SPEC, left: DatasetSpec = DEMO_SPEC) =>
  bindQuery(parseQuery(sql), left, [right])

t.test('a unit join binds against the joined spec', async (t) => {
  const b = bind(
    'SELECT h.district, COUNT(DISTINCT household_id) AS households, AVG(c.claim_amount) FROM binzhou_households h JOIN binzhou_claims c USING (household_id) WHERE inpatient = TRUE GROUP BY h.district',
  )
  t.same(b.datasets, ['binzhou_households', 'binzhou_claims'])
  t.equal(b.dataset.privacyUnit, 'household_id')
  t.equal(b.dataset.maxRowsPerUnit, Math.max(DEMO_SPEC.maxRowsPerUnit, CLAIMS_SPEC.maxRowsPerUnit))
  t.same(
    b.outputs.map((o) => (o.kind === 'aggregate' ? [o.fn, o.column?.name ?? null] : ['group', o.column.name])),
    [
      ['group', 'district'],
      ['count', 'household_id'],
      ['avg', 'claim_amount'],
    ],
  )
  t.equal(b.dataset.columns.filter((c) => c.name === 'household_id').length, 1, 'the unit once')
  // ON the two units, in either order.
  t.doesNotThrow(() =>
    bind('SELECT COUNT(*) FROM binzhou_households AS h JOIN binzhou_claims AS c ON c.household_id = h.household_id'),
  )
})

t.test('what a join may not be', async (t) => {
  const lone = { ...CLAIMS_SPEC, unitSpace: undefined }
  const cases: [string, DatasetSpec, string, RegExp][] = [
    [
      'SELECT COUNT(*) FROM binzhou_households JOIN binzhou_claims USING (household_id)',
      lone,
      'VEILBOX_ERR_QUERY_JOIN',
      /unit space/,
    ],
    [
      'SELECT COUNT(*) FROM binzhou_households h JOIN binzhou_claims c ON h.district = c.diagnosis',
      CLAIMS_SPEC,
      'VEILBOX_ERR_QUERY_JOIN',
      /privacy units/,
    ],
    [
      'SELECT COUNT(*) FROM binzhou_households JOIN binzhou_claims USING (district)',
      CLAIMS_SPEC,
      'VEILBOX_ERR_QUERY_JOIN',
      /both privacy units/,
    ],
    [
      'SELECT COUNT(*) FROM binzhou_households x JOIN binzhou_claims x USING (household_id)',
      CLAIMS_SPEC,
      'VEILBOX_ERR_QUERY_JOIN',
      /alias/,
    ],
    [
      'SELECT c.diagnosis, COUNT(*) FROM binzhou_households h JOIN binzhou_claims c USING (household_id) GROUP BY c.diagnosis',
      CLAIMS_SPEC,
      'VEILBOX_ERR_QUERY_JOIN',
      /partition selection over joined rows/,
    ],
    [
      'SELECT SUM(z.claim_amount) FROM binzhou_households h JOIN binzhou_claims c USING (household_id)',
      CLAIMS_SPEC,
      'VEILBOX_ERR_QUERY_UNKNOWN_COLUMN',
      /z names nothing in FROM/,
    ],
  ]
  for (const [sql, right, code, detail] of cases) {
    const e = refuses(t, () => bind(sql, right), code, undefined, sql)
    t.match(e.detail, detail, sql)
  }
  // A column both datasets have must be qualified.
  const both = {
    ...CLAIMS_SPEC,
    columns: [
      ...CLAIMS_SPEC.columns,
      { name: 'district', type: 'category' as const, protection: 'public' as const, categories: ['x'] },
    ],
  }
  const e = refuses(
    t,
    () =>
      bind(
        'SELECT district, COUNT(*) FROM binzhou_households h JOIN binzhou_claims c USING (household_id) GROUP BY district',
        both,
      ),
    'VEILBOX_ERR_QUERY_UNKNOWN_COLUMN',
  )
  t.match(e.detail, /write h.district or c.district/)
  t.doesNotThrow(() =>
    bind(
      'SELECT h.district, COUNT(*) FROM binzhou_households h JOIN binzhou_claims c USING (household_id) GROUP BY h.district',
      both,
    ),
  )
})

t.test('one dataset: a qualifier names it or its alias', async (t) => {
  t.doesNotThrow(() =>
    bindQuery(parseQuery('SELECT h.district, COUNT(*) FROM binzhou_households h GROUP BY h.district'), DEMO_SPEC),
  )
  t.doesNotThrow(() =>
    bindQuery(
      parseQuery('SELECT binzhou_households.district, COUNT(*) FROM binzhou_households GROUP BY district'),
      DEMO_SPEC,
    ),
  )
  refuses(
    t,
    () => bindQuery(parseQuery('SELECT x.district, COUNT(*) FROM binzhou_households h GROUP BY district'), DEMO_SPEC),
    'VEILBOX_ERR_QUERY_UNKNOWN_COLUMN',
  )
})

t.test("a public table binds on its key: its columns join the spec, the unit and bound stay the left's", async (t) => {
  const { DEMO_REGIONS_SPEC } = await import('../../../src/demo/regions.js')
  const regions: DatasetSpec = {
    ...DEMO_REGIONS_SPEC,
    columns: DEMO_REGIONS_SPEC.columns.map((c) =>
      c.name === 'region' ? { ...c, categories: ['北部沿海', '中部', '南部'] } : c,
    ),
  }
  const b = bind(
    "SELECT r.region, COUNT(*) FROM binzhou_households h JOIN binzhou_district_regions r ON h.district = r.district WHERE admin_kind = '县' GROUP BY r.region",
    regions,
  )
  t.same(b.datasets, ['binzhou_households'], 'only the private dataset is read through the grant')
  t.same(
    b.tables.publicTables.map((s) => s.id),
    [DEMO_REGIONS_SPEC.id],
  )
  t.equal(b.dataset.privacyUnit, DEMO_SPEC.privacyUnit)
  t.equal(b.dataset.maxRowsPerUnit, DEMO_SPEC.maxRowsPerUnit, 'a row meets one row at most: the bound is unchanged')
  t.match(b.tables.join, { lookup: true, left: { unit: 'district' }, right: { unit: 'district' }, maxRowsPerUnit: 1 })
  t.equal(b.tables.sourceOf('region').dataset, DEMO_REGIONS_SPEC.id)
  t.equal(
    b.tables.columnName({ kind: 'column', name: 'district', table: 'r' }),
    'district',
    "the table's key is the left's column",
  )
  // USING the key, and the key on either side of ON.
  t.doesNotThrow(() =>
    bind('SELECT COUNT(*) FROM binzhou_households JOIN binzhou_district_regions USING (district)', regions),
  )
  t.doesNotThrow(() =>
    bind(
      'SELECT COUNT(*) FROM binzhou_households h JOIN binzhou_district_regions r ON r.district = h.district',
      regions,
    ),
  )
  // A region without declared (or injected) categories cannot be grouped.
  t.throws(
    () =>
      bind(
        'SELECT r.region, COUNT(*) FROM binzhou_households h JOIN binzhou_district_regions r USING (district) GROUP BY r.region',
        DEMO_REGIONS_SPEC,
      ),
    { code: 'VEILBOX_ERR_QUERY_BAD_GROUP_BY' },
  )
  t.match(
    refuses(
      t,
      () =>
        bind(
          'SELECT COUNT(*) FROM binzhou_households h JOIN binzhou_district_regions r ON h.district = r.region',
          regions,
        ),
      'VEILBOX_ERR_QUERY_JOIN',
    ).detail,
    /ON must equate a column of h with r.district/,
  )
  t.match(
    refuses(
      t,
      () => bind('SELECT COUNT(*) FROM binzhou_households h JOIN binzhou_district_regions r USING (region)', regions),
      'VEILBOX_ERR_QUERY_JOIN',
    ).detail,
    /must name binzhou_district_regions's key, district/,
  )
  t.match(
    refuses(
      t,
      () =>
        bind(
          'SELECT COUNT(*) FROM binzhou_households h JOIN binzhou_district_regions r ON h.income = r.district',
          regions,
        ),
      'VEILBOX_ERR_QUERY_JOIN',
    ).detail,
    /public category or integer column/,
  )
  t.match(
    refuses(
      t,
      () => bindQuery(parseQuery('SELECT COUNT(*) FROM binzhou_district_regions'), regions),
      'VEILBOX_ERR_QUERY_PUBLIC_TABLE',
    ).detail,
    /join it to a dataset on its key/,
  )
})

t.test('a unit join runs where both sides are: veilbox, or one source; never across', async (t) => {
  const pgSide = (spec: DatasetSpec, connection: string, table: string): DatasetSpec => ({
    ...spec,
    source: { kind: 'postgres', connection, table },
  })
  const sql = 'SELECT COUNT(*) FROM binzhou_households h JOIN binzhou_claims c USING (household_id)'
  t.doesNotThrow(
    () => bind(sql, pgSide(CLAIMS_SPEC, 'bureau', 'public.claims'), pgSide(DEMO_SPEC, 'bureau', 'public.households')),
    'both in one PostgreSQL connection: pushed down',
  )
  t.doesNotThrow(
    () =>
      bind(
        sql,
        { ...CLAIMS_SPEC, source: { kind: 'parquet', path: 'claims/*.parquet' } },
        { ...DEMO_SPEC, source: { kind: 'parquet', path: 'households.parquet' } },
      ),
    'both Parquet: one DuckDB reads both',
  )
  t.match(
    refuses(t, () => bind(sql, CLAIMS_SPEC, pgSide(DEMO_SPEC, 'bureau', 'public.households')), 'VEILBOX_ERR_QUERY_JOIN')
      .detail,
    /rows are in PostgreSQL connection bureau and binzhou_claims's in veilbox.*never moves rows/,
  )
  t.match(
    refuses(
      t,
      () => bind(sql, pgSide(CLAIMS_SPEC, 'other', 'public.claims'), pgSide(DEMO_SPEC, 'bureau', 'public.households')),
      'VEILBOX_ERR_QUERY_JOIN',
    ).detail,
    /connection bureau and .* connection other/,
  )
  const clash = {
    ...CLAIMS_SPEC,
    columns: [
      ...CLAIMS_SPEC.columns,
      { name: 'district', type: 'category' as const, protection: 'public' as const, categories: ['x'] },
    ],
  }
  t.match(
    refuses(
      t,
      () => bind(sql, pgSide(clash, 'bureau', 'public.claims'), pgSide(DEMO_SPEC, 'bureau', 'public.households')),
      'VEILBOX_ERR_QUERY_JOIN',
    ).detail,
    /both datasets have a column district/,
  )
  t.doesNotThrow(() => bind(sql, clash), 'in veilbox, shared names are qualified instead')
})

t.test(
  'a join on a declared foreign key binds with the referenced unit, m_J = maxRows x m, and the nested side',
  async (t) => {
    const residents: DatasetSpec = {
      id: 'binzhou_residents',
      title: 'residents',
      classification: 'sensitive',
      privacyUnit: 'person_id',
      maxRowsPerUnit: 2,
      columns: [
        { name: 'person_id', type: 'id', protection: 'public' },
        {
          name: 'household_id',
          type: 'id',
          protection: 'public',
          references: { dataset: 'binzhou_households', column: 'household_id', maxRows: 6 },
        },
        { name: 'age', type: 'integer', protection: 'dp', lower: 0, upper: 110 },
      ],
    }
    for (const sql of [
      'SELECT h.district, COUNT(*), AVG(r.age) FROM binzhou_residents r JOIN binzhou_households h ON r.household_id = h.household_id GROUP BY h.district',
      'SELECT district, COUNT(DISTINCT household_id) FROM binzhou_residents JOIN binzhou_households USING (household_id) GROUP BY district',
    ]) {
      const b = bindQuery(parseQuery(sql), residents, [DEMO_SPEC])
      t.equal(b.dataset.privacyUnit, 'household_id', 'the joined unit is the household')
      t.equal(b.dataset.maxRowsPerUnit, 6 * DEMO_SPEC.maxRowsPerUnit, 'm_J: 6 residents per household, times its rows')
      t.equal(b.tables.join?.nested, 'binzhou_residents', 'the residents nest in the households')
      t.same(b.datasets, ['binzhou_residents', 'binzhou_households'])
    }
    const reversed = bindQuery(
      parseQuery(
        'SELECT COUNT(*) FROM binzhou_households h JOIN binzhou_residents r ON h.household_id = r.household_id',
      ),
      DEMO_SPEC,
      [residents],
    )
    t.equal(reversed.tables.join?.nested, 'binzhou_residents')
    t.match(reversed.tables.join, { left: { unit: 'household_id' }, right: { unit: 'household_id' } })
    // A key that references another dataset is no foreign key for this join: refused as a join on other columns.
    const elsewhere = {
      ...residents,
      columns: residents.columns.map((c) =>
        c.references ? { ...c, references: { dataset: 'somewhere_else', column: 'household_id' } } : c,
      ),
    }
    t.match(
      refuses(
        t,
        () =>
          bindQuery(
            parseQuery(
              'SELECT COUNT(*) FROM binzhou_residents r JOIN binzhou_households h ON r.household_id = h.household_id',
            ),
            elsewhere,
            [DEMO_SPEC],
          ),
        'VEILBOX_ERR_QUERY_JOIN',
      ).detail,
      /a foreign key \("references"\)/,
    )
  },
)
