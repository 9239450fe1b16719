/**
 * BUCKET(col, lower, upper, width) and WIDTH_BUCKET(col, lower, upper, count)
 * as GROUP BY keys (issue 21, binning): parsed in the select list and GROUP
 * BY only, read the same from JSON, one canonical text, bound against the
 * declared bounds, planned as a declared domain of the query's own edges
 * with the range ANDed into WHERE, and computed by the kernels as the
 * histogram bins are.
 */
import t from 'tap'

import { execTaskSchema } from '../../../src/engine/exec/task.js'
import type { ColumnArray } from '../../../src/engine/exec/types.js'
import { bindQuery, canonicalSql, fromJson, parseQuery, toJson } from '../../../src/engine/query/index.js'
import { exactOf, keepFirst, plan } from '../fixtures.js'
import { f64, i32 } from '../exec/fixtures.js'
import { extended, households, refuses } from './fixture.js'

const DS = 'binzhou_households'
const BANDS = `SELECT BUCKET(income, 0, 200000, 20000) AS band, COUNT(*) AS n FROM ${DS} GROUP BY BUCKET(income, 0, 200000, 20000)`

t.test('BUCKET parses in the select list and GROUP BY, and reads back canonically', async (t) => {
  const q = parseQuery(BANDS)
  t.same(q.groupBy[0]!.bucket, { lower: 0, upper: 200000, count: 10 })
  const item = q.select[0]!
  t.equal(item.kind, 'columnItem')
  if (item.kind === 'columnItem') t.same(item.column.bucket, { lower: 0, upper: 200000, count: 10 })
  const text = canonicalSql(q)
  t.equal(
    text,
    `SELECT BUCKET(income, 0, 200000, 20000) AS band, COUNT(*) AS n FROM ${DS} GROUP BY BUCKET(income, 0, 200000, 20000)`,
  )
  t.equal(canonicalSql(parseQuery(text)), text, 'the canonical text parses back to itself')
  // WIDTH_BUCKET names the same buckets by their number; the spellings share one text.
  const byCount = `select width_bucket(income, 0, 200000, 10) as band, count(*) as n from ${DS} group by WIDTH_BUCKET(income, 0, 2e5, 10)`
  t.equal(canonicalSql(parseQuery(byCount)), text)
  // A width that is not exact in binary still divides the range: 0.1 makes 10 buckets of [0, 1].
  const tenths = parseQuery(`SELECT BUCKET(x, 0, 1, 0.1), COUNT(*) FROM d GROUP BY BUCKET(x, 0, 1, 0.1)`)
  t.equal(tenths.groupBy[0]!.bucket!.count, 10)
  const thirds = parseQuery(`SELECT COUNT(*) FROM d GROUP BY WIDTH_BUCKET(x, 0, 1, 3)`)
  t.equal(parseQuery(canonicalSql(thirds)).groupBy[0]!.bucket!.count, 3, 'a width of 1/3 reads back as 3 buckets')
  // Two different bucketings of one column are two keys.
  const two = parseQuery(`SELECT COUNT(*) FROM d GROUP BY BUCKET(x, 0, 10, 5), BUCKET(x, 0, 10, 2)`)
  t.equal(two.groupBy.length, 2)
})

t.test('the JSON form carries buckets, and round-trips', async (t) => {
  const q = parseQuery(BANDS)
  const json = toJson(q)
  t.same(json.groupBy, [{ column: 'income', bucket: { lower: 0, upper: 200000, width: 20000 } }])
  t.equal(canonicalSql(fromJson(json)), canonicalSql(q))
  const e = refuses(
    t,
    () =>
      fromJson({
        select: [{ kind: 'aggregate', fn: 'count' }],
        from: DS,
        groupBy: [{ column: 'income', bucket: { lower: 0, upper: 10, width: 3 } }],
      }),
    'VEILBOX_ERR_QUERY_BAD_BUCKET',
    { path: '/query/groupBy/0/bucket' },
  )
  t.match(e.detail, /whole number of buckets/)
})

t.test('malformed buckets are refused where they are written', async (t) => {
  const cases: [string, string, RegExp][] = [
    [`SELECT COUNT(*) FROM d GROUP BY BUCKET(x, 0, 10, 3)`, 'VEILBOX_ERR_QUERY_BAD_BUCKET', /whole number/],
    [
      `SELECT COUNT(*) FROM d GROUP BY BUCKET(x, 10, 0, 1)`,
      'VEILBOX_ERR_QUERY_BAD_BUCKET',
      /lower must be below upper/,
    ],
    [`SELECT COUNT(*) FROM d GROUP BY BUCKET(x, 0, 10, 0)`, 'VEILBOX_ERR_QUERY_BAD_BUCKET', /greater than 0/],
    [`SELECT COUNT(*) FROM d GROUP BY BUCKET(x, 0, 10, -1)`, 'VEILBOX_ERR_QUERY_BAD_BUCKET', /greater than 0/],
    [`SELECT COUNT(*) FROM d GROUP BY BUCKET(x, 0, 100000, 1)`, 'VEILBOX_ERR_QUERY_BAD_BUCKET', /1 to 10000/],
    [`SELECT COUNT(*) FROM d GROUP BY WIDTH_BUCKET(x, 0, 10, 2.5)`, 'VEILBOX_ERR_QUERY_BAD_BUCKET', /1 to 10000/],
    [`SELECT COUNT(*) FROM d GROUP BY BUCKET(x, 0, 10)`, 'VEILBOX_ERR_QUERY_BAD_BUCKET', /needs its width/],
    [`SELECT COUNT(*) FROM d GROUP BY BUCKET(x, 0, 10, 1, 2)`, 'VEILBOX_ERR_QUERY_BAD_BUCKET', /four arguments/],
    [`SELECT COUNT(*) FROM d GROUP BY BUCKET(x, 'a', 10, 1)`, 'VEILBOX_ERR_QUERY_BAD_BUCKET', /number literal/],
    [`SELECT COUNT(*) FROM d GROUP BY BUCKET(1, 0, 10, 1)`, 'VEILBOX_ERR_QUERY_BAD_BUCKET', /column first/],
    [`SELECT COUNT(*) FROM d GROUP BY BUCKET(x, 0, 1e-300, 1e-310)`, 'VEILBOX_ERR_QUERY_BAD_BUCKET', /./],
    [`SELECT COUNT(*) FROM d WHERE BUCKET(x, 0, 10, 1) = 0`, 'VEILBOX_ERR_QUERY_ROW_EXPRESSION', /in a condition/],
    [`SELECT SUM(BUCKET(x, 0, 10, 1)) FROM d`, 'VEILBOX_ERR_QUERY_ROW_EXPRESSION', /inside an aggregate/],
    [
      `SELECT BUCKET(x, 0, 10, 1), COUNT(*) FROM d GROUP BY BUCKET(x, 0, 10, 2)`,
      'VEILBOX_ERR_QUERY_UNGROUPED_COLUMN',
      /same edges and width/,
    ],
    [`SELECT x, COUNT(*) FROM d GROUP BY BUCKET(x, 0, 10, 2)`, 'VEILBOX_ERR_QUERY_UNGROUPED_COLUMN', /select that/],
    [
      `SELECT COUNT(*) FROM d GROUP BY BUCKET(x, 0, 10, 2), BUCKET(x, 0, 10, 2)`,
      'VEILBOX_ERR_QUERY_BAD_GROUP_BY',
      /twice/,
    ],
  ]
  for (const [sql, code, detail] of cases) {
    const e = refuses(t, () => parseQuery(sql), code, undefined, sql)
    t.match(e.detail, detail, sql)
  }
})

t.test('the binder checks buckets against the declared bounds and types', async (t) => {
  const b = bindQuery(parseQuery(BANDS), households)
  const key = b.groupBy[0]!
  if (key.strategy.kind !== 'bucket') throw new Error('a bucket key')
  t.same(key.strategy.domain, [0, 20000, 40000, 60000, 80000, 100000, 120000, 140000, 160000, 180000])
  const cases: [string, string, RegExp][] = [
    [`BUCKET(income, -10, 100, 10)`, 'VEILBOX_ERR_QUERY_BAD_BUCKET', /outside income's declared bounds \[0, 1000000\]/],
    [`BUCKET(age, 0, 200, 10)`, 'VEILBOX_ERR_QUERY_BAD_BUCKET', /declared bounds \[0, 100\]/],
    [`BUCKET(medical_spending, 0, 100, 10)`, 'VEILBOX_ERR_QUERY_HE_UNSUPPORTED', /encrypted/],
    [`BUCKET(household_id, 0, 100, 10)`, 'VEILBOX_ERR_QUERY_ID_COLUMN', /id column/],
    [`BUCKET(district, 0, 100, 10)`, 'VEILBOX_ERR_QUERY_BAD_BUCKET', /integer or number column/],
    [`BUCKET(rooms, 0, 10, 1)`, 'VEILBOX_ERR_QUERY_UNBOUNDED_COLUMN', /no declared bounds/],
  ]
  for (const [key, code, detail] of cases) {
    const sql = `SELECT COUNT(*) FROM ${DS} GROUP BY ${key}`
    const e = refuses(t, () => bindQuery(parseQuery(sql), extended), code, undefined, key)
    t.match(e.detail, detail, key)
  }
  // A public bounded number buckets too, and the numeric GROUP BY refusal points at BUCKET.
  t.doesNotThrow(() =>
    bindQuery(parseQuery(`SELECT COUNT(*) FROM ${DS} GROUP BY BUCKET(floor_area, 0, 500, 50)`), extended),
  )
  const e = refuses(
    t,
    () => bindQuery(parseQuery(`SELECT COUNT(*) FROM ${DS} GROUP BY age`), households),
    'VEILBOX_ERR_QUERY_BAD_GROUP_BY',
  )
  t.match(e.detail, /BUCKET\(age, lower, upper, width\)/)
})

t.test('the plan adds the range to WHERE and computes buckets as histogram bins', async (t) => {
  const p = plan(
    households,
    `SELECT BUCKET(age, 0, 60, 20) AS decade, COUNT(*) AS n, SUM(income) FROM ${DS} WHERE insured = TRUE GROUP BY BUCKET(age, 0, 60, 20), district`,
  )
  t.equal(p.groups, 3 * 7)
  t.same(p.exec.groupBy[0], {
    column: 'age',
    dictionary: ['0', '20', '40'],
    nullable: false,
    bucket: { lower: 0, upper: 60 },
  })
  t.same(p.exec.where, {
    kind: 'and',
    operands: [
      { kind: 'cmp', column: 'insured', op: '=', value: true },
      { kind: 'between', column: 'age', low: 0, high: 60, negated: false },
    ],
  })
  t.ok(execTaskSchema.safeParse({ dataset: DS, version: 1, ...p.exec }).success, 'the task validates')
  t.same(p.groupKeys(0), [0, '滨城区'], 'the key is the lower edge, a number')
  t.same(p.groupKeys(2 + 3 * 6), [40, '邹平市'])

  // Ages at the edges: 0 and 19 in bucket 0, 20 in 1, 59.9 and 60 (closed at upper) in 2, 61 and null in none.
  const ages = [0, 19, 20, 59, 60, 61, 30, 45]
  const nulls = new Uint8Array([0b1000_0000]) // row 7 is null
  const rows = ages.length
  const src = {
    rows,
    keep: keepFirst(
      ages.map((_, i) => `u${i}`),
      1,
    ),
    columns: new Map<string, ColumnArray>([
      ['age', i32(ages, nulls)],
      ['income', f64(ages.map(() => 1000))],
      [
        'insured',
        { kind: 'code' as const, values: new Uint8Array(rows).fill(1), dictionary: ['false', 'true'], nulls: null },
      ],
      [
        'district',
        {
          kind: 'code' as const,
          values: new Uint8Array(rows),
          dictionary: [...(households.columns[1]!.categories ?? [])],
          nulls: null,
        },
      ],
    ]),
  }
  const exact = exactOf(p, src)
  t.same([...exact.count.slice(0, 3)], [2, 2, 2], 'per bucket in the first district: 2, 2, 2 (61 and null in none)')
  t.equal(
    exact.count.slice(3).reduce((a, b) => a + b, 0),
    0,
    'no other group has a row',
  )
})

t.test('a query with an unbucketed GROUP BY is unchanged', async (t) => {
  const p = plan(households, `SELECT district, COUNT(*) FROM ${DS} GROUP BY district`)
  t.equal(p.exec.where, null)
  t.notOk('bucket' in p.exec.groupBy[0]!)
})
