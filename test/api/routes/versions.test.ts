import t from 'tap'
import { getVersion } from '../../../src/store/datasets.js'
import { versionFingerprint } from '../../../src/ingest/index.js'
import { PEOPLE_SPEC, peopleCsv, testApp, type TestApp } from '../../helpers/app.js'

async function withPeople(t: Parameters<typeof testApp>[0], overrides = {}): Promise<TestApp> {
  const ta = await testApp(t, overrides)
  const res = await ta.call('operator', { method: 'POST', url: '/v1/datasets', payload: PEOPLE_SPEC })
  if (res.statusCode !== 201) throw new Error(res.body)
  return ta
}

const upload = (ta: TestApp, payload: string, type = 'text/csv', id = 'people') =>
  ta.call('operator', {
    method: 'POST',
    url: `/v1/datasets/${id}/versions`,
    headers: { 'content-type': type },
    payload,
  })

const stagedChunks = (ta: TestApp) => ta.app.db.value<number>('SELECT COUNT(*) FROM column_chunks')

t.test('a CSV whose 57th data row is bad is refused naming row 57; the corrected file loads', async (t) => {
  const ta = await withPeople(t)
  const bad = await upload(ta, peopleCsv(100, { row: 57, cell: 'age', value: 'forty' }))
  t.equal(bad.statusCode, 400)
  const body = bad.json()
  t.equal(body.code, 'VEILBOX_ERR_INGEST_BAD_ROW')
  t.equal(body.row, 57)
  t.equal(body.line, 58, 'the header is line 1')
  t.equal(body.column, 'age')
  t.match(body.detail, /data row 57 \(line 58\), column "age": "forty" is not a whole number/)
  t.match(body.detail, /Nothing from this upload was stored/)
  const ds = await ta.call('operator', { method: 'GET', url: '/v1/datasets/people' })
  t.same(ds.json().versions, [], 'no version')
  t.equal(await stagedChunks(ta), 0, 'no staged chunk is left behind')

  const good = await upload(ta, peopleCsv(100))
  t.equal(good.statusCode, 201)
  t.match(good.json(), { version: 1, rows: 100 })
  t.match(good.json().sha256, /^[0-9a-f]{64}$/)
})

t.test('each kind of bad value is named, and nothing is stored', async (t) => {
  const ta = await withPeople(t)
  const cases: [string, string, RegExp][] = [
    ['age', 'NaN', /not a whole number/],
    ['income', 'NaN', /not a finite decimal number/],
    ['income', 'Infinity', /not a finite decimal number/],
    ['income', '-1', /below the declared lower bound 0/],
    ['income', '500000.01', /above the declared upper bound 500000/],
    ['age', '12.5', /not a whole number/],
    ['age', '121', /above the declared upper bound 120/],
    ['age', '', /missing and the column is not nullable/],
    ['city', 'east', /not one of the declared categories \(north, south\)/],
    ['member', 'maybe', /not a boolean/],
    ['pid', '', /privacy unit \/ id is missing/],
  ]
  for (const [cell, value, reason] of cases) {
    const res = await upload(ta, peopleCsv(10, { row: 4, cell, value }))
    t.equal(res.statusCode, 400, `${cell}=${value}`)
    t.equal(res.json().code, 'VEILBOX_ERR_INGEST_BAD_ROW')
    t.equal(res.json().row, 4)
    t.equal(res.json().column, cell)
    t.match(res.json().reason, reason, `${cell}=${value}: ${res.json().reason}`)
  }
  const short = await upload(ta, 'pid,city,member,age,income\np1,north,true,30\n')
  t.equal(short.statusCode, 400)
  t.match(short.json(), { code: 'VEILBOX_ERR_INGEST_BAD_ROW', row: 1, column: null })
  t.match(short.json().reason, /has 4 fields; the header has 5/)
  t.equal(await stagedChunks(ta), 0)
  t.same((await ta.call('operator', { method: 'GET', url: '/v1/datasets/people' })).json().versions, [])
})

t.test('the header must name each column exactly once', async (t) => {
  const ta = await withPeople(t)
  for (const [header, re] of [
    ['pid,city,member,age', /missing column "income"/],
    ['pid,city,member,age,income,extra', /names column "extra", which the dataset does not have/],
    ['pid,city,city,age,income', /names column "city" twice/],
  ] as const) {
    const res = await upload(ta, `${header}\n`)
    t.equal(res.statusCode, 400, header)
    t.equal(res.json().code, 'VEILBOX_ERR_INGEST_BAD_HEADER')
    t.match(res.json().detail, re)
  }
  const reordered = await upload(ta, 'income,age,member,city,pid\n10,30,true,north,p1\n')
  t.equal(reordered.statusCode, 201, 'columns may come in any order')
})

t.test('empty uploads and malformed CSV are refused', async (t) => {
  const ta = await withPeople(t)
  const empty = await upload(ta, '')
  t.equal(empty.statusCode, 400)
  t.equal(empty.json().code, 'VEILBOX_ERR_INGEST_EMPTY')
  const headerOnly = await upload(ta, 'pid,city,member,age,income\n')
  t.equal(headerOnly.json().code, 'VEILBOX_ERR_INGEST_EMPTY')
  const unclosed = await upload(ta, 'pid,city,member,age,income\np1,"north,true,30,1\n')
  t.equal(unclosed.statusCode, 400)
  t.equal(unclosed.json().code, 'VEILBOX_ERR_INGEST_MALFORMED')
  // A quote opening in the middle of a field: csv-parse's INVALID_OPENING_QUOTE (no CSV_ prefix) gave 500; the ingest fuzzer found it.
  const midQuote = await upload(ta, 'pid,city,member,age,income\np1,no"rth,true,30,1\n')
  t.equal(midQuote.statusCode, 400)
  t.match(midQuote.json(), { code: 'VEILBOX_ERR_INGEST_MALFORMED', detail: /line 2/ })
})

t.test('NDJSON loads too, and the same data gets the same fingerprint as CSV', async (t) => {
  const ta = await withPeople(t)
  const csv = await upload(ta, peopleCsv(30))
  const lines = peopleCsv(30)
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => {
      const [pid, city, member, age, income] = l.split(',')
      return JSON.stringify({
        pid,
        city,
        member: member === 'true',
        age: Number(age),
        income: income === '' ? null : Number(income),
      })
    })
  const nd = await upload(ta, `${lines.join('\n')}\n`, 'application/x-ndjson')
  t.equal(nd.statusCode, 201, nd.body)
  t.equal(nd.json().version, 2, 'versions are numbered in order')
  t.equal(nd.json().sha256, csv.json().sha256)
  const v2 = await getVersion(ta.app.db, 'people', 2)
  t.equal(
    await versionFingerprint(ta.app.db, PEOPLE_SPEC as never, v2),
    nd.json().sha256,
    'the fingerprint is that of the stored content',
  )

  for (const [line, re] of [
    ['{"pid":"p1","city":"north","member":true,"age":30}', /"income".*missing/],
    ['{"pid":"p1","city":"north","member":true,"age":30,"income":1,"x":2}', /"x".*no such column/],
    ['{"pid":"p1","city":"north","member":"yes","age":30,"income":1}', /not true or false/],
    ['{"pid":"p1","city":"north","member":true,"age":"30","income":1}', /not a whole number/],
    ['[1,2]', /one JSON object/],
  ] as const) {
    const res = await upload(ta, `${lines[0]}\n${line}\n`, 'application/x-ndjson')
    t.equal(res.statusCode, 400, line)
    t.equal(res.json().row, 2)
    t.match(res.json().detail, re)
  }
  const broken = await upload(ta, '{"pid": \n', 'application/x-ndjson')
  t.equal(broken.json().code, 'VEILBOX_ERR_INGEST_MALFORMED')
  t.equal(broken.json().line, 1)
})

t.test('quoted CSV fields with commas, quotes and new lines load as one value', async (t) => {
  const ta = await testApp(t)
  const spec = {
    id: 'notes',
    title: 'Notes',
    classification: 'public',
    privacyUnit: 'uid',
    maxRowsPerUnit: 1,
    columns: [
      { name: 'uid', type: 'id', protection: 'public' },
      { name: 'label', type: 'category', protection: 'public' },
    ],
  }
  await ta.call('operator', { method: 'POST', url: '/v1/datasets', payload: spec })
  const csv = '\ufeffuid,label\nu1,"a, b"\nu2,"say ""hi"""\nu3,"two\nlines"\nu4,滨城区\n'
  const res = await upload(ta, csv, 'text/csv; charset=utf-8', 'notes')
  t.equal(res.statusCode, 201, res.body)
  t.equal(res.json().rows, 4)
  const dict = (await ta.app.db.value<string>(
    "SELECT dictionary FROM column_dictionaries WHERE column_name = 'label'",
  ))!
  t.same(JSON.parse(dict), ['a, b', 'say "hi"', 'two\nlines', '滨城区'])
})

t.test('a bad row after the first chunk was staged still leaves nothing', async (t) => {
  const ta = await withPeople(t)
  const res = await upload(ta, peopleCsv(70_000, { row: 69_999, cell: 'income', value: '-5' }))
  t.equal(res.statusCode, 400)
  t.equal(res.json().row, 69_999)
  t.equal(await stagedChunks(ta), 0)
  t.equal(await ta.app.db.value<number>('SELECT COUNT(*) FROM uploads'), 0)
  const ok = await upload(ta, peopleCsv(70_000))
  t.equal(ok.statusCode, 201)
  t.equal(ok.json().rows, 70_000)
  const v = await getVersion(ta.app.db, 'people', 1)
  t.equal(await versionFingerprint(ta.app.db, PEOPLE_SPEC as never, v), ok.json().sha256)
  t.equal(await ta.app.db.value<number>('SELECT COUNT(DISTINCT chunk) FROM column_chunks'), 2)
})

t.test('uploads refuse other content types and bodies over the limit', async (t) => {
  const ta = await withPeople(t, { uploadMaxBytes: 1000 })
  const json = await ta.call('operator', { method: 'POST', url: '/v1/datasets/people/versions', payload: { rows: [] } })
  t.equal(json.statusCode, 415)
  t.equal(json.json().code, 'VEILBOX_ERR_REQUEST_UNSUPPORTED_MEDIA_TYPE')
  const xml = await upload(ta, '<rows/>', 'application/xml')
  t.equal(xml.statusCode, 415)
  const big = await upload(ta, peopleCsv(200))
  t.equal(big.statusCode, 413)
  t.equal(big.json().code, 'VEILBOX_ERR_REQUEST_TOO_LARGE')
  t.equal(await stagedChunks(ta), 0)
  const unknown = await upload(ta, peopleCsv(2), 'text/csv', 'nope')
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().code, 'VEILBOX_ERR_DATASET_NOT_FOUND')
  const analyst = await ta.call('analyst', {
    method: 'POST',
    url: '/v1/datasets/people/versions',
    headers: { 'content-type': 'text/csv' },
    payload: peopleCsv(2),
  })
  t.equal(analyst.statusCode, 403)
})

t.test('loading a version writes exactly one audit record, in the same transaction', async (t) => {
  const ta = await withPeople(t)
  const before = await ta.app.db.value<number>("SELECT COUNT(*) FROM audit_log WHERE action = 'dataset.version.create'")
  await upload(ta, peopleCsv(10, { row: 3, cell: 'age', value: '-1' }))
  await upload(ta, peopleCsv(10))
  const rows = await ta.app.db.all<{ version: number; actor: string }>(
    "SELECT * FROM audit_log WHERE action = 'dataset.version.create'",
  )
  t.equal(before, 0)
  t.equal(rows.length, 1)
  t.match(rows[0], { version: 1, actor: 'olga' })
})
