/**
 * YEAR(d), MONTH(d), WEEK(d) and DAY(d) as GROUP BY keys (issue 24, point 2):
 * parsed in the select list and GROUP BY only, one canonical text, bound
 * against a date or timestamp column's declared range (every period of it,
 * at most QUERY_LIMITS.maxBuckets), planned with nulls kept out, computed per
 * row by the kernels; WHERE takes date strings, never DATE '...'.
 */
import t from 'tap'
import { execTaskSchema } from '../../../src/engine/exec/task.js'
import type { ColumnArray } from '../../../src/engine/exec/types.js'
import { bindQuery, canonicalSql, fromJson, parseQuery, toJson } from '../../../src/engine/query/index.js'
import { datasetSpecSchema, type DatasetSpec } from '../../../src/schema.js'
import { exactOf, keepFirst, plan } from '../fixtures.js'
import { f64, i32 } from '../exec/fixtures.js'
import { refuses } from './fixture.js'

const permits: DatasetSpec = datasetSpecSchema.parse({
  id: 'permits',
  title: 'permits',
  classification: 'internal',
  privacyUnit: 'firm',
  maxRowsPerUnit: 2,
  columns: [
    { name: 'firm', type: 'id', protection: 'dp' },
    { name: 'd', type: 'date', protection: 'public', lower: '2023-11-15', upper: '2024-02-10', nullable: true },
    {
      name: 'at',
      type: 'timestamp',
      protection: 'public',
      lower: '2024-01-01T00:00:00Z',
      upper: '2024-01-03T12:00:00Z',
    },
    { name: 'private_d', type: 'date', protection: 'dp', lower: '2024-01-01', upper: '2024-12-31' },
    { name: 'long', type: 'date', protection: 'public', lower: '1990-01-01', upper: '2024-12-31' },
    { name: 'cost', type: 'integer', protection: 'dp', lower: 0, upper: 100 },
  ],
})

t.test('calendar keys parse in the select list and GROUP BY, and read back canonically', async (t) => {
  const q = parseQuery('select month(d) as m, count(*) from permits group by Month(d)')
  t.equal(q.groupBy[0]!.calendar, 'month')
  const text = canonicalSql(q)
  t.equal(text, 'SELECT MONTH(d) AS m, COUNT(*) AS count FROM permits GROUP BY MONTH(d)')
  t.equal(canonicalSql(parseQuery(text)), text)
  t.not(
    canonicalSql(parseQuery('SELECT COUNT(*) FROM permits GROUP BY WEEK(d)')),
    canonicalSql(parseQuery('SELECT COUNT(*) FROM permits GROUP BY DAY(d)')),
    'periods of one column are different keys',
  )
  refuses(t, () => parseQuery('SELECT COUNT(*) FROM permits WHERE MONTH(d) = 1'), 'VEILBOX_ERR_QUERY_ROW_EXPRESSION')
  refuses(t, () => parseQuery('SELECT COUNT(*) FROM permits GROUP BY MONTH(d, 2)'), 'VEILBOX_ERR_QUERY_BAD_BUCKET')
  refuses(t, () => parseQuery('SELECT COUNT(*) FROM permits GROUP BY MONTH(1)'), 'VEILBOX_ERR_QUERY_BAD_BUCKET')
  refuses(
    t,
    () => parseQuery('SELECT MONTH(d), COUNT(*) FROM permits GROUP BY YEAR(d)'),
    'VEILBOX_ERR_QUERY_UNGROUPED_COLUMN',
  )
  refuses(
    t,
    () => parseQuery("SELECT COUNT(*) FROM permits WHERE d >= DATE '2024-01-01'"),
    'VEILBOX_ERR_QUERY_BAD_LITERAL',
  )
})

t.test('the binder enumerates every period of the declared range, and refuses what it cannot', async (t) => {
  const domain = (key: string) => {
    const b = bindQuery(parseQuery(`SELECT COUNT(*) FROM permits GROUP BY ${key}`), permits)
    const s = b.groupBy[0]!.strategy
    if (s.kind !== 'calendar') throw new Error('a calendar key')
    return s.domain
  }
  t.same(domain('MONTH(d)'), ['2023-11', '2023-12', '2024-01', '2024-02'])
  t.same(domain('YEAR(d)'), ['2023', '2024'])
  t.equal(domain('WEEK(d)')[0], '2023-W46')
  t.equal(domain('DAY(d)').length, 88)
  t.same(domain('DAY(at)'), ['2024-01-01', '2024-01-02', '2024-01-03'])
  const cases: [string, string, RegExp][] = [
    ['DAY(long)', 'VEILBOX_ERR_QUERY_BAD_BUCKET', /more than 10000 days/],
    ['MONTH(private_d)', 'VEILBOX_ERR_QUERY_BAD_BUCKET', /dp column/],
    ['MONTH(cost)', 'VEILBOX_ERR_QUERY_BAD_BUCKET', /BUCKET\(cost/],
    ['d', 'VEILBOX_ERR_QUERY_BAD_GROUP_BY', /MONTH\(d\)/],
  ]
  for (const [key, code, detail] of cases) {
    const e = refuses(t, () => bindQuery(parseQuery(`SELECT COUNT(*) FROM permits GROUP BY ${key}`), permits), code)
    t.match(e.detail, detail, key)
  }
  t.doesNotThrow(() => bindQuery(parseQuery('SELECT COUNT(*) FROM permits GROUP BY MONTH(long)'), permits))
  const bound = bindQuery(
    parseQuery("SELECT COUNT(*) FROM permits WHERE d BETWEEN '2023-12-01' AND '2024-01-31' AND at < '2024-01-02'"),
    permits,
  )
  t.ok(bound.where !== null)
  for (const [where, code] of [
    ["d = '2024-02-30'", 'VEILBOX_ERR_QUERY_TYPE_MISMATCH'],
    ['d = 19723', 'VEILBOX_ERR_QUERY_TYPE_MISMATCH'],
    ["at = '2024-01-01T00:00:00'", 'VEILBOX_ERR_QUERY_TYPE_MISMATCH'],
    ["d = '2024-01-01T00:00:00Z'", 'VEILBOX_ERR_QUERY_TYPE_MISMATCH'],
  ] as const)
    refuses(t, () => bindQuery(parseQuery(`SELECT COUNT(*) FROM permits WHERE ${where}`), permits), code)
  refuses(t, () => bindQuery(parseQuery('SELECT SUM(d) FROM permits'), permits), 'VEILBOX_ERR_QUERY_BAD_AGGREGATE')
})

t.test('the plan keeps nulls out and the kernels count each row in its month', async (t) => {
  const p = plan(permits, "SELECT MONTH(d), COUNT(*) FROM permits WHERE d >= '2023-12-01' GROUP BY MONTH(d)")
  t.same(p.exec.groupBy[0], {
    column: 'd',
    dictionary: ['2023-11', '2023-12', '2024-01', '2024-02'],
    nullable: false,
    calendar: { unit: 'month', type: 'date', first: 19676 },
  })
  t.same(p.exec.where, {
    kind: 'and',
    operands: [
      { kind: 'cmp', column: 'd', op: '>=', value: 19692 },
      { kind: 'isNull', column: 'd', negated: true },
    ],
  })
  t.ok(execTaskSchema.safeParse({ dataset: 'permits', version: 1, ...p.exec }).success, 'the task validates')
  t.same(p.groupKeys(2), ['2024-01'], 'the key is the period text')
  // 2023-11-20 is filtered out by WHERE; 2023-12-31 in December, 2024-01-01 and -31 in January, null in none.
  const days = [19681, 19722, 19723, 19753, 0, 19763]
  const nulls = new Uint8Array([0b0001_0000]) // row 4 is null
  const rows = days.length
  const src = {
    rows,
    keep: keepFirst(
      days.map((_, i) => `u${i}`),
      1,
    ),
    columns: new Map<string, ColumnArray>([
      ['d', i32(days, nulls)],
      ['cost', f64(days.map(() => 1))],
    ]),
  }
  const exact = exactOf(p, src)
  t.same([...exact.count], [0, 1, 2, 1])
})

t.test('the JSON form carries calendar periods, and round-trips', async (t) => {
  const sql = 'SELECT MONTH(d) AS m, COUNT(*) AS n FROM permits GROUP BY MONTH(d)'
  const json = toJson(parseQuery(sql))
  t.same(json.groupBy, [{ column: 'd', calendar: 'month' }])
  t.match(json.select[0], { kind: 'column', column: 'd', calendar: 'month', alias: 'm' })
  t.equal(canonicalSql(fromJson(json)), canonicalSql(parseQuery(sql)), 'the same query, the same canonical text')
  refuses(
    t,
    () =>
      fromJson({
        select: [{ kind: 'aggregate', fn: 'count' }],
        from: 'permits',
        groupBy: [{ column: 'd', calendar: 'quarter' }],
      }),
    'VEILBOX_ERR_REQUEST_VALIDATION',
  )
  refuses(
    t,
    () =>
      fromJson({
        select: [{ kind: 'column', column: 'd', calendar: 'day', bucket: { lower: 0, upper: 10, width: 1 } }],
        from: 'permits',
        groupBy: [{ column: 'd', calendar: 'day' }],
      }),
    'VEILBOX_ERR_QUERY_BAD_BUCKET',
  )
})
