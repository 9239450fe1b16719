import t from 'tap'
import {
  bindQuery,
  canonicalSql,
  fromJson,
  parseQuery,
  queryAggregates,
  queryColumns,
  queryDataset,
  toJson,
  unknownDatasetError,
} from '../../../src/engine/query/index.js'
import { at, extended, households, refuses } from './fixture.js'

const DS = 'binzhou_households'
const bind = (sql: string, spec = households) => bindQuery(parseQuery(sql), spec)

t.test('the demo query binds: outputs, declared groups, bound WHERE, ORDER BY, columns, aggregates', async (t) => {
  const b = bind(
    `SELECT district, insured AS ins, COUNT(*) AS n, SUM(income), AVG(medical_spending), MEDIAN(age), QUANTILE(income, 0.9) ` +
      `FROM ${DS} WHERE age_band IN ('18-34', '35-59', '18-34') AND NOT age BETWEEN 0 AND 17 AND income IS NOT NULL ` +
      `GROUP BY district, insured ORDER BY n DESC, ins`,
  )
  t.equal(b.dataset, households)
  t.same(
    b.outputs.map((o) => [
      o.kind,
      o.name,
      o.column?.name ?? null,
      o.kind === 'aggregate' ? o.fn : o.key,
      o.kind === 'aggregate' ? o.label : null,
    ]),
    [
      ['group', 'district', 'district', 0, null],
      ['group', 'ins', 'insured', 1, null],
      ['aggregate', 'n', null, 'count', 'count'],
      ['aggregate', 'sum_income', 'income', 'sum', 'sum'],
      ['aggregate', 'avg_medical_spending', 'medical_spending', 'avg', 'avg'],
      ['aggregate', 'median_age', 'age', 'quantile', 'median'],
      ['aggregate', 'quantile_income_0_9', 'income', 'quantile', 'quantile'],
    ],
  )
  t.same(
    b.outputs.map((o) => (o.kind === 'aggregate' ? o.p : undefined)),
    [undefined, undefined, undefined, undefined, undefined, 0.5, 0.9],
  )
  t.same(
    b.groupBy.map((g) => [g.column.name, g.strategy]),
    [
      [
        'district',
        { kind: 'declared', domain: ['滨城区', '沾化区', '惠民县', '阳信县', '无棣县', '博兴县', '邹平市'] },
      ],
      ['insured', { kind: 'declared', domain: [false, true] }],
    ],
  )
  const w = b.where!
  if (w.kind !== 'and') throw new Error('expected and')
  t.same(
    w.operands.map((o) => o.kind),
    ['in', 'not', 'isNull'],
  )
  const inList = w.operands[0]!
  if (inList.kind !== 'in') throw new Error('expected in')
  t.same(inList.values, ['18-34', '35-59'], 'IN values without repeats, in written order')
  t.equal(
    inList.column,
    households.columns.find((c) => c.name === 'age_band'),
    "columns resolve to the spec's own objects",
  )
  t.same(b.orderBy, [
    { output: 2, name: 'n', direction: 'desc' },
    { output: 1, name: 'ins', direction: 'asc' },
  ])
  t.same(b.columns, ['district', 'insured', 'income', 'medical_spending', 'age', 'age_band'])
  t.same(b.aggregates, ['count', 'sum', 'avg', 'quantile'])
  t.ok(Object.isFrozen(b) && Object.isFrozen(b.outputs) && Object.isFrozen(b.outputs[0]) && Object.isFrozen(b.where))
  t.notOk(Object.isFrozen(households), "the caller's dataset spec is left alone")
})

t.test('queryColumns and queryAggregates work on the tree alone, for grant checks', async (t) => {
  const q = parseQuery(
    `SELECT COUNT(*), VARIANCE(income), STDDEV(income), COUNT(age) FROM anything WHERE insured = TRUE OR age > 1 GROUP BY district`,
  )
  t.same(queryColumns(q), ['income', 'age', 'insured', 'district'])
  t.same(queryAggregates(q), ['count', 'var', 'stddev'])
  t.same(queryColumns(parseQuery(`SELECT COUNT(*) FROM ${DS}`)), [], 'COUNT(*) reads no column')
  t.equal(queryDataset(q), 'anything')
})

t.test('the dataset: a FROM that is not the spec, and the error for a name with no dataset', async (t) => {
  refuses(
    t,
    () => bind(`SELECT COUNT(*) FROM other`),
    'VEILBOX_ERR_QUERY_UNKNOWN_DATASET',
    at(`SELECT COUNT(*) FROM other`, 'other'),
  )
  const q = parseQuery(`SELECT COUNT(*) FROM binzhou_houshold`)
  const e = unknownDatasetError(q, ['census_2020', DS])
  t.equal(e.code, 'VEILBOX_ERR_QUERY_UNKNOWN_DATASET')
  t.equal(e.status, 400)
  t.equal(e.extra.suggestion, DS)
  t.same(e.extra.position, at(`SELECT COUNT(*) FROM binzhou_houshold`, 'binzhou'))
  t.match(e.detail, /did you mean binzhou_households\?/)
  t.equal(unknownDatasetError(parseQuery(`SELECT COUNT(*) FROM zzz`), [DS]).extra.suggestion, undefined)
})

t.test('unknown columns are refused where they are named, with the nearest name', async (t) => {
  const cases: [string, string, string | undefined][] = [
    [`SELECT SUM(incom) FROM ${DS}`, 'incom', 'income'],
    [`SELECT COUNT(*) FROM ${DS} GROUP BY distirct`, 'distirct', 'district'],
    [`SELECT COUNT(*) FROM ${DS} WHERE "Age" > 1`, '"Age"', 'age'],
    [`SELECT COUNT(*) FROM ${DS} WHERE salary > 1`, 'salary', undefined],
    [`SELECT COUNT(*), AVG(medical) FROM ${DS}`, 'medical', undefined],
  ]
  for (const [sql, needle, suggestion] of cases) {
    const e = refuses(t, () => bind(sql), 'VEILBOX_ERR_QUERY_UNKNOWN_COLUMN', at(sql, needle), sql)
    t.equal(e.extra.suggestion, suggestion)
    t.match(e.detail, /its columns are household_id, district/)
  }
})

t.test('errors come in reading order: select list, then WHERE, then GROUP BY', async (t) => {
  const sql = `SELECT SUM(nope) FROM ${DS} WHERE nada = 1 GROUP BY age`
  refuses(t, () => bind(sql), 'VEILBOX_ERR_QUERY_UNKNOWN_COLUMN', at(sql, 'nope'))
  const sql2 = `SELECT COUNT(*) FROM ${DS} WHERE nada = 1 GROUP BY age`
  refuses(t, () => bind(sql2), 'VEILBOX_ERR_QUERY_UNKNOWN_COLUMN', at(sql2, 'nada'))
})

t.test('id columns: only COUNT(*) counts them; never aggregated, filtered or grouped', async (t) => {
  t.doesNotThrow(() => bind(`SELECT COUNT(*) FROM ${DS}`))
  for (const sql of [
    `SELECT COUNT(household_id) FROM ${DS}`,
    `SELECT SUM(household_id) FROM ${DS}`,
    `SELECT MEDIAN(household_id) FROM ${DS}`,
    `SELECT COUNT(*) FROM ${DS} WHERE household_id = 'h1'`,
    `SELECT COUNT(*) FROM ${DS} WHERE household_id IS NULL`,
  ]) {
    const e = refuses(t, () => bind(sql), 'VEILBOX_ERR_QUERY_ID_COLUMN', at(sql, 'household_id'), sql)
    t.equal(e.extra.column, 'household_id')
  }
  const g = `SELECT COUNT(*) FROM ${DS} GROUP BY household_id`
  const e = refuses(t, () => bind(g), 'VEILBOX_ERR_QUERY_BAD_GROUP_BY', at(g, 'household_id'))
  t.match(e.detail, /one group per person/)
})

t.test('numeric aggregates need a bounded integer or number column', async (t) => {
  for (const fn of ['SUM', 'AVG', 'VAR', 'STDDEV', 'MEDIAN']) {
    t.doesNotThrow(() => bind(`SELECT ${fn}(age), ${fn}(income) AS x FROM ${DS}`), `${fn} of dp columns`)
    t.doesNotThrow(() => bind(`SELECT ${fn}(floor_area) FROM ${DS}`, extended), `${fn} of a bounded public column`)
    for (const c of ['district', 'insured', 'occupation']) {
      const sql = `SELECT ${fn}(${c}) FROM ${DS}`
      const e = refuses(t, () => bind(sql, extended), 'VEILBOX_ERR_QUERY_BAD_AGGREGATE', at(sql, c), sql)
      t.match(e.detail, /needs an integer or number column/)
    }
    const sql = `SELECT ${fn}(rooms) FROM ${DS}`
    const e = refuses(t, () => bind(sql, extended), 'VEILBOX_ERR_QUERY_UNBOUNDED_COLUMN', at(sql, 'rooms'), sql)
    t.match(e.detail, /declare "lower" and "upper"/)
  }
  t.doesNotThrow(
    () => bind(`SELECT QUANTILE(age, 0.1), COUNT(rooms), COUNT(village), COUNT(district) FROM ${DS}`, extended),
    'COUNT(col) takes any non-id column',
  )
  t.match(bind(`SELECT COUNT(district) FROM ${DS}`).outputs[0], { fn: 'count', column: { name: 'district' } })
})

t.test('GROUP BY: public category and boolean columns with declared domains only', async (t) => {
  for (const c of ['district', 'insured', 'age_band'])
    t.doesNotThrow(() => bind(`SELECT ${c}, COUNT(*) FROM ${DS} GROUP BY ${c}`), c)
  const refused: [string, RegExp][] = [
    ['age', /dp column/],
    ['income', /dp column/],
    ['occupation', /dp column/],
    ['rooms', /integer column/],
    ['floor_area', /number column/],
    ['village', /no declared categories/],
  ]
  for (const [c, why] of refused) {
    const sql = `SELECT COUNT(*) FROM ${DS} GROUP BY ${c}`
    const e = refuses(t, () => bind(sql, extended), 'VEILBOX_ERR_QUERY_BAD_GROUP_BY', at(sql, c), c)
    t.match(e.detail, why)
    t.match(e.detail, /declared domains/)
  }
})

t.test('encrypted columns: only inside COUNT, SUM, AVG, VAR and STDDEV', async (t) => {
  t.doesNotThrow(() =>
    bind(
      `SELECT COUNT(medical_spending), SUM(medical_spending), AVG(medical_spending), VAR(medical_spending), STDDEV(medical_spending) FROM ${DS}`,
    ),
  )
  for (const sql of [
    `SELECT MEDIAN(medical_spending) FROM ${DS}`,
    `SELECT QUANTILE(medical_spending, 0.9) FROM ${DS}`,
    `SELECT COUNT(*) FROM ${DS} WHERE medical_spending > 100`,
    `SELECT COUNT(*) FROM ${DS} WHERE medical_spending IS NULL`,
    `SELECT COUNT(*) FROM ${DS} GROUP BY medical_spending`,
  ]) {
    const e = refuses(t, () => bind(sql), 'VEILBOX_ERR_QUERY_HE_UNSUPPORTED', at(sql, 'medical_spending'), sql)
    t.match(e.detail, /COUNT, SUM, AVG, VAR and STDDEV/)
  }
})

t.test('WHERE literals must fit their columns', async (t) => {
  const ok = [
    `district = '滨城区'`,
    `district <> '邹平市'`,
    `district IN ('滨城区', '沾化区')`,
    `insured = TRUE`,
    `insured IN (FALSE)`,
    `age = 30`,
    `age < 17.5`,
    `income BETWEEN 0 AND 1e5`,
    `age_band = '60+'`,
    `village = 'anything at all'`,
    `occupation = 'farmer'`,
    `rooms IS NULL`,
    `district IS NOT NULL`,
  ]
  for (const cond of ok) t.doesNotThrow(() => bind(`SELECT COUNT(*) FROM ${DS} WHERE ${cond}`, extended), cond)
  const mismatch: [string, string][] = [
    [`age = '30'`, `'30'`],
    [`income > 'a lot'`, `'a lot'`],
    [`age IN (1, '2')`, `'2'`],
    [`age BETWEEN 1 AND '9'`, `'9'`],
    [`district = 1`, '1'],
    [`district IN ('滨城区', TRUE)`, 'TRUE'],
    [`insured = 'yes'`, `'yes'`],
    [`insured = 1`, '1'],
    [`district < '滨城区'`, 'district'],
    [`insured >= TRUE`, 'insured'],
    [`district BETWEEN 'a' AND 'b'`, 'district'],
    [`village > 'm'`, 'village'],
  ]
  for (const [cond, needle] of mismatch) {
    const sql = `SELECT COUNT(*) FROM ${DS} WHERE ${cond}`
    refuses(t, () => bind(sql, extended), 'VEILBOX_ERR_QUERY_TYPE_MISMATCH', at(sql, needle), cond)
  }
  const quoted = refuses(
    t,
    () => bind(`SELECT COUNT(*) FROM ${DS} WHERE age = '30'`),
    'VEILBOX_ERR_QUERY_TYPE_MISMATCH',
  )
  t.match(quoted.detail, /write 30 without quotes/)
})

t.test('category literals must be declared categories, with the nearest suggested', async (t) => {
  const sql = `SELECT COUNT(*) FROM ${DS} WHERE district IN ('滨城区', '滨城')`
  const e = refuses(t, () => bind(sql), 'VEILBOX_ERR_QUERY_UNKNOWN_CATEGORY', at(sql, `'滨城'`))
  t.equal(e.extra.suggestion, '滨城区')
  t.equal(e.extra.value, '滨城')
  t.match(
    e.detail,
    /'滨城' is not one of district's declared categories \(did you mean '滨城区'\?\): '滨城区', '沾化区'/,
  )
  const sql2 = `SELECT COUNT(*) FROM ${DS} WHERE occupation = 'teacher'`
  refuses(t, () => bind(sql2, extended), 'VEILBOX_ERR_QUERY_UNKNOWN_CATEGORY', at(sql2, `'teacher'`))
})

t.test('binding a JSON query reports JSON paths', async (t) => {
  const q = fromJson({
    select: [{ kind: 'aggregate', fn: 'count' }],
    from: DS,
    where: {
      kind: 'and',
      operands: [
        { kind: 'isNull', column: 'age' },
        { kind: 'in', column: 'district', values: ['滨城区', 3] },
      ],
    },
  })
  refuses(t, () => bindQuery(q, households), 'VEILBOX_ERR_QUERY_TYPE_MISMATCH', {
    path: '/query/where/operands/1/values/1',
  })
  const q2 = fromJson({ select: [{ kind: 'aggregate', fn: 'sum', column: 'salary' }], from: DS })
  refuses(t, () => bindQuery(q2, households), 'VEILBOX_ERR_QUERY_UNKNOWN_COLUMN', { path: '/query/select/0/column' })
})

t.test('HAVING binds to outputs; literals must fit what each output releases', async (t) => {
  const ok = bind(
    `SELECT district, insured, COUNT(*) AS n FROM ${DS} GROUP BY district, insured HAVING n >= 10 AND district IN ('滨城区') AND NOT insured = TRUE LIMIT 2`,
  )
  t.same(ok.having, {
    kind: 'and',
    operands: [
      { kind: 'cmp', output: 2, op: '>=', value: 10 },
      { kind: 'in', output: 0, values: ['滨城区'], negated: false },
      { kind: 'not', operand: { kind: 'cmp', output: 1, op: '=', value: true } },
    ],
  })
  t.equal(ok.limit, 2)
  t.equal(bind(`SELECT COUNT(*) FROM ${DS}`).having, null)
  t.equal(bind(`SELECT COUNT(*) FROM ${DS}`).limit, null)
  for (const [sql, needle] of [
    [`SELECT COUNT(*) FROM ${DS} HAVING count = 'many'`, "'many'"],
    [`SELECT insured, COUNT(*) FROM ${DS} GROUP BY insured HAVING insured = 1`, '1'],
    [`SELECT district, COUNT(*) FROM ${DS} GROUP BY district HAVING district > 3`, '3'],
    [`SELECT AVG(income) AS a FROM ${DS} HAVING a BETWEEN 1 AND TRUE`, 'TRUE'],
  ] as const) {
    refuses(t, () => bind(sql), 'VEILBOX_ERR_QUERY_BAD_HAVING', at(sql, needle), sql)
  }
})

t.test('COUNT(DISTINCT unit) binds for the privacy unit only, and reads back canonically', async (t) => {
  const sql = 'SELECT district, count(distinct household_id) FROM binzhou_households GROUP BY district'
  const b = bindQuery(parseQuery(sql), households)
  const out = b.outputs[1]!
  t.match(out, {
    kind: 'aggregate',
    fn: 'count',
    distinct: true,
    label: 'count_distinct',
    name: 'count_distinct_household_id',
  })
  const text = canonicalSql(parseQuery(sql))
  t.equal(
    text,
    'SELECT district, COUNT(DISTINCT household_id) AS count_distinct_household_id FROM binzhou_households GROUP BY district',
  )
  t.equal(canonicalSql(fromJson(toJson(parseQuery(sql)))), text, 'the JSON form carries distinct')
  t.not(
    canonicalSql(parseQuery('SELECT COUNT(household_id) FROM binzhou_households')),
    canonicalSql(parseQuery('SELECT COUNT(DISTINCT household_id) FROM binzhou_households')),
  )
  const e = refuses(
    t,
    () => bindQuery(parseQuery('SELECT COUNT(DISTINCT district) FROM binzhou_households'), households),
    'VEILBOX_ERR_QUERY_BAD_AGGREGATE',
  )
  t.match(e.detail, /counts privacy units.*COUNT\(DISTINCT household_id\)/)
  refuses(t, () => parseQuery('SELECT COUNT(DISTINCT *) FROM d'), 'VEILBOX_ERR_QUERY_BAD_AGGREGATE')
  refuses(t, () => parseQuery('SELECT AVG(DISTINCT x) FROM d'), 'VEILBOX_ERR_QUERY_UNSUPPORTED')
  refuses(
    t,
    () => fromJson({ select: [{ kind: 'aggregate', fn: 'sum', column: 'x', distinct: true }], from: 'd' }),
    'VEILBOX_ERR_QUERY_UNSUPPORTED',
  )
})
