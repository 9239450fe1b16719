/**
 * Analyst bounds in the query language (issue 24, point 1): `SUM(x BOUNDS a,
 * b)` in SQL and `bounds: {lower, upper}` in the JSON form, public literals
 * only; part of the canonical query, so two queries differing only in bounds
 * are different questions (and cached apart); checked against the declared
 * bounds by the binder, refused on encrypted columns.
 */
import t from 'tap'

import { isVeilboxError } from '../../../src/errors/index.js'
import { bindQuery, canonicalSql, fromJson, parseQuery, queryHash, toJson } from '../../../src/engine/query/index.js'
import { households } from './fixture.js'

const T = households.id

function codeOf(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    return isVeilboxError(err) ? err.code : `not a veilbox error: ${String(err)}`
  }
  return 'accepted'
}

t.test('SQL: BOUNDS after the column of SUM, AVG, VAR, STDDEV, MEDIAN and QUANTILE', async (t) => {
  for (const [sql, canonical] of [
    ['SUM(income BOUNDS 0, 200000)', 'SUM(income BOUNDS 0, 200000)'],
    ['avg(income bounds 10, 2e5)', 'AVG(income BOUNDS 10, 200000)'],
    ['VAR(income BOUNDS -0, 5)', 'VAR(income BOUNDS 0, 5)'],
    ['STDDEV(income BOUNDS 0.5, 7.25)', 'STDDEV(income BOUNDS 0.5, 7.25)'],
    ['MEDIAN(income BOUNDS 0, 100)', 'QUANTILE(income BOUNDS 0, 100, 0.5)'],
    ['QUANTILE(income BOUNDS 0, 100, 0.9)', 'QUANTILE(income BOUNDS 0, 100, 0.9)'],
  ] as const) {
    const q = parseQuery(`SELECT ${sql} AS x FROM ${T}`)
    t.match(canonicalSql(q), canonical, sql)
    t.same(canonicalSql(fromJson(toJson(q))), canonicalSql(q), `${sql}: the JSON form round-trips`)
  }
})

t.test('bounds are part of the question: a different range is a different canonical query and hash', async (t) => {
  const a = parseQuery(`SELECT SUM(income BOUNDS 0, 200000) FROM ${T}`)
  const b = parseQuery(`SELECT SUM(income BOUNDS 0, 300000) FROM ${T}`)
  const c = parseQuery(`SELECT SUM(income) FROM ${T}`)
  t.not(queryHash(a), queryHash(b))
  t.not(queryHash(a), queryHash(c))
  const j = fromJson({
    select: [{ kind: 'aggregate', fn: 'sum', column: 'income', bounds: { lower: 0, upper: 200000 } }],
    from: T,
  })
  t.equal(queryHash(j), queryHash(a), 'the JSON form asks the same question as the SQL')
})

t.test('bad BOUNDS are refused with a clear code', async (t) => {
  const bad = (sql: string) => codeOf(() => parseQuery(`SELECT ${sql} FROM ${T}`))
  t.equal(bad('SUM(income BOUNDS 5, 5)'), 'VEILBOX_ERR_QUERY_BAD_AGGREGATE', 'lower must be below upper')
  t.equal(bad('SUM(income BOUNDS 9, 1)'), 'VEILBOX_ERR_QUERY_BAD_AGGREGATE')
  t.equal(bad('SUM(income BOUNDS 0)'), 'VEILBOX_ERR_QUERY_BAD_AGGREGATE', 'two numbers')
  t.equal(bad('SUM(income BOUNDS age, 5)'), 'VEILBOX_ERR_QUERY_BAD_AGGREGATE', 'literals only, never data')
  t.equal(bad("SUM(income BOUNDS 0, '5')"), 'VEILBOX_ERR_QUERY_BAD_AGGREGATE', 'numbers only')
  t.equal(bad('COUNT(income BOUNDS 0, 5)'), 'VEILBOX_ERR_QUERY_BAD_AGGREGATE', 'COUNT does not clamp')
  t.equal(bad('SUM(income BOUNDS 0, 5, 6)'), 'VEILBOX_ERR_QUERY_BAD_AGGREGATE')
  t.equal(
    codeOf(() =>
      fromJson({
        select: [{ kind: 'aggregate', fn: 'sum', column: 'income', bounds: { lower: 3, upper: 1 } }],
        from: T,
      }),
    ),
    'VEILBOX_ERR_QUERY_BAD_AGGREGATE',
  )
})

t.test('the binder: inside the declared bounds, plain columns only', async (t) => {
  const bind = (sql: string) => codeOf(() => bindQuery(parseQuery(sql), households))
  t.equal(bind(`SELECT SUM(income BOUNDS 0, 200000) FROM ${T}`), 'accepted')
  t.equal(bind(`SELECT SUM(income BOUNDS 0, 1000000) FROM ${T}`), 'accepted')
  t.equal(bind(`SELECT SUM(income BOUNDS -1, 200000) FROM ${T}`), 'VEILBOX_ERR_QUERY_BOUNDS_OUTSIDE_DECLARED')
  t.equal(bind(`SELECT AVG(age BOUNDS 0, 101) FROM ${T}`), 'VEILBOX_ERR_QUERY_BOUNDS_OUTSIDE_DECLARED')
  t.equal(
    bind(`SELECT SUM(medical_spending BOUNDS 0, 100) FROM ${T}`),
    'VEILBOX_ERR_QUERY_HE_UNSUPPORTED',
    'encrypted sums cannot clamp per query',
  )
  try {
    bindQuery(parseQuery(`SELECT SUM(income BOUNDS 0, 2000000) FROM ${T}`), households)
  } catch (err) {
    t.match(isVeilboxError(err) ? err.detail : '', /0 to 2000000 .*declared bounds 0 to 1000000/)
  }
  const b = bindQuery(parseQuery(`SELECT SUM(income BOUNDS 0, 200000) FROM ${T}`), households)
  const out = b.outputs[0]!
  t.same(out.kind === 'aggregate' ? out.bounds : null, { lower: 0, upper: 200000 })
})
