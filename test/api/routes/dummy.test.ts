import t from 'tap'
import { PEOPLE_SPEC, peopleCsv, testApp, type TestApp } from '../../helpers/app.js'

async function withPeople(t: Parameters<typeof testApp>[0]): Promise<TestApp> {
  const ta = await testApp(t)
  const res = await ta.call('operator', { method: 'POST', url: '/v1/datasets', payload: PEOPLE_SPEC })
  if (res.statusCode !== 201) throw new Error(res.body)
  // Listed: every analyst sees it in the catalog, and so its dummy rows.
  const listed = await ta.call('operator', {
    method: 'PUT',
    url: '/v1/datasets/people/listing',
    payload: { listed: true },
  })
  if (listed.statusCode !== 200) throw new Error(listed.body)
  return ta
}

const upload = async (ta: TestApp, csv: string) => {
  const res = await ta.call('operator', {
    method: 'POST',
    url: '/v1/datasets/people/versions',
    headers: { 'content-type': 'text/csv' },
    payload: csv,
  })
  if (res.statusCode !== 201) throw new Error(res.body)
}

const dummy = (ta: TestApp, query: string, headers: Record<string, string> = {}) =>
  ta.call('analyst', { method: 'GET', url: `/v1/datasets/people/dummy?${query}`, headers })

t.test(
  'dummy rows come from the schema alone: no version, and two different versions, give the same bytes',
  async (t) => {
    const ta = await withPeople(t)
    const none = await dummy(ta, 'rows=500&seed=42')
    t.equal(none.statusCode, 200, 'a dataset with no version has dummy rows')
    const noneCsv = await dummy(ta, 'rows=500&seed=42&format=csv')
    await upload(ta, peopleCsv(100))
    const v1 = await dummy(ta, 'rows=500&seed=42')
    const v1Csv = await dummy(ta, 'rows=500&seed=42', { accept: 'text/csv' })
    // A second version with other values: every income changed.
    await upload(ta, peopleCsv(300).replaceAll('.5\n', '.25\n'))
    const v2 = await dummy(ta, 'rows=500&seed=42')
    const v2Csv = await dummy(ta, 'rows=500&seed=42&format=csv')
    t.equal(v1.body, none.body)
    t.equal(v2.body, none.body)
    t.equal(v1Csv.body, noneCsv.body)
    t.equal(v2Csv.body, noneCsv.body)
    t.match(v2Csv.headers['content-type'], /^text\/csv/)
    t.equal(v2Csv.headers['x-veilbox-dummy'], 'true')
    t.equal(v2Csv.body.split('\n')[0], 'pid,city,member,age,income')
    const body = v2.json()
    t.equal(body.dummy, true)
    t.equal(body.rows.length, 500)
    t.not((await dummy(ta, 'rows=500&seed=43')).body, none.body, 'another seed, other rows')
  },
)

t.test('past the row limit, or with a bad seed, the request is refused with a clear error', async (t) => {
  const ta = await withPeople(t)
  const res = await dummy(ta, 'rows=10001')
  t.equal(res.statusCode, 400)
  t.equal(res.json().code, 'VEILBOX_ERR_REQUEST_VALIDATION')
  t.match(res.json().detail, /at most 10000 dummy rows/)
  t.equal((await dummy(ta, 'rows=10000')).json().rows.length, 10000)
  t.equal((await dummy(ta, 'seed=-1')).statusCode, 400)
  t.equal((await dummy(ta, 'format=xml')).statusCode, 400)
})

t.test('a dataset the caller cannot see has no dummy rows either', async (t) => {
  const ta = await testApp(t)
  const res = await ta.call('analyst', { method: 'GET', url: '/v1/datasets/nothing/dummy' })
  t.equal(res.statusCode, 404)
  t.equal(res.json().code, 'VEILBOX_ERR_DATASET_NOT_FOUND')
  await ta.call('operator', { method: 'POST', url: '/v1/datasets', payload: PEOPLE_SPEC })
  const unlisted = await ta.call('analyst', { method: 'GET', url: '/v1/datasets/people/dummy' })
  t.equal(unlisted.statusCode, 404, 'an unlisted dataset without a grant is not shown')
  t.equal((await ta.call('operator', { method: 'GET', url: '/v1/datasets/people/dummy' })).statusCode, 200)
})
