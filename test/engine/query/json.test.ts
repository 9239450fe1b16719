import t, { type Test } from 'tap'
import { isVeilboxError } from '../../../src/errors/index.js'
import {
  canonicalSql,
  fromJson,
  parseQuery,
  queryJsonSchema,
  toJson,
  QUERY_LIMITS,
  type QueryJson,
} from '../../../src/engine/query/index.js'
import { CORPUS } from './corpus.js'
import { refuses } from './fixture.js'

const DS = 'binzhou_households'

t.test('round trip: fromJson(toJson(parse(sql))) has the canonical text of parse(sql)', async (t) => {
  for (const sql of CORPUS) {
    const q = parseQuery(sql)
    const json = toJson(q)
    const wire = JSON.parse(JSON.stringify(json)) as unknown
    const back = fromJson(wire)
    t.equal(canonicalSql(back), canonicalSql(q), sql)
    t.same(toJson(back), json, `toJson is stable: ${sql}`)
    t.ok(queryJsonSchema.safeParse(wire).success, 'toJson output matches the published schema')
  }
})

t.test('the JSON form of the demo query', async (t) => {
  const q = parseQuery(
    `SELECT district, COUNT(*) AS n, MEDIAN(age), QUANTILE(income, 0.9) FROM ${DS} WHERE age >= 18 AND NOT insured = TRUE GROUP BY district ORDER BY n DESC`,
  )
  t.same(toJson(q), {
    select: [
      { kind: 'column', column: 'district' },
      { kind: 'aggregate', fn: 'count', alias: 'n' },
      { kind: 'aggregate', fn: 'median', column: 'age' },
      { kind: 'aggregate', fn: 'quantile', column: 'income', p: 0.9 },
    ],
    from: DS,
    where: {
      kind: 'and',
      operands: [
        { kind: 'compare', column: 'age', op: '>=', value: 18 },
        { kind: 'not', operand: { kind: 'compare', column: 'insured', op: '=', value: true } },
      ],
    },
    groupBy: ['district'],
    orderBy: [{ name: 'n', direction: 'desc' }],
  })
})

t.test('fromJson builds a frozen tree whose nodes point at JSON paths', async (t) => {
  const q = fromJson({
    select: [
      { kind: 'aggregate', fn: 'count', column: null },
      { kind: 'aggregate', fn: 'sum', column: 'income' },
    ],
    from: DS,
    where: { kind: 'in', column: 'district', values: ['滨城区'] },
  })
  t.ok(Object.isFrozen(q) && Object.isFrozen(q.select) && Object.isFrozen(q.select[1]) && Object.isFrozen(q.where))
  t.same(q.pos, { path: '/query' })
  t.same(q.select[1]!.pos, { path: '/query/select/1' })
  t.same(q.from.pos, { path: '/query/from' })
  const w = q.where!
  if (w.kind !== 'in') throw new Error('expected in')
  t.equal(w.negated, false, 'negated defaults to false')
  t.same(w.values[0]!.pos, { path: '/query/where/values/0' })
  t.same(q.orderBy, [])
  t.same(q.groupBy, [])
  t.equal(
    canonicalSql(q),
    `SELECT COUNT(*) AS count, SUM(income) AS sum_income FROM ${DS} WHERE district IN ('滨城区')`,
  )
})

t.test('COUNT(*) may omit column or give null; median is sugar for the 0.5 quantile', async (t) => {
  const a = fromJson({ select: [{ kind: 'aggregate', fn: 'count' }], from: DS })
  const b = fromJson({ select: [{ kind: 'aggregate', fn: 'count', column: null }], from: DS })
  t.equal(canonicalSql(a), canonicalSql(b))
  const m = fromJson({ select: [{ kind: 'aggregate', fn: 'median', column: 'age' }], from: DS })
  t.equal(canonicalSql(m), canonicalSql(parseQuery(`SELECT MEDIAN(age) FROM ${DS}`)))
  t.equal(m.select[0]!.kind === 'aggregate' && m.select[0].display, 'median')
})

t.test('the options path prefixes every error path', async (t) => {
  refuses(
    t,
    () => fromJson({ select: [{ kind: 'column', column: 'age' }], from: DS }, { path: '/body/q' }),
    'VEILBOX_ERR_QUERY_NOT_AGGREGATE',
    {
      path: '/body/q/select/0',
    },
  )
})

function validation(t: Test, value: unknown, paths: string[], message: string): void {
  try {
    fromJson(value)
    t.fail(`${message}: accepted`)
  } catch (e) {
    if (!isVeilboxError(e)) throw e
    t.equal(e.code, 'VEILBOX_ERR_REQUEST_VALIDATION', message)
    t.equal(e.status, 400)
    const got = (e.extra.errors as { path: string; message: string }[]).map((x) => x.path)
    for (const p of paths) t.ok(got.includes(p), `${message}: an error at ${p} (got ${got.join(', ')})`)
  }
}

t.test('the schema is strict: unknown fields, wrong kinds and types are refused with their paths', async (t) => {
  const ok: QueryJson = { select: [{ kind: 'aggregate', fn: 'count' }], from: DS }
  validation(t, null, ['/query'], 'null')
  validation(t, 'SELECT 1', ['/query'], 'a string')
  validation(t, { ...ok, offset: 10 }, ['/query'], 'unknown top-level field')
  validation(t, { ...ok, sql: 'x' }, ['/query'], 'sql and query together')
  validation(t, { from: DS }, ['/query/select'], 'no select')
  validation(t, { ...ok, select: [] }, ['/query/select'], 'empty select')
  validation(t, { ...ok, from: '' }, ['/query/from'], 'empty from')
  validation(t, { ...ok, from: { name: DS } }, ['/query/from'], 'from as an object')
  validation(
    t,
    { ...ok, select: [{ kind: 'aggregate', fn: 'count', filter: true }] },
    ['/query/select/0'],
    'unknown aggregate field',
  )
  validation(
    t,
    { ...ok, select: [{ kind: 'aggregate', fn: 'min', column: 'age' }] },
    ['/query/select/0/fn'],
    'unknown fn',
  )
  validation(t, { ...ok, select: [{ kind: 'star' }] }, ['/query/select/0/kind'], 'unknown item kind')
  validation(
    t,
    { ...ok, select: [{ kind: 'aggregate', fn: 'sum', column: 5 }] },
    ['/query/select/0/column'],
    'column as a number',
  )
  validation(
    t,
    { ...ok, where: { kind: 'compare', column: 'age', op: '!=', value: 1 } },
    ['/query/where/op'],
    '!= is SQL only',
  )
  validation(
    t,
    { ...ok, where: { kind: 'compare', column: 'age', op: '=', value: null } },
    ['/query/where/value'],
    'null literal',
  )
  validation(
    t,
    { ...ok, where: { kind: 'compare', column: 'age', op: '=', value: [1] } },
    ['/query/where/value'],
    'array literal',
  )
  validation(
    t,
    { ...ok, where: { kind: 'compare', column: 'age', op: '=', value: 1, extra: 1 } },
    ['/query/where'],
    'unknown predicate field',
  )
  validation(
    t,
    { ...ok, where: { kind: 'and', operands: [{ kind: 'isNull', column: 'age' }] } },
    ['/query/where/operands'],
    'AND of one',
  )
  validation(t, { ...ok, where: { kind: 'in', column: 'age', values: [] } }, ['/query/where/values'], 'empty IN')
  validation(
    t,
    {
      ...ok,
      where: {
        kind: 'or',
        operands: [
          { kind: 'isNull', column: 'age' },
          { kind: 'not', operand: { kind: 'like', column: 'x' } },
        ],
      },
    },
    ['/query/where/operands/1/operand/kind'],
    'nested unknown kind',
  )
  validation(
    t,
    { ...ok, orderBy: [{ name: 'count', direction: 'up' }] },
    ['/query/orderBy/0/direction'],
    'bad direction',
  )
  validation(t, { ...ok, groupBy: 'district' }, ['/query/groupBy'], 'groupBy as a string')
  validation(
    t,
    { ...ok, where: { kind: 'in', column: 'age', values: Array(QUERY_LIMITS.maxInList + 1).fill(1) } },
    ['/query/where/values'],
    'IN list too long',
  )
})

t.test('rules are the same as for SQL, with the same codes and JSON paths', async (t) => {
  const count = { kind: 'aggregate', fn: 'count' }
  refuses(
    t,
    () => fromJson({ select: [{ kind: 'column', column: 'age' }], from: DS }),
    'VEILBOX_ERR_QUERY_NOT_AGGREGATE',
    { path: '/query/select/0' },
  )
  refuses(
    t,
    () => fromJson({ select: [count, { kind: 'column', column: 'age' }], from: DS }),
    'VEILBOX_ERR_QUERY_UNGROUPED_COLUMN',
    { path: '/query/select/1' },
  )
  refuses(t, () => fromJson({ select: [count, count], from: DS }), 'VEILBOX_ERR_QUERY_DUPLICATE_NAME', {
    path: '/query/select/1',
  })
  refuses(
    t,
    () => fromJson({ select: [{ kind: 'aggregate', fn: 'sum' }], from: DS }),
    'VEILBOX_ERR_QUERY_BAD_AGGREGATE',
    { path: '/query/select/0' },
  )
  refuses(
    t,
    () => fromJson({ select: [{ kind: 'aggregate', fn: 'quantile', column: 'age' }], from: DS }),
    'VEILBOX_ERR_QUERY_BAD_AGGREGATE',
    { path: '/query/select/0' },
  )
  refuses(
    t,
    () => fromJson({ select: [{ kind: 'aggregate', fn: 'quantile', column: 'age', p: 1 }], from: DS }),
    'VEILBOX_ERR_QUERY_BAD_AGGREGATE',
    { path: '/query/select/0' },
  )
  refuses(
    t,
    () => fromJson({ select: [{ kind: 'aggregate', fn: 'sum', column: 'age', p: 0.5 }], from: DS }),
    'VEILBOX_ERR_QUERY_BAD_AGGREGATE',
    { path: '/query/select/0' },
  )
  refuses(
    t,
    () => fromJson({ select: [{ kind: 'aggregate', fn: 'median', column: 'age', p: 0.3 }], from: DS }),
    'VEILBOX_ERR_QUERY_BAD_AGGREGATE',
    { path: '/query/select/0' },
  )
  refuses(
    t,
    () => fromJson({ select: [count], from: DS, groupBy: ['district', 'district'] }),
    'VEILBOX_ERR_QUERY_BAD_GROUP_BY',
    { path: '/query/groupBy/1' },
  )
  refuses(
    t,
    () => fromJson({ select: [count], from: DS, orderBy: [{ name: 'n' }] }),
    'VEILBOX_ERR_QUERY_BAD_ORDER_BY',
    { path: '/query/orderBy/0' },
  )
  refuses(
    t,
    () =>
      fromJson({
        select: [count],
        from: DS,
        groupBy: Array.from({ length: QUERY_LIMITS.maxGroupBy + 1 }, (_, i) => `c${i}`),
      }),
    'VEILBOX_ERR_REQUEST_VALIDATION',
  )
})

t.test('deep nesting is refused before the schema recurses into it', async (t) => {
  const deep = (n: number): unknown => {
    let p: unknown = { kind: 'isNull', column: 'age' }
    for (let i = 0; i < n; i++) p = { kind: 'not', operand: p }
    return { select: [{ kind: 'aggregate', fn: 'count' }], from: DS, where: p }
  }
  t.doesNotThrow(() => fromJson(deep(QUERY_LIMITS.maxDepth)), 'the maximum depth is fine')
  const e = refuses(t, () => fromJson(deep(QUERY_LIMITS.maxDepth + 1)), 'VEILBOX_ERR_QUERY_TOO_LARGE')
  t.equal(e.extra.limit, 'maxDepth')
  t.match(e.extra.path, /^\/query\/where(\/operand)+$/)
  const e2 = refuses(
    t,
    () => fromJson(deep(100_000)),
    'VEILBOX_ERR_QUERY_TOO_LARGE',
    undefined,
    'a hundred thousand levels',
  )
  t.equal(e2.extra.limit, 'maxDepth')
  let junk: unknown = 1
  for (let i = 0; i < 100_000; i++) junk = [junk]
  refuses(
    t,
    () => fromJson({ select: junk, from: DS }),
    'VEILBOX_ERR_QUERY_TOO_LARGE',
    undefined,
    'deep arrays anywhere',
  )
})

t.test('many conditions are refused', async (t) => {
  const conds = Array.from({ length: QUERY_LIMITS.maxConditions + 1 }, () => ({ kind: 'isNull', column: 'age' }))
  const e = refuses(
    t,
    () => fromJson({ select: [{ kind: 'aggregate', fn: 'count' }], from: DS, where: { kind: 'and', operands: conds } }),
    'VEILBOX_ERR_QUERY_TOO_LARGE',
    {
      path: `/query/where/operands/${QUERY_LIMITS.maxConditions}`,
    },
  )
  t.equal(e.extra.limit, 'maxConditions')
})

t.test('the JSON form carries aliases, joins and table.column names', async (t) => {
  const sql =
    'SELECT h.district, AVG(c.claim_amount) AS avg_claim FROM binzhou_households AS h JOIN binzhou_claims AS c ON h.household_id = c.household_id WHERE c.inpatient = TRUE GROUP BY h.district HAVING avg_claim > 0'
  const q = parseQuery(sql)
  const json = toJson(q)
  t.match(json, {
    from: 'binzhou_households',
    alias: 'h',
    joins: [{ dataset: 'binzhou_claims', alias: 'c', on: ['h.household_id', 'c.household_id'] }],
    groupBy: ['h.district'],
  })
  t.equal(canonicalSql(fromJson(json)), canonicalSql(q))
  const using = { ...json, joins: [{ dataset: 'binzhou_claims', alias: 'c', using: 'household_id' }] }
  t.match(canonicalSql(fromJson(using)), /JOIN binzhou_claims AS c USING \(household_id\)/)
  const both = { ...json, joins: [{ dataset: 'x', using: 'u', on: ['a.b', 'c.d'] }] }
  t.throws(() => fromJson(both), { code: 'VEILBOX_ERR_REQUEST_VALIDATION' })
})
