import fs from 'node:fs'
import t from 'tap'
import { ERROR_CODES, isVeilboxError } from '../../../src/errors/index.js'
import { bindQuery, canonicalSql, fromJson, parseQuery, QUERY_LIMITS } from '../../../src/engine/query/index.js'
import { households } from './fixture.js'
import { CLAIMS_SPEC } from '../../../src/demo/claims.js'
import { DEMO_SPEC } from '../../../src/demo/binzhou.js'
import { DEMO_REGIONS_SPEC, DISTRICT_REGIONS } from '../../../src/demo/regions.js'
import type { DatasetSpec } from '../../../src/schema.js'

const doc = fs.readFileSync(new URL('../../../docs/query-language.md', import.meta.url), 'utf8')
const blocks = [...doc.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1]!, body: m[2]! }))

/** The demo's other datasets, for examples that join: the public table's region domain as its version holds it. */
const joinable: Record<string, DatasetSpec> = {
  [CLAIMS_SPEC.id]: CLAIMS_SPEC,
  [DEMO_REGIONS_SPEC.id]: {
    ...DEMO_REGIONS_SPEC,
    columns: DEMO_REGIONS_SPEC.columns.map((c) =>
      c.name === 'region' ? { ...c, categories: [...new Set(DISTRICT_REGIONS.map((r) => r[1]))].sort() } : c,
    ),
  },
}

t.test('every SQL example parses and binds against the demo datasets', async (t) => {
  const sql = blocks.filter((b) => b.lang === 'sql')
  t.ok(sql.length >= 5)
  let joins = 0
  for (const b of sql) {
    t.doesNotThrow(() => {
      const q = parseQuery(b.body)
      const others = (q.from.joins ?? []).map((j) => joinable[j.dataset]!)
      joins += others.length
      // A join binds against the demo's own declaration, which names its unit space.
      bindQuery(q, others.length === 0 ? households : DEMO_SPEC, others)
    }, b.body)
  }
  t.ok(joins >= 2, `${joins} examples join: the unit join and the public table`)
})

t.test('every JSON query example means the same as the SQL just before it', async (t) => {
  let checked = 0
  blocks.forEach((b, i) => {
    if (b.lang !== 'json') return
    const body = JSON.parse(b.body) as Record<string, unknown>
    if (!('query' in body)) return
    const before = blocks[i - 1]
    if (before?.lang !== 'sql') throw new Error(`JSON example ${b.body.slice(0, 60)} has no SQL before it`)
    const fromSql = parseQuery(before.body)
    const q = fromJson(body.query)
    t.equal(canonicalSql(q), canonicalSql(fromSql), before.body)
    t.doesNotThrow(() => bindQuery(q, households))
    checked++
  })
  t.ok(checked >= 4, `${checked} JSON examples checked`)
})

t.test('the error example is what the parser answers', async (t) => {
  const example = blocks
    .map((b) => (b.lang === 'json' ? (JSON.parse(b.body) as Record<string, unknown>) : null))
    .find((b) => b !== null && 'type' in b)!
  try {
    parseQuery('SELECT COUNT(*) FROM binzhou_households, other')
    t.fail('accepted')
  } catch (e) {
    if (!isVeilboxError(e)) throw e
    t.equal(example.code, e.code)
    t.equal(example.title, e.title)
    t.equal(example.status, e.status)
    t.equal(example.detail, e.detail)
    t.same(example.position, e.extra.position)
  }
})

t.test('the canonical example is the canonical text', async (t) => {
  const input = `select district, count(*) as n from binzhou_households where 18 <= age and district in ('沾化区','滨城区','沾化区') group by district;`
  const flat = doc.replace(/\s+/g, ' ')
  t.ok(flat.includes(input), 'the input is shown')
  t.ok(flat.includes(canonicalSql(parseQuery(input))), 'its canonical text is shown')
})

t.test('the limits table states the limits in force', async (t) => {
  const rows: [keyof typeof QUERY_LIMITS, string][] = [
    ['maxTextLength', 'query text'],
    ['maxDepth', 'nesting in WHERE'],
    ['maxInList', 'values in one IN list'],
    ['maxSelectItems', 'select items'],
    ['maxGroupBy', 'GROUP BY columns'],
    ['maxConditions', 'conditions in WHERE'],
    ['maxIdentifierLength', 'one name'],
    ['maxLimit', 'rows kept by LIMIT'],
    ['maxBuckets', 'buckets in one BUCKET key'],
  ]
  t.equal(rows.length, Object.keys(QUERY_LIMITS).length, 'every limit is in the table')
  for (const [key, label] of rows) {
    const row = doc.split('\n').find((l) => l.startsWith(`| ${label}`))
    t.ok(row, `a row for ${label}`)
    t.match(row ?? '', new RegExp(`\\| ${QUERY_LIMITS[key].toLocaleString('en-US')}`), `${label}: ${QUERY_LIMITS[key]}`)
  }
})

t.test('every QUERY error code is explained on this page', async (t) => {
  for (const code of Object.keys(ERROR_CODES).filter((c) => c.startsWith('VEILBOX_ERR_QUERY_')))
    t.ok(doc.includes(code), code)
})
