import { createHmac } from 'node:crypto'
import t from 'tap'
import { PEOPLE_SPEC, peopleCsv, testApp } from '../../helpers/app.js'

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T

const GRANT = {
  analyst: 'alice',
  dataset: 'people',
  purpose: 'catalog test',
  epsilon: 1,
  expiresAt: '2099-01-01T00:00:00Z',
}

t.test('an operator registers a dataset; analysts see it once they hold a grant on it or it is listed', async (t) => {
  const { call } = await testApp(t)
  const res = await call('operator', { method: 'POST', url: '/v1/datasets', payload: PEOPLE_SPEC })
  t.equal(res.statusCode, 201, res.body)
  t.match(res.json(), {
    id: 'people',
    classification: 'internal',
    privacyUnit: 'pid',
    maxRowsPerUnit: 2,
    versions: [],
    listed: false,
  })
  const ids = async (role: 'analyst' | 'custodian' | 'operator') =>
    (await call(role, { method: 'GET', url: '/v1/datasets' })).json().datasets.map((d: { id: string }) => d.id)
  t.same(await ids('operator'), ['people'])
  t.same(await ids('analyst'), [], 'no grant, not listed: not in the catalog')
  t.same(await ids('custodian'), [], 'custodians see datasets with encrypted columns only')
  // Unseen is indistinguishable from unknown: same status, code and wording.
  const hidden = await call('analyst', { method: 'GET', url: '/v1/datasets/people' })
  const missing = await call('analyst', { method: 'GET', url: '/v1/datasets/nope' })
  t.equal(hidden.statusCode, 404)
  t.equal(missing.statusCode, 404)
  t.equal(hidden.json().code, 'VEILBOX_ERR_DATASET_NOT_FOUND')
  t.equal(hidden.json().detail.replace('people', 'X'), missing.json().detail.replace('nope', 'X'))
  t.equal((await call('analyst', { method: 'GET', url: '/v1/datasets/people/he' })).statusCode, 404)
  t.equal((await call('analyst', { method: 'GET', url: '/v1/datasets/people/budget' })).statusCode, 404)

  // A grant shows the dataset and its budget to its analyst.
  t.equal(
    (await call('operator', { method: 'PUT', url: '/v1/datasets/people/budget', payload: { epsilon: 5 } })).statusCode,
    200,
  )
  const grant = await call('operator', { method: 'POST', url: '/v1/grants', payload: GRANT })
  t.equal(grant.statusCode, 201, grant.body)
  t.same(await ids('analyst'), ['people'])
  const one = await call('analyst', { method: 'GET', url: '/v1/datasets/people' })
  t.equal(one.statusCode, 200)
  const income = one.json().columns.find((c: { name: string }) => c.name === 'income')
  t.same(income, {
    name: 'income',
    type: 'number',
    protection: 'dp',
    nullable: true,
    lower: 0,
    upper: 500000,
    level: 'L2',
    aggregates: ['count', 'sum', 'avg', 'var', 'stddev', 'median', 'quantile'],
  })
  t.equal((await call('analyst', { method: 'GET', url: '/v1/datasets/people/budget' })).statusCode, 200)
  // Revoked: no longer held.
  t.equal((await call('operator', { method: 'DELETE', url: `/v1/grants/${grant.json().id}` })).statusCode, 200)
  t.same(await ids('analyst'), [])
  t.equal((await call('analyst', { method: 'GET', url: '/v1/datasets/people/budget' })).statusCode, 404)

  // Listed: every analyst sees the catalog entry, but its budget stays with grant holders.
  const listed = await call('operator', {
    method: 'PUT',
    url: '/v1/datasets/people/listing',
    payload: { listed: true },
  })
  t.equal(listed.statusCode, 200, listed.body)
  t.equal(listed.json().listed, true)
  t.same(await ids('analyst'), ['people'])
  t.equal((await call('analyst', { method: 'GET', url: '/v1/datasets/people/budget' })).statusCode, 404)
  t.equal(
    (await call('analyst', { method: 'PUT', url: '/v1/datasets/people/listing', payload: { listed: false } }))
      .statusCode,
    403,
  )
})

t.test('a dataset id can be registered once', async (t) => {
  const { call } = await testApp(t)
  t.equal((await call('operator', { method: 'POST', url: '/v1/datasets', payload: PEOPLE_SPEC })).statusCode, 201)
  const again = await call('operator', { method: 'POST', url: '/v1/datasets', payload: PEOPLE_SPEC })
  t.equal(again.statusCode, 409)
  t.equal(again.json().code, 'VEILBOX_ERR_DATASET_EXISTS')
})

t.test('every broken schema rule is a 400 naming the field and the rule, and nothing is created', async (t) => {
  const { call } = await testApp(t)
  type Spec = Record<string, unknown> & { columns: Record<string, unknown>[] }
  const cases: { name: string; edit: (s: Spec) => void; path: string; message: RegExp }[] = [
    {
      name: 'dp number without bounds',
      edit: (s) => {
        delete s.columns[4]!.upper
      },
      path: 'columns[4].upper',
      message: /needs finite "lower" and "upper"/,
    },
    {
      name: 'lower not below upper',
      edit: (s) => {
        s.columns[3]!.lower = 200
      },
      path: 'columns[3].upper',
      message: /greater than "lower"/,
    },
    {
      name: 'infinite bound',
      edit: (s) => {
        s.columns[3]!.upper = 1e400
      },
      path: 'columns[3].upper',
      message: /./,
    },
    {
      name: 'privacy unit not a column',
      edit: (s) => {
        s.privacyUnit = 'person'
      },
      path: 'privacyUnit',
      message: /not among the columns/,
    },
    {
      name: 'privacy unit not an id',
      edit: (s) => {
        s.privacyUnit = 'age'
      },
      path: 'privacyUnit',
      message: /must be of type id/,
    },
    {
      name: 'unknown top-level field',
      edit: (s) => {
        s.colour = 'blue'
      },
      path: '(body)',
      message: /colour/,
    },
    {
      name: 'unknown column field',
      edit: (s) => {
        s.columns[1]!.sensitive = true
      },
      path: 'columns[1]',
      message: /sensitive/,
    },
    {
      name: 'bad classification',
      edit: (s) => {
        s.classification = 'secret'
      },
      path: 'classification',
      message: /public|internal/,
    },
    {
      name: 'bad column type',
      edit: (s) => {
        s.columns[1]!.type = 'text'
      },
      path: 'columns[1].type',
      message: /./,
    },
    {
      name: 'bad protection',
      edit: (s) => {
        s.columns[1]!.protection = 'secret'
      },
      path: 'columns[1].protection',
      message: /./,
    },
    {
      name: 'duplicate column',
      edit: (s) => {
        s.columns[2]!.name = 'city'
      },
      path: 'columns[2].name',
      message: /used twice/,
    },
    {
      name: 'categories on a number',
      edit: (s) => {
        s.columns[4]!.categories = ['a']
      },
      path: 'columns[4].categories',
      message: /only to category/,
    },
    {
      name: 'he category',
      edit: (s) => {
        s.columns[1]!.protection = 'he'
      },
      path: 'columns[1].protection',
      message: /cannot be he/,
    },
    {
      // An encrypted privacy unit could not bound contributions; the HE profile then failed with a 500.
      name: 'he id (the privacy unit)',
      edit: (s) => {
        s.columns[0]!.protection = 'he'
      },
      path: 'columns[0].protection',
      message: /id columns cannot be he; only integer and number/,
    },
    {
      name: 'maxRowsPerUnit zero',
      edit: (s) => {
        s.maxRowsPerUnit = 0
      },
      path: 'maxRowsPerUnit',
      message: /./,
    },
    {
      name: 'bad id',
      edit: (s) => {
        s.id = 'Has Spaces'
      },
      path: 'id',
      message: /lower-case/,
    },
    {
      name: 'no columns',
      edit: (s) => {
        s.columns = []
      },
      path: 'columns',
      message: /./,
    },
  ]
  for (const c of cases) {
    const spec = clone(PEOPLE_SPEC) as unknown as Spec
    c.edit(spec)
    const res = await call('operator', { method: 'POST', url: '/v1/datasets', payload: spec })
    t.equal(res.statusCode, 400, c.name)
    const body = res.json()
    t.equal(body.code, 'VEILBOX_ERR_DATASET_INVALID_SCHEMA', c.name)
    const hit = body.errors.find((e: { path: string }) => e.path === c.path)
    t.ok(hit, `${c.name}: names ${c.path} in ${JSON.stringify(body.errors)}`)
    if (hit) t.match(hit.message, c.message, c.name)
  }
  const list = await call('operator', { method: 'GET', url: '/v1/datasets' })
  t.same(list.json().datasets, [])
})

t.test('the catalog never shows a row value; row counts and content hashes only to operators', async (t) => {
  const { call } = await testApp(t)
  await call('operator', { method: 'POST', url: '/v1/datasets', payload: PEOPLE_SPEC })
  await call('operator', { method: 'POST', url: '/v1/grants', payload: GRANT })
  const up = await call('operator', {
    method: 'POST',
    url: '/v1/datasets/people/versions',
    headers: { 'content-type': 'text/csv' },
    payload: peopleCsv(20),
  })
  t.equal(up.statusCode, 201)
  t.match(up.json(), { sha256: /^[0-9a-f]{64}$/, commitment: /^[0-9a-f]{64}$/ })
  const asOperator = (await call('operator', { method: 'GET', url: '/v1/datasets/people' })).json()
  t.same(
    asOperator.versions.map((v: { rows?: number }) => v.rows),
    [20],
  )
  t.equal(asOperator.versions[0].sha256, up.json().sha256)
  t.equal(asOperator.versions[0].commitment, up.json().commitment)
  const res = await call('analyst', { method: 'GET', url: '/v1/datasets/people' })
  const body = res.json()
  t.equal(body.versions.length, 1)
  t.notOk('rows' in body.versions[0], 'analysts do not see row counts')
  t.notOk('sha256' in body.versions[0], 'analysts do not see the content hash of the rows')
  t.equal(body.versions[0].commitment, up.json().commitment)
  t.notMatch(res.body, new RegExp(up.json().sha256), 'the content hash appears nowhere in the analyst view')
  t.notMatch(res.body, /p1\b|20500\.5/, 'no id or value of a row')
})

t.test('identical rows uploaded twice get unrelated commitments, each opened by the operator', async (t) => {
  const { call } = await testApp(t)
  await call('operator', { method: 'POST', url: '/v1/datasets', payload: PEOPLE_SPEC })
  const csv = peopleCsv(12)
  const a = (
    await call('operator', {
      method: 'POST',
      url: '/v1/datasets/people/versions',
      headers: { 'content-type': 'text/csv' },
      payload: csv,
    })
  ).json()
  const b = (
    await call('operator', {
      method: 'POST',
      url: '/v1/datasets/people/versions',
      headers: { 'content-type': 'text/csv' },
      payload: csv,
    })
  ).json()
  t.equal(a.sha256, b.sha256, 'the same rows have the same content hash (operators)')
  t.not(a.commitment, b.commitment, 'and unrelated commitments')
  for (const v of [a, b]) {
    const open = await call('operator', { method: 'GET', url: `/v1/datasets/people/versions/${v.version}/commitment` })
    t.equal(open.statusCode, 200, open.body)
    const o = open.json()
    t.match(o, {
      algorithm: 'HMAC-SHA256(salt, sha256-hex)',
      sha256: v.sha256,
      commitment: v.commitment,
      salt: /^[0-9a-f]{64}$/,
    })
    t.equal(
      createHmac('sha256', Buffer.from(o.salt, 'hex')).update(o.sha256).digest('hex'),
      v.commitment,
      'an auditor recomputes it from the opening',
    )
  }
  t.equal((await call('analyst', { method: 'GET', url: '/v1/datasets/people/versions/1/commitment' })).statusCode, 403)
})
