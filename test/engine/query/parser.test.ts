import t, { type Test } from 'tap'
import {
  canonicalSql,
  parseQuery,
  QUERY_LIMITS,
  type Aggregate,
  type ParsedPredicate,
  type Query,
} from '../../../src/engine/query/index.js'
import { at, refuses } from './fixture.js'

const DS = 'binzhou_households'

/** The tree without positions, for comparing shapes. */
function strip(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(strip)
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k]) => k !== 'pos')
        .map(([k, x]) => [k, strip(x)]),
    )
  }
  return v
}

/** A predicate in a compact prefix notation, to check precedence at a glance. */
function show(p: ParsedPredicate): string {
  switch (p.kind) {
    case 'and':
    case 'or':
      return `${p.kind}(${p.operands.map(show).join(', ')})`
    case 'not':
      return `not(${show(p.operand)})`
    case 'compare':
      return `${p.column.name}${p.op}${JSON.stringify(p.value.value)}`
    case 'in':
      return `${p.column.name} ${p.negated ? 'notin' : 'in'} ${JSON.stringify(p.values.map((v) => v.value))}`
    case 'between':
      return `${p.column.name} ${p.negated ? 'notbetween' : 'between'} ${p.low.value}..${p.high.value}`
    case 'isNull':
      return `${p.column.name} ${p.negated ? 'isnotnull' : 'isnull'}`
  }
}

const where = (cond: string): string => show(parseQuery(`SELECT COUNT(*) FROM ${DS} WHERE ${cond}`).where!)
const items = (list: string, tail = ''): unknown => strip(parseQuery(`SELECT ${list} FROM ${DS} ${tail}`).select)

t.test('the demo query parses into the expected tree', async (t) => {
  const q = parseQuery(`SELECT district, COUNT(*), SUM(income), AVG(income) FROM ${DS} GROUP BY district`)
  t.same(strip(q), {
    kind: 'query',
    select: [
      { kind: 'columnItem', column: { kind: 'column', name: 'district' } },
      { kind: 'aggregate', fn: 'count', column: null },
      { kind: 'aggregate', fn: 'sum', column: { kind: 'column', name: 'income' } },
      { kind: 'aggregate', fn: 'avg', column: { kind: 'column', name: 'income' } },
    ],
    from: { name: DS },
    groupBy: [{ kind: 'column', name: 'district' }],
    orderBy: [],
  })
  t.same(q.pos, { offset: 0, line: 1, column: 1 })
  t.same(q.from.pos, at(`SELECT district, COUNT(*), SUM(income), AVG(income) FROM ${DS} GROUP BY district`, DS))
  t.equal(q.where, undefined)
})

t.test('every aggregate form', async (t) => {
  const agg = (sql: string): unknown => (items(sql) as unknown[])[0]
  const col = (name: string) => ({ kind: 'column', name })
  t.same(agg('COUNT(*)'), { kind: 'aggregate', fn: 'count', column: null })
  t.same(agg('COUNT(age)'), { kind: 'aggregate', fn: 'count', column: col('age') })
  t.same(agg('SUM(income)'), { kind: 'aggregate', fn: 'sum', column: col('income') })
  t.same(agg('AVG(income)'), { kind: 'aggregate', fn: 'avg', column: col('income') })
  t.same(agg('VAR(income)'), { kind: 'aggregate', fn: 'var', column: col('income') })
  t.same(agg('VARIANCE(income)'), { kind: 'aggregate', fn: 'var', column: col('income') }, 'VARIANCE is VAR')
  t.same(agg('STDDEV(income)'), { kind: 'aggregate', fn: 'stddev', column: col('income') })
  t.same(agg('MEDIAN(age)'), { kind: 'aggregate', fn: 'quantile', column: col('age'), p: 0.5, display: 'median' })
  t.same(agg('QUANTILE(age, 0.9)'), { kind: 'aggregate', fn: 'quantile', column: col('age'), p: 0.9 })
  t.same(agg('quantile(age, .25)'), { kind: 'aggregate', fn: 'quantile', column: col('age'), p: 0.25 })
  t.same(agg('count ( * )'), { kind: 'aggregate', fn: 'count', column: null }, 'spaces inside calls')
  t.same(agg('Sum("income")'), { kind: 'aggregate', fn: 'sum', column: col('income') }, 'quoted argument')
})

t.test('aliases with AS, quoted or not; unquoted names fold to lower case', async (t) => {
  t.same(items('district AS d, COUNT(*) AS N, SUM(income) AS "Total Income"', 'GROUP BY district'), [
    { kind: 'columnItem', column: { kind: 'column', name: 'district' }, alias: 'd' },
    { kind: 'aggregate', fn: 'count', column: null, alias: 'n' },
    { kind: 'aggregate', fn: 'sum', column: { kind: 'column', name: 'income' }, alias: 'Total Income' },
  ])
  t.same(items('COUNT(*) AS "人数"'), [{ kind: 'aggregate', fn: 'count', column: null, alias: '人数' }])
  t.same(
    items('COUNT(*) AS "select"'),
    [{ kind: 'aggregate', fn: 'count', column: null, alias: 'select' }],
    'reserved word quoted',
  )
  const q = parseQuery(`select DISTRICT, count(*) from "binzhou_households" group by District`)
  t.equal(q.from.name, DS)
  t.same(
    q.groupBy.map((g) => g.name),
    ['district'],
  )
})

t.test('comparisons: every operator, a literal on either side, != as <>', async (t) => {
  t.equal(where('age = 30'), 'age=30')
  t.equal(where('age <> 30'), 'age<>30')
  t.equal(where('age != 30'), 'age<>30')
  t.equal(where('age < 30'), 'age<30')
  t.equal(where('age <= 30'), 'age<=30')
  t.equal(where('age > 30'), 'age>30')
  t.equal(where('age >= 30'), 'age>=30')
  t.equal(where('30 < age'), 'age>30', 'literal on the left flips the operator')
  t.equal(where('30 <= age'), 'age>=30')
  t.equal(where('30 > age'), 'age<30')
  t.equal(where('30 >= age'), 'age<=30')
  t.equal(where('30 = age'), 'age=30')
  t.equal(where("'滨城区' <> district"), 'district<>"滨城区"')
})

t.test('literals: strings with quotes, Unicode, signed and decimal numbers, booleans', async (t) => {
  t.equal(where("district = '滨城区'"), 'district="滨城区"')
  t.equal(where("district = 'O''Brien'"), `district="O'Brien"`)
  t.equal(where("district = ''"), 'district=""')
  t.equal(where('income > -12.5'), 'income>-12.5')
  t.equal(where('income > +3'), 'income>3')
  t.equal(where('income > - 3'), 'income>-3', 'a sign may be spaced from its number')
  t.equal(where('income > 1.5e3'), 'income>1500')
  t.equal(where('income > -0'), 'income>0', 'negative zero is zero')
  t.equal(where('insured = TRUE'), 'insured=true')
  t.equal(where('insured = false'), 'insured=false')
})

t.test('IN, NOT IN, BETWEEN, NOT BETWEEN, IS NULL, IS NOT NULL', async (t) => {
  t.equal(where("district IN ('滨城区', '沾化区')"), 'district in ["滨城区","沾化区"]')
  t.equal(where('age NOT IN (1, 2, 3)'), 'age notin [1,2,3]')
  t.equal(where('insured IN (TRUE)'), 'insured in [true]')
  t.equal(where('age BETWEEN 18 AND 64'), 'age between 18..64')
  t.equal(where('age NOT BETWEEN -1 AND 0.5'), 'age notbetween -1..0.5')
  t.equal(where('age IS NULL'), 'age isnull')
  t.equal(where('age IS NOT NULL'), 'age isnotnull')
})

t.test('precedence: NOT binds tighter than AND, AND tighter than OR; parentheses group', async (t) => {
  t.equal(where('a = 1 OR b = 2 AND c = 3'), 'or(a=1, and(b=2, c=3))')
  t.equal(where('a = 1 AND b = 2 OR c = 3'), 'or(and(a=1, b=2), c=3)')
  t.equal(where('(a = 1 OR b = 2) AND c = 3'), 'and(or(a=1, b=2), c=3)')
  t.equal(where('NOT a = 1 AND b = 2'), 'and(not(a=1), b=2)')
  t.equal(where('NOT (a = 1 AND b = 2)'), 'not(and(a=1, b=2))')
  t.equal(where('NOT NOT a = 1'), 'not(not(a=1))')
  t.equal(where('a = 1 AND b = 2 AND c = 3 OR d = 4 OR e = 5'), 'or(and(a=1, b=2, c=3), d=4, e=5)', 'chains are n-ary')
  t.equal(where('a = 1 AND (b = 2 AND c = 3)'), 'and(a=1, and(b=2, c=3))', 'written nesting is kept')
  t.equal(where('((a = 1))'), 'a=1')
  t.equal(
    where('NOT a IN (1) OR b BETWEEN 1 AND 2 AND c IS NULL'),
    'or(not(a in [1]), and(b between 1..2, c isnull))',
    'BETWEEN ... AND is not a logical AND',
  )
  t.equal(where('a BETWEEN 1 AND 2 AND b = 1'), 'and(a between 1..2, b=1)')
})

t.test('GROUP BY and ORDER BY', async (t) => {
  const q = parseQuery(
    `SELECT district, insured, COUNT(*) AS n, AVG(income) FROM ${DS} GROUP BY district, insured ORDER BY n DESC, district ASC, avg_income`,
  )
  t.same(
    q.groupBy.map((g) => g.name),
    ['district', 'insured'],
  )
  t.same(strip(q.orderBy), [
    { name: 'n', direction: 'desc' },
    { name: 'district', direction: 'asc' },
    { name: 'avg_income', direction: 'asc' },
  ])
  const byCall = parseQuery(
    `SELECT district, COUNT(*), MEDIAN(age) AS m FROM ${DS} GROUP BY district ORDER BY COUNT(*) DESC, QUANTILE(age, 0.5)`,
  )
  t.same(
    strip(byCall.orderBy),
    [
      { name: 'count', direction: 'desc' },
      { name: 'm', direction: 'asc' },
    ],
    'an aggregate in ORDER BY resolves to its output name',
  )
})

t.test('default output names', async (t) => {
  const q = parseQuery(
    `SELECT COUNT(*), COUNT(age), SUM(income), MEDIAN(age), QUANTILE(income, 0.95), VARIANCE(age) FROM ${DS} ORDER BY count, count_age, sum_income, median_age, quantile_income_0_95, var_age`,
  )
  t.same(
    q.orderBy.map((o) => o.name),
    ['count', 'count_age', 'sum_income', 'median_age', 'quantile_income_0_95', 'var_age'],
  )
})

t.test('statement endings, comments, keyword case and spacing', async (t) => {
  const base = strip(parseQuery(`SELECT COUNT(*) FROM ${DS} WHERE age > 1`))
  for (const sql of [
    `SELECT COUNT(*) FROM ${DS} WHERE age > 1;`,
    `  select count(*)\n  from ${DS}\n  where age>1 ;  `,
    `SELECT /* how many */ COUNT(*) -- all\nFROM ${DS} WHERE age > 1 -- adults`,
    `SELECT\tCOUNT(*)\r\nFROM\u3000${DS} WHERE "age" > 1`,
  ]) {
    t.same(strip(parseQuery(sql)), base, JSON.stringify(sql))
  }
})

t.test('positions of nodes in a multi-line query', async (t) => {
  const q = parseQuery(
    `SELECT district,\n       SUM(income) AS total\nFROM ${DS}\nWHERE district = '滨城区'\n  AND age >= 18\nGROUP BY district`,
  )
  t.same(q.select[1]!.pos, { offset: 24, line: 2, column: 8 })
  t.same((q.select[1] as Aggregate).column!.pos, { offset: 28, line: 2, column: 12 })
  const w = q.where!
  if (w.kind !== 'and') throw new Error('expected and')
  const second = w.operands[1]!
  t.same(second.pos, { offset: 98, line: 5, column: 7 })
  const first = w.operands[0]!
  if (first.kind !== 'compare') throw new Error('expected compare')
  t.same(first.value.pos, { offset: 86, line: 4, column: 18 })
  t.same(q.groupBy[0]!.pos, { offset: 117, line: 6, column: 10 })
})

t.test('the tree is frozen all the way down', async (t) => {
  const q: Query = parseQuery(
    `SELECT district, QUANTILE(age, 0.9) AS q FROM ${DS} WHERE NOT district IN ('滨城区') AND (age > 1 OR age IS NULL) GROUP BY district ORDER BY q DESC`,
  )
  const seen: unknown[] = []
  const walk = (v: unknown): void => {
    if (v === null || typeof v !== 'object') return
    seen.push(v)
    t.ok(Object.isFrozen(v), `frozen: ${JSON.stringify(v).slice(0, 60)}`)
    for (const x of Object.values(v)) walk(x)
  }
  walk(q)
  t.ok(seen.length > 20)
  t.throws(() => {
    ;(q.select as unknown as unknown[]).push(1)
  }, TypeError)
  t.throws(() => {
    ;(q as unknown as { from: unknown }).from = null
  }, TypeError)
})

// ---- refusals ----

type Case = [sql: string, code: string, needle: string, nth?: number]

function refusals(t: Test, title: string, cases: Case[]): void {
  t.test(title, async (t) => {
    for (const [sql, code, needle, nth] of cases) {
      // An empty needle stands for the end of the text.
      const pos = needle === '' ? { offset: sql.length, line: 1, column: sql.length + 1 } : at(sql, needle, nth)
      refuses(t, () => parseQuery(sql), `VEILBOX_ERR_QUERY_${code}`, pos, sql)
    }
  })
}

refusals(t, 'row-level output: SELECT *, bare and ungrouped columns, constants, no aggregate', [
  [`SELECT * FROM ${DS}`, 'NOT_AGGREGATE', '*'],
  [`SELECT COUNT(*), * FROM ${DS}`, 'NOT_AGGREGATE', '*', 2],
  [`SELECT age FROM ${DS}`, 'NOT_AGGREGATE', 'age'],
  [`SELECT age, income FROM ${DS}`, 'NOT_AGGREGATE', 'age'],
  [`SELECT 1 FROM ${DS}`, 'NOT_AGGREGATE', '1'],
  [`SELECT 'x', COUNT(*) FROM ${DS}`, 'NOT_AGGREGATE', "'x'"],
  [`SELECT NULL FROM ${DS}`, 'NOT_AGGREGATE', 'NULL'],
  [`SELECT district FROM ${DS} GROUP BY district`, 'NOT_AGGREGATE', 'SELECT'],
  [`SELECT district, COUNT(*) FROM ${DS}`, 'UNGROUPED_COLUMN', 'district'],
  [`SELECT district, insured, COUNT(*) FROM ${DS} GROUP BY district`, 'UNGROUPED_COLUMN', 'insured'],
  [`SELECT COUNT(*), age FROM ${DS} GROUP BY district`, 'UNGROUPED_COLUMN', 'age'],
  [`SELECT district AS d, COUNT(*) FROM ${DS} GROUP BY d`, 'UNGROUPED_COLUMN', 'district'],
])

refusals(t, 'row-level expressions: arithmetic, scalar functions, CASE, CAST, column comparisons', [
  [`SELECT income * 2 FROM ${DS}`, 'ROW_EXPRESSION', '*'],
  [`SELECT income + age FROM ${DS}`, 'ROW_EXPRESSION', '+'],
  [`SELECT district || 'x' FROM ${DS}`, 'ROW_EXPRESSION', '||'],
  [`SELECT SUM(income * 2) FROM ${DS}`, 'ROW_EXPRESSION', '* 2'],
  [`SELECT SUM(income - age) FROM ${DS}`, 'ROW_EXPRESSION', '-'],
  [`SELECT AVG(age::float) FROM ${DS}`, 'ROW_EXPRESSION', '::'],
  [`SELECT SUM(-income) FROM ${DS}`, 'ROW_EXPRESSION', '-'],
  [`SELECT ABS(income) FROM ${DS}`, 'ROW_EXPRESSION', 'ABS'],
  [`SELECT SUM(ABS(income)) FROM ${DS}`, 'ROW_EXPRESSION', 'ABS'],
  [`SELECT SUM(CASE WHEN age > 1 THEN 1 ELSE 0 END) FROM ${DS}`, 'ROW_EXPRESSION', 'CASE'],
  [`SELECT CAST(age AS TEXT), COUNT(*) FROM ${DS}`, 'ROW_EXPRESSION', 'CAST'],
  [`SELECT age > 5 FROM ${DS}`, 'ROW_EXPRESSION', '>'],
  [`SELECT COUNT(*) FROM ${DS} WHERE age + 1 > 5`, 'ROW_EXPRESSION', '+'],
  [`SELECT COUNT(*) FROM ${DS} WHERE age > income`, 'ROW_EXPRESSION', '>'],
  [`SELECT COUNT(*) FROM ${DS} WHERE age IN (income)`, 'ROW_EXPRESSION', 'income'],
  [`SELECT COUNT(*) FROM ${DS} WHERE lower(district) = 'x'`, 'ROW_EXPRESSION', 'lower'],
  [`SELECT COUNT(*) FROM ${DS} WHERE -age > 1`, 'ROW_EXPRESSION', '-'],
  [`SELECT COUNT(*) FROM ${DS} GROUP BY age / 10`, 'ROW_EXPRESSION', '/'],
  [`SELECT COUNT(*) FROM ${DS} GROUP BY floor(age)`, 'ROW_EXPRESSION', 'floor'],
])

refusals(t, 'joins, subqueries and nested aggregates', [
  [`SELECT COUNT(*) FROM a, b`, 'JOIN', ','],
  [`SELECT COUNT(*) FROM a LEFT JOIN b ON a.x = b.x`, 'JOIN', 'LEFT'],
  [`SELECT COUNT(*) FROM a LEFT JOIN b ON a.x = b.x`, 'JOIN', 'LEFT'],
  [`SELECT COUNT(*) FROM a CROSS JOIN b`, 'JOIN', 'CROSS'],
  [`SELECT COUNT(*) FROM a NATURAL JOIN b`, 'JOIN', 'NATURAL'],
  [`SELECT COUNT(*) FROM (SELECT * FROM ${DS})`, 'SUBQUERY', 'SELECT', 2],
  [`SELECT COUNT(*) FROM ${DS} WHERE district IN (SELECT district FROM x)`, 'SUBQUERY', 'SELECT', 2],
  [`SELECT COUNT(*) FROM ${DS} WHERE EXISTS (SELECT 1)`, 'SUBQUERY', 'EXISTS'],
  [`SELECT COUNT(*) FROM ${DS} WHERE age > (SELECT 1)`, 'SUBQUERY', 'SELECT', 2],
  [`SELECT COUNT(*) FROM ${DS} WHERE (SELECT 1) = 1`, 'SUBQUERY', 'SELECT', 2],
  [`SELECT (SELECT COUNT(*) FROM ${DS}) FROM ${DS}`, 'SUBQUERY', 'SELECT', 2],
  [`SELECT SUM((SELECT 1)) FROM ${DS}`, 'SUBQUERY', 'SELECT', 2],
  [`SELECT SUM(COUNT(income)) FROM ${DS}`, 'NESTED_AGGREGATE', 'COUNT'],
  [`SELECT AVG(SUM(income)) FROM ${DS}`, 'NESTED_AGGREGATE', 'SUM'],
  [`SELECT COUNT(MEDIAN(age)) FROM ${DS}`, 'NESTED_AGGREGATE', 'MEDIAN'],
  [`SELECT QUANTILE(age, AVG(age)) FROM ${DS}`, 'NESTED_AGGREGATE', 'AVG'],
])

refusals(t, 'several statements', [
  [`SELECT COUNT(*) FROM ${DS}; SELECT COUNT(*) FROM ${DS}`, 'MULTIPLE_STATEMENTS', 'SELECT', 2],
  [`SELECT COUNT(*) FROM ${DS}; DROP TABLE ${DS}`, 'MULTIPLE_STATEMENTS', 'DROP'],
  [`SELECT COUNT(*) FROM ${DS};;`, 'MULTIPLE_STATEMENTS', ';', 2],
  [`SELECT COUNT(*) FROM ${DS} SELECT COUNT(*) FROM ${DS}`, 'MULTIPLE_STATEMENTS', 'SELECT', 2],
  [`SELECT COUNT(*) FROM ${DS} DELETE FROM ${DS}`, 'MULTIPLE_STATEMENTS', 'DELETE'],
])

refusals(t, 'DDL, DML and other statements', [
  ...[
    'INSERT INTO t VALUES (1)',
    'UPDATE t SET a = 1',
    'DELETE FROM t',
    'DROP TABLE t',
    'CREATE TABLE t (a int)',
    'ALTER TABLE t ADD b int',
    'TRUNCATE t',
    'MERGE INTO t',
    'REPLACE INTO t VALUES (1)',
    'GRANT ALL ON t TO x',
    'PRAGMA table_info(t)',
    "ATTACH 'x.db' AS x",
    'VACUUM',
    'EXPLAIN SELECT COUNT(*) FROM t',
    'COPY t TO stdout',
    'BEGIN',
    'SET x = 1',
    'SHOW TABLES',
    'VALUES (1)',
  ].map((sql): Case => [sql, 'NOT_SELECT', sql.split(' ')[0]!]),
  ['  drop table t', 'NOT_SELECT', 'drop'],
  ['/* hi */ delete from t', 'NOT_SELECT', 'delete'],
  ['hello', 'NOT_SELECT', 'hello'],
  [`(SELECT COUNT(*) FROM ${DS})`, 'NOT_SELECT', '('],
  [`WITH x AS (SELECT 1) SELECT COUNT(*) FROM x`, 'UNSUPPORTED', 'WITH'],
])

refusals(t, 'unsupported SQL, each named', [
  [`SELECT district, COUNT(*) FROM ${DS} GROUP BY district HAVING SUM(income) > 5`, 'BAD_HAVING', 'SUM'],
  [`SELECT COUNT(*) FROM ${DS} HAVING missing > 5`, 'BAD_HAVING', 'missing'],
  [`SELECT COUNT(*) AS n FROM ${DS} HAVING count > 5`, 'BAD_HAVING', 'count'],
  [`SELECT COUNT(*) FROM ${DS} LIMIT 0`, 'BAD_LIMIT', '0'],
  [`SELECT COUNT(*) FROM ${DS} LIMIT 2.5`, 'BAD_LIMIT', '2.5'],
  [`SELECT COUNT(*) FROM ${DS} LIMIT 1000001`, 'BAD_LIMIT', '1000001'],
  [`SELECT COUNT(*) FROM ${DS} LIMIT 5 OFFSET 2`, 'UNSUPPORTED', 'OFFSET'],
  [`SELECT COUNT(*) FROM ${DS} LIMIT 5, 2`, 'UNSUPPORTED', ','],
  [`SELECT COUNT(*) FROM ${DS} OFFSET 10`, 'UNSUPPORTED', 'OFFSET'],
  [`SELECT COUNT(*) FROM ${DS} LIMIT 5 ORDER BY count`, 'SYNTAX', 'ORDER'],
  [`SELECT COUNT(*) FROM ${DS} ORDER BY count HAVING count > 1`, 'SYNTAX', 'HAVING'],
  [`SELECT COUNT(*) FROM ${DS} UNION SELECT COUNT(*) FROM ${DS}`, 'UNSUPPORTED', 'UNION'],
  [`SELECT DISTINCT district FROM ${DS}`, 'UNSUPPORTED', 'DISTINCT'],
  [`SELECT ALL district FROM ${DS}`, 'UNSUPPORTED', 'ALL'],
  [`SELECT SUM(DISTINCT income) FROM ${DS}`, 'UNSUPPORTED', 'DISTINCT'],
  [`SELECT ROW_NUMBER() OVER () FROM ${DS}`, 'UNSUPPORTED', 'ROW_NUMBER'],
  [`SELECT SUM(income) OVER (PARTITION BY district) FROM ${DS}`, 'UNSUPPORTED', 'OVER'],
  [`SELECT COUNT(*) FILTER (WHERE age > 1) FROM ${DS}`, 'UNSUPPORTED', 'FILTER'],
  [`SELECT MIN(age) FROM ${DS}`, 'UNSUPPORTED', 'MIN'],
  [`SELECT MAX(income) FROM ${DS}`, 'UNSUPPORTED', 'MAX'],
  [`SELECT string_agg(district, ',') FROM ${DS}`, 'UNSUPPORTED', 'string_agg'],
  [`SELECT SUM(income) / COUNT(*) FROM ${DS}`, 'UNSUPPORTED', '/'],
  [`SELECT COUNT(*) FROM ${DS} WHERE district LIKE '滨%'`, 'UNSUPPORTED', 'LIKE'],
  [`SELECT COUNT(*) FROM ${DS} WHERE district NOT LIKE '滨%'`, 'UNSUPPORTED', 'LIKE'],
  [`SELECT COUNT(*) FROM ${DS} WHERE COUNT(*) > 1`, 'UNSUPPORTED', 'COUNT', 2],
  [`SELECT COUNT(*) FROM ${DS} ORDER BY count DESC NULLS LAST`, 'UNSUPPORTED', 'NULLS'],
  [`SELECT COUNT(*) FROM public.${DS}`, 'UNSUPPORTED', '.'],
  [`SELECT COUNT(*) FROM main.${DS}`, 'UNSUPPORTED', '.'],
  [`SELECT COUNT(*) FROM generate_series(1, 10)`, 'UNSUPPORTED', 'generate_series'],
  [`SELECT COUNT(*) FROM ${DS} GROUP BY ROLLUP(district)`, 'UNSUPPORTED', 'ROLLUP'],
  [`SELECT COUNT(*) FROM ${DS} ORDER BY ${DS}.count`, 'UNSUPPORTED', '.'],
])

refusals(t, 'bad aggregate calls', [
  [`SELECT SUM(*) FROM ${DS}`, 'BAD_AGGREGATE', '*'],
  [`SELECT COUNT() FROM ${DS}`, 'BAD_AGGREGATE', ')'],
  [`SELECT COUNT(1) FROM ${DS}`, 'BAD_AGGREGATE', '1'],
  [`SELECT SUM('income') FROM ${DS}`, 'BAD_AGGREGATE', "'income'"],
  [`SELECT SUM(income, age) FROM ${DS}`, 'BAD_AGGREGATE', ','],
  [`SELECT MEDIAN(age, 0.3) FROM ${DS}`, 'BAD_AGGREGATE', ','],
  [`SELECT QUANTILE(age) FROM ${DS}`, 'BAD_AGGREGATE', ')'],
  [`SELECT QUANTILE(age, 0) FROM ${DS}`, 'BAD_AGGREGATE', '0'],
  [`SELECT QUANTILE(age, 1) FROM ${DS}`, 'BAD_AGGREGATE', '1'],
  [`SELECT QUANTILE(age, 1.5) FROM ${DS}`, 'BAD_AGGREGATE', '1.5'],
  [`SELECT QUANTILE(age, -0.1) FROM ${DS}`, 'BAD_AGGREGATE', '-0.1'],
  [`SELECT QUANTILE(age, income) FROM ${DS}`, 'BAD_AGGREGATE', 'income'],
  [`SELECT QUANTILE(age, '0.5') FROM ${DS}`, 'BAD_AGGREGATE', "'0.5'"],
  [`SELECT QUANTILE(age, 0.5, 0.6) FROM ${DS}`, 'BAD_AGGREGATE', ',', 2],
])

refusals(t, 'names: duplicates, GROUP BY and ORDER BY', [
  [`SELECT COUNT(*), COUNT(*) FROM ${DS}`, 'DUPLICATE_NAME', 'COUNT', 2],
  [`SELECT SUM(age) AS x, AVG(age) AS x FROM ${DS}`, 'DUPLICATE_NAME', 'AVG'],
  [`SELECT district AS count, COUNT(*) FROM ${DS} GROUP BY district`, 'DUPLICATE_NAME', 'COUNT'],
  [`SELECT MEDIAN(age), QUANTILE(age, 0.5) AS median_age FROM ${DS}`, 'DUPLICATE_NAME', 'QUANTILE'],
  [`SELECT COUNT(*) FROM ${DS} GROUP BY 1`, 'BAD_GROUP_BY', '1'],
  [`SELECT COUNT(*) FROM ${DS} GROUP BY district, district`, 'BAD_GROUP_BY', 'district', 2],
  [`SELECT COUNT(*) FROM ${DS} GROUP BY COUNT(*)`, 'BAD_GROUP_BY', 'COUNT', 2],
  [`SELECT COUNT(*) FROM ${DS} ORDER BY 1`, 'BAD_ORDER_BY', '1'],
  [`SELECT COUNT(*) FROM ${DS} ORDER BY total`, 'BAD_ORDER_BY', 'total'],
  [`SELECT district AS d, COUNT(*) FROM ${DS} GROUP BY district ORDER BY district`, 'BAD_ORDER_BY', 'district', 3],
  [`SELECT COUNT(*) FROM ${DS} ORDER BY count, count DESC`, 'BAD_ORDER_BY', 'count', 2],
  [`SELECT COUNT(*) FROM ${DS} ORDER BY SUM(age)`, 'BAD_ORDER_BY', 'SUM'],
  [`SELECT COUNT(*) FROM ${DS} ORDER BY count + 1`, 'BAD_ORDER_BY', '+'],
])

refusals(t, 'syntax errors point at the token that breaks the grammar', [
  ['', 'SYNTAX', ''],
  [`SELECT COUNT(*)`, 'SYNTAX', ''],
  [`SELECT COUNT(*) ${DS}`, 'SYNTAX', DS],
  [`SELECT COUNT(*) cnt FROM ${DS}`, 'SYNTAX', 'cnt'],
  [`SELECT COUNT(*) AS FROM ${DS}`, 'SYNTAX', 'FROM'],
  [`SELECT FROM ${DS}`, 'SYNTAX', 'FROM'],
  [`SELECT COUNT(*), FROM ${DS}`, 'SYNTAX', 'FROM'],
  [`SELECT SUM(from) FROM ${DS}`, 'SYNTAX', 'from'],
  [`SELECT COUNT(*) FROM`, 'SYNTAX', ''],
  [`SELECT COUNT(*) FROM ${DS} WHERE`, 'SYNTAX', ''],
  [`SELECT COUNT(*) FROM ${DS} WHERE district = NULL`, 'SYNTAX', 'NULL'],
  [`SELECT COUNT(*) FROM ${DS} WHERE NULL <> district`, 'SYNTAX', 'NULL'],
  [`SELECT COUNT(*) FROM ${DS} WHERE district IN ('a', NULL)`, 'SYNTAX', 'NULL'],
  [`SELECT COUNT(*) FROM ${DS} WHERE insured`, 'SYNTAX', ''],
  [`SELECT COUNT(*) FROM ${DS} WHERE insured AND age > 1`, 'SYNTAX', 'AND'],
  [`SELECT COUNT(*) FROM ${DS} WHERE 1 = 1`, 'SYNTAX', '1'],
  [`SELECT COUNT(*) FROM ${DS} WHERE age IN ()`, 'SYNTAX', ')', 2],
  [`SELECT COUNT(*) FROM ${DS} WHERE 5 IN (1, 2)`, 'SYNTAX', '5'],
  [`SELECT COUNT(*) FROM ${DS} WHERE insured IS TRUE`, 'SYNTAX', 'TRUE'],
  [`SELECT COUNT(*) FROM ${DS} WHERE age IS 5`, 'SYNTAX', '5'],
  [`SELECT COUNT(*) FROM ${DS} WHERE age BETWEEN 1 OR 2`, 'SYNTAX', 'OR'],
  [`SELECT COUNT(*) FROM ${DS} WHERE (age > 1`, 'SYNTAX', ''],
  [`SELECT COUNT(*) FROM ${DS} WHERE age > 1)`, 'SYNTAX', ')', 2],
  [`SELECT COUNT(*) FROM ${DS} WHERE age == 1`, 'SYNTAX', '=='],
  [`SELECT COUNT(*) FROM ${DS} WHERE (age) > 1`, 'SYNTAX', ')', 2],
  [`SELECT COUNT(*) FROM ${DS} GROUP BY district WHERE age > 1`, 'SYNTAX', 'WHERE'],
  [`SELECT COUNT(*) FROM ${DS} ORDER BY count GROUP BY district`, 'SYNTAX', 'GROUP'],
  [`SELECT COUNT(*) FROM ${DS} GROUP district`, 'SYNTAX', 'district'],
  [`SELECT COUNT(*) FROM ${DS} WHER age > 1`, 'SYNTAX', 'WHER'],
  [`SELECT COUNT(*) FROM ${DS} 5`, 'SYNTAX', '5'],
  [`SELECT (COUNT(*)) FROM ${DS}`, 'SYNTAX', '('],
  [`SELECT SUM((age)) FROM ${DS}`, 'SYNTAX', '(', 2],
  [`SELECT COUNT(* FROM ${DS}`, 'SYNTAX', 'FROM'],
  [`SELECT "count"(*) FROM ${DS}`, 'SYNTAX', '('],
  [`SELECT COUNT(*) FROM ${DS} GROUP BY (district)`, 'SYNTAX', '(', 2],
])

refusals(t, 'lexical errors surface from the parser with their positions', [
  [`SELECT COUNT(*) FROM ${DS} WHERE district = '滨城区`, 'UNTERMINATED', "'"],
  [`SELECT COUNT(*) FROM ${DS} WHERE "district = 'x'`, 'UNTERMINATED', '"'],
  [`SELECT COUNT(*) FROM ${DS} /* comment`, 'UNTERMINATED', '/*'],
  [`SELECT COUNT(*) FROM ${DS} WHERE age = @age`, 'BAD_CHARACTER', '@'],
  [`SELECT COUNT(*) FROM \`${DS}\``, 'BAD_CHARACTER', '`'],
  [`SELECT COUNT(*) FROM ${DS} WHERE age > 99999999999999999999`, 'BAD_LITERAL', '9'],
])

t.test('the first problem in reading order is the one reported', async (t) => {
  refuses(t, () => parseQuery(`DROP TABLE t; 'unterminated`), 'VEILBOX_ERR_QUERY_NOT_SELECT', {
    offset: 0,
    line: 1,
    column: 1,
  })
  refuses(t, () => parseQuery(`SELECT * FROM a, b WHERE @`), 'VEILBOX_ERR_QUERY_NOT_AGGREGATE', {
    offset: 7,
    line: 1,
    column: 8,
  })
})

t.test('positions across lines and Unicode', async (t) => {
  const sql = `SELECT district,\n       COUNT(*)\nFROM ${DS}\nWHERE district = '滨城区'\n  AND income / 2 > 10\nGROUP BY district`
  refuses(t, () => parseQuery(sql), 'VEILBOX_ERR_QUERY_ROW_EXPRESSION', { offset: 93, line: 5, column: 14 })
  const uni = `SELECT COUNT(*) FROM ${DS} WHERE district = '😀滨城区' AND age @ 5`
  // The emoji is one code point although it is two UTF-16 units.
  const offset = uni.indexOf('@') - 1
  refuses(t, () => parseQuery(uni), 'VEILBOX_ERR_QUERY_BAD_CHARACTER', { offset, line: 1, column: offset + 1 })
  const crlf = `SELECT COUNT(*)\r\nFROM ${DS}\r\nOFFSET 5`
  refuses(t, () => parseQuery(crlf), 'VEILBOX_ERR_QUERY_UNSUPPORTED', {
    offset: crlf.indexOf('OFFSET'),
    line: 3,
    column: 1,
  })
})

t.test('limits: depth, NOT chains, IN lists, select items, GROUP BY, conditions', async (t) => {
  const max = QUERY_LIMITS.maxDepth
  const nested = (n: number) => `SELECT COUNT(*) FROM ${DS} WHERE ${'('.repeat(n)}age = 1${')'.repeat(n)}`
  t.doesNotThrow(() => parseQuery(nested(max)), 'exactly the maximum depth')
  // The first "(" is COUNT's; the one past the limit is the (max + 1)th of WHERE.
  let e = refuses(
    t,
    () => parseQuery(nested(max + 1)),
    'VEILBOX_ERR_QUERY_TOO_LARGE',
    at(nested(max + 1), '(', max + 2),
  )
  t.equal(e.extra.limit, 'maxDepth')
  const nots = (n: number) => `SELECT COUNT(*) FROM ${DS} WHERE ${'NOT '.repeat(n)}age = 1`
  t.doesNotThrow(() => parseQuery(nots(max)))
  refuses(t, () => parseQuery(nots(max + 1)), 'VEILBOX_ERR_QUERY_TOO_LARGE', at(nots(max + 1), 'NOT', max + 1))
  const mixed = `SELECT COUNT(*) FROM ${DS} WHERE ${'NOT ('.repeat(max)}age = 1${')'.repeat(max)}`
  // NOT k is level 2k - 1 and its "(" level 2k: level max + 1 is NOT number max / 2 + 1.
  refuses(
    t,
    () => parseQuery(mixed),
    'VEILBOX_ERR_QUERY_TOO_LARGE',
    at(mixed, 'NOT', max / 2 + 1),
    'NOT and ( both count',
  )
  t.doesNotThrow(
    () => parseQuery(`SELECT COUNT(*) FROM ${DS} WHERE ${'(age = 1) AND '.repeat(100)}age = 1`),
    'siblings do not nest',
  )
  refuses(
    t,
    () => parseQuery(`SELECT COUNT(*) FROM ${DS} WHERE ${'('.repeat(20000)}`),
    'VEILBOX_ERR_QUERY_TOO_LARGE',
    undefined,
    'pathological nesting is refused, not a stack overflow',
  )

  const inList = (n: number) =>
    `SELECT COUNT(*) FROM ${DS} WHERE age IN (${Array.from({ length: n }, (_, i) => i).join(', ')})`
  t.doesNotThrow(() => parseQuery(inList(QUERY_LIMITS.maxInList)))
  e = refuses(
    t,
    () => parseQuery(inList(QUERY_LIMITS.maxInList + 1)),
    'VEILBOX_ERR_QUERY_TOO_LARGE',
    at(inList(QUERY_LIMITS.maxInList + 1), `${QUERY_LIMITS.maxInList})`),
  )
  t.equal(e.extra.limit, 'maxInList')

  const conds = (n: number) =>
    `SELECT COUNT(*) FROM ${DS} WHERE ${Array.from({ length: n }, (_, i) => `age <> ${i}`).join(' AND ')}`
  t.doesNotThrow(() => parseQuery(conds(QUERY_LIMITS.maxConditions)))
  e = refuses(
    t,
    () => parseQuery(conds(QUERY_LIMITS.maxConditions + 1)),
    'VEILBOX_ERR_QUERY_TOO_LARGE',
    at(conds(QUERY_LIMITS.maxConditions + 1), `age <> ${QUERY_LIMITS.maxConditions}`),
  )
  t.equal(e.extra.limit, 'maxConditions')

  const selects = (n: number) =>
    `SELECT ${Array.from({ length: n }, (_, i) => `COUNT(*) AS c${i}`).join(', ')} FROM ${DS}`
  t.doesNotThrow(() => parseQuery(selects(QUERY_LIMITS.maxSelectItems)))
  e = refuses(
    t,
    () => parseQuery(selects(QUERY_LIMITS.maxSelectItems + 1)),
    'VEILBOX_ERR_QUERY_TOO_LARGE',
    at(selects(QUERY_LIMITS.maxSelectItems + 1), 'COUNT', QUERY_LIMITS.maxSelectItems + 1),
  )
  t.equal(e.extra.limit, 'maxSelectItems')

  const groups = (n: number) =>
    `SELECT COUNT(*) FROM ${DS} GROUP BY ${Array.from({ length: n }, (_, i) => `g${i}`).join(', ')}`
  t.doesNotThrow(() => parseQuery(groups(QUERY_LIMITS.maxGroupBy)))
  e = refuses(
    t,
    () => parseQuery(groups(QUERY_LIMITS.maxGroupBy + 1)),
    'VEILBOX_ERR_QUERY_TOO_LARGE',
    at(groups(QUERY_LIMITS.maxGroupBy + 1), `g${QUERY_LIMITS.maxGroupBy}`),
  )
  t.equal(e.extra.limit, 'maxGroupBy')
})

t.test("FROM takes aliases and inner joins, which read back canonically (binding them is the binder's)", async (t) => {
  const q = parseQuery(
    'SELECT h.district, COUNT(DISTINCT household_id), AVG(c.claim_amount) FROM binzhou_households AS h JOIN binzhou_claims c USING (household_id) GROUP BY h.district',
  )
  t.equal(q.from.alias, 'h')
  t.match(q.from.joins, [{ dataset: 'binzhou_claims', alias: 'c', using: 'household_id' }])
  const text = canonicalSql(q)
  t.equal(
    text,
    'SELECT h.district, COUNT(DISTINCT household_id) AS count_distinct_household_id, AVG(c.claim_amount) AS avg_claim_amount FROM binzhou_households AS h JOIN binzhou_claims AS c USING (household_id) GROUP BY h.district',
  )
  t.equal(canonicalSql(parseQuery(text)), text)
  const on = parseQuery('SELECT COUNT(*) FROM a INNER JOIN b ON a.k = b.k')
  t.match(on.from.joins, [
    {
      dataset: 'b',
      on: [
        { table: 'a', name: 'k' },
        { table: 'b', name: 'k' },
      ],
    },
  ])
  t.equal(canonicalSql(on), 'SELECT COUNT(*) AS count FROM a JOIN b ON a.k = b.k')
  refuses(t, () => parseQuery('SELECT COUNT(*) FROM a JOIN b ON a.k = b.k AND a.x = 1'), 'VEILBOX_ERR_QUERY_JOIN')
  refuses(t, () => parseQuery('SELECT COUNT(*) FROM a JOIN b USING (x, y)'), 'VEILBOX_ERR_QUERY_JOIN')
  refuses(t, () => parseQuery('SELECT COUNT(*) FROM a CROSS JOIN b'), 'VEILBOX_ERR_QUERY_JOIN')
  refuses(t, () => parseQuery('SELECT COUNT(*) FROM a JOIN b'), 'VEILBOX_ERR_QUERY_SYNTAX')
  refuses(
    t,
    () => parseQuery('SELECT COUNT(*) FROM a WHER x = 1'),
    'VEILBOX_ERR_QUERY_SYNTAX',
    at('SELECT COUNT(*) FROM a WHER x = 1', 'WHER'),
  )
})
