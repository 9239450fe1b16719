import { createHash } from 'node:crypto'
import t from 'tap'
import { canonicalSql, parseQuery, queryHash, quoteName, formatLiteral } from '../../../src/engine/query/index.js'
import { CORPUS } from './corpus.js'

const DS = 'binzhou_households'
const canon = (sql: string) => canonicalSql(parseQuery(sql))

t.test('the canonical text of a typical query', async (t) => {
  t.equal(
    canon(
      `select district, count(*) as n, median(age), quantile(income, 0.90) from binzhou_households where age>=18 and district in ('沾化区','滨城区') group by district order by n desc;`,
    ),
    `SELECT district, COUNT(*) AS n, QUANTILE(age, 0.5) AS median_age, QUANTILE(income, 0.9) AS quantile_income_0_9 FROM ${DS} ` +
      `WHERE age >= 18 AND district IN ('沾化区', '滨城区') GROUP BY district ORDER BY n DESC`,
  )
})

t.test('equivalent spellings share one canonical text and hash', async (t) => {
  const groups: string[][] = [
    [
      `SELECT district, COUNT(*) FROM ${DS} GROUP BY district`,
      `select   DISTRICT ,count( * )\nFROM ${DS.toUpperCase()}\n group  by district ;`,
      `SELECT "district", COUNT(*) AS count FROM "${DS}" GROUP BY "district" -- trailing comment`,
      `SELECT /* c */ district AS district, COUNT(*) AS "count" FROM ${DS} GROUP BY district`,
    ],
    [
      `SELECT COUNT(*) FROM ${DS} WHERE age > 18`,
      `SELECT COUNT(*) FROM ${DS} WHERE 18 < age`,
      `SELECT COUNT(*) FROM ${DS} WHERE age > 18.0`,
      `SELECT COUNT(*) FROM ${DS} WHERE age > 1.8e1`,
      `SELECT COUNT(*) FROM ${DS} WHERE age > +18`,
      `SELECT COUNT(*) FROM ${DS} WHERE NOT age <= 18`,
      `SELECT COUNT(*) FROM ${DS} WHERE NOT NOT age > 18`,
      `SELECT COUNT(*) FROM ${DS} WHERE ((age > 18))`,
    ],
    [
      `SELECT COUNT(*) FROM ${DS} WHERE district <> '滨城区'`,
      `SELECT COUNT(*) FROM ${DS} WHERE district != '滨城区'`,
      `SELECT COUNT(*) FROM ${DS} WHERE NOT district = '滨城区'`,
      `SELECT COUNT(*) FROM ${DS} WHERE '滨城区' <> district`,
    ],
    [
      `SELECT COUNT(*) FROM ${DS} WHERE district IN ('沾化区', '滨城区')`,
      `SELECT COUNT(*) FROM ${DS} WHERE district IN ('滨城区', '沾化区', '滨城区')`,
      `SELECT COUNT(*) FROM ${DS} WHERE district in ('滨城区','沾化区')`,
    ],
    [
      `SELECT COUNT(*) FROM ${DS} WHERE age NOT IN (3, 1, 2)`,
      `SELECT COUNT(*) FROM ${DS} WHERE NOT age IN (1, 2, 3, 3.0)`,
      `SELECT COUNT(*) FROM ${DS} WHERE NOT (age IN (2, 1, 3))`,
    ],
    [
      `SELECT COUNT(*) FROM ${DS} WHERE age NOT BETWEEN 1 AND 2 AND income IS NOT NULL`,
      `SELECT COUNT(*) FROM ${DS} WHERE NOT age BETWEEN 1 AND 2 AND NOT income IS NULL`,
    ],
    [
      `SELECT COUNT(*) FROM ${DS} WHERE age > 1 AND age < 9 AND insured = TRUE`,
      `SELECT COUNT(*) FROM ${DS} WHERE (age > 1 AND age < 9) AND insured = TRUE`,
      `SELECT COUNT(*) FROM ${DS} WHERE age > 1 AND (age < 9 AND insured = true)`,
    ],
    [
      `SELECT MEDIAN(age) FROM ${DS}`,
      `SELECT QUANTILE(age, 0.5) AS median_age FROM ${DS}`,
      `SELECT median(age) AS median_age FROM ${DS}`,
    ],
    [
      `SELECT VAR(age), COUNT(*) FROM ${DS} ORDER BY count ASC`,
      `SELECT VARIANCE(age), COUNT(*) FROM ${DS} ORDER BY COUNT(*)`,
      `SELECT variance(age) AS var_age, count(*) FROM ${DS} ORDER BY count asc`,
    ],
    [
      `SELECT COUNT(*) FROM ${DS} WHERE income > 0`,
      `SELECT COUNT(*) FROM ${DS} WHERE income > -0`,
      `SELECT COUNT(*) FROM ${DS} WHERE income > 0.0e5`,
    ],
  ]
  for (const group of groups) {
    const first = canon(group[0]!)
    const hash = queryHash(parseQuery(group[0]!))
    for (const sql of group.slice(1)) {
      t.equal(canon(sql), first, sql)
      t.equal(queryHash(parseQuery(sql)), hash, `hash: ${sql}`)
    }
  }
})

t.test('different queries have different canonical texts and hashes', async (t) => {
  const distinct = [
    `SELECT COUNT(*) FROM ${DS}`,
    `SELECT COUNT(*) FROM other_dataset`,
    `SELECT COUNT(*) AS n FROM ${DS}`,
    `SELECT COUNT(age) FROM ${DS}`,
    `SELECT SUM(age) FROM ${DS}`,
    `SELECT AVG(age) FROM ${DS}`,
    `SELECT QUANTILE(age, 0.5) FROM ${DS}`,
    `SELECT QUANTILE(age, 0.51) FROM ${DS}`,
    `SELECT COUNT(*), SUM(age) FROM ${DS}`,
    `SELECT SUM(age), COUNT(*) FROM ${DS}`,
    `SELECT COUNT(*) FROM ${DS} WHERE age > 18`,
    `SELECT COUNT(*) FROM ${DS} WHERE age >= 18`,
    `SELECT COUNT(*) FROM ${DS} WHERE age > 19`,
    `SELECT COUNT(*) FROM ${DS} WHERE age > '18'`,
    `SELECT COUNT(*) FROM ${DS} WHERE district = 'a'`,
    `SELECT COUNT(*) FROM ${DS} WHERE district = 'A'`,
    `SELECT COUNT(*) FROM ${DS} WHERE district = 'a '`,
    `SELECT COUNT(*) FROM ${DS} WHERE "District" = 'a'`,
    `SELECT COUNT(*) FROM ${DS} WHERE district IN ('a', 'b')`,
    `SELECT COUNT(*) FROM ${DS} WHERE district NOT IN ('a', 'b')`,
    `SELECT COUNT(*) FROM ${DS} WHERE age > 1 AND age < 9 OR insured = TRUE`,
    `SELECT COUNT(*) FROM ${DS} WHERE age > 1 AND (age < 9 OR insured = TRUE)`,
    `SELECT COUNT(*) FROM ${DS} WHERE NOT (age > 1 AND age < 9)`,
    `SELECT COUNT(*) FROM ${DS} WHERE age IS NULL`,
    `SELECT COUNT(*) FROM ${DS} WHERE age IS NOT NULL`,
    `SELECT COUNT(*) FROM ${DS} WHERE insured = TRUE`,
    `SELECT COUNT(*) FROM ${DS} WHERE insured = FALSE`,
    `SELECT district, COUNT(*) FROM ${DS} GROUP BY district`,
    `SELECT COUNT(*) FROM ${DS} GROUP BY district`,
    `SELECT district, COUNT(*) FROM ${DS} GROUP BY district ORDER BY count`,
    `SELECT district, COUNT(*) FROM ${DS} GROUP BY district ORDER BY count DESC`,
    `SELECT district, COUNT(*) FROM ${DS} GROUP BY district ORDER BY count DESC, district`,
    `SELECT district, insured, COUNT(*) FROM ${DS} GROUP BY district, insured`,
    `SELECT district, insured, COUNT(*) FROM ${DS} GROUP BY insured, district`,
    `SELECT district AS d, COUNT(*) FROM ${DS} GROUP BY district`,
  ]
  const texts = new Map<string, string>()
  for (const sql of distinct) {
    const c = canon(sql)
    t.notOk(texts.has(c), `${sql} differs from ${texts.get(c) ?? 'every other'}`)
    texts.set(c, sql)
  }
  t.equal(new Set(distinct.map((s) => queryHash(parseQuery(s)))).size, distinct.length)
})

t.test('the canonical text parses back to itself', async (t) => {
  for (const sql of CORPUS) {
    const c = canon(sql)
    t.equal(canon(c), c, sql)
  }
})

t.test('queryHash is the sha256 hex of the canonical text', async (t) => {
  for (const sql of CORPUS) {
    const h = queryHash(parseQuery(sql))
    t.match(h, /^[0-9a-f]{64}$/)
    t.equal(h, createHash('sha256').update(canon(sql), 'utf8').digest('hex'))
  }
})

t.test('names are quoted exactly when they must be', async (t) => {
  t.equal(quoteName('district'), 'district')
  t.equal(quoteName('_x9'), '_x9')
  t.equal(quoteName('District'), '"District"')
  t.equal(quoteName('select'), '"select"')
  t.equal(quoteName('group'), '"group"')
  t.equal(quoteName('9lives'), '"9lives"')
  t.equal(quoteName('a"b'), '"a""b"')
  t.equal(quoteName('人数'), '"人数"')
  t.equal(quoteName('count'), 'count', 'function names are not reserved')
})

t.test('literals print in one form that reads back as the same value', async (t) => {
  t.equal(formatLiteral("it's"), "'it''s'")
  t.equal(formatLiteral('滨城区'), "'滨城区'")
  t.equal(formatLiteral(true), 'TRUE')
  t.equal(formatLiteral(false), 'FALSE')
  t.equal(formatLiteral(1.5), '1.5')
  t.equal(formatLiteral(-2), '-2')
  t.equal(formatLiteral(1e21), '1e+21')
  t.equal(formatLiteral(1e-7), '1e-7')
  for (const v of [0, -2, 1.5, 1e21, 1e-7, 0.1 + 0.2, 123456789.123, -9007199254740991]) {
    const c = canon(`SELECT COUNT(*) FROM ${DS} WHERE income = ${formatLiteral(v)}`)
    t.ok(c.endsWith(`= ${formatLiteral(v)}`), `${v} survives the round trip`)
  }
  const weird = `SELECT COUNT(*) FROM ${DS} WHERE district = 'a''b\nc😀' AND "we""ird" = 1`
  t.equal(canon(canon(weird)), canon(weird))
  t.match(canon(weird), /'a''b\nc😀' AND "we""ird" = 1$/)
})

t.test('AND and OR operands that are groups are parenthesised; NOT over a group keeps them', async (t) => {
  t.equal(
    canon(`SELECT COUNT(*) FROM ${DS} WHERE (a = 1 OR b = 2) AND NOT (c = 3 OR d = 4) AND e = 5 OR f = 6`),
    `SELECT COUNT(*) AS count FROM ${DS} WHERE ((a = 1 OR b = 2) AND NOT (c = 3 OR d = 4) AND e = 5) OR f = 6`,
  )
  t.equal(
    canon(`SELECT COUNT(*) FROM ${DS} WHERE a = 1 OR b = 2 AND c = 3`),
    `SELECT COUNT(*) AS count FROM ${DS} WHERE a = 1 OR (b = 2 AND c = 3)`,
  )
})
