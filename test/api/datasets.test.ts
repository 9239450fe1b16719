import t from 'tap'
import { PEOPLE_SPEC, peopleCsv, testApp } from '../helpers/app.js'

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T

t.test('an operator registers a dataset; every role sees it in the catalog', async (t) => {
  const { call } = await testApp(t)
  const res = await call('operator', { method: 'POST', url: '/v1/datasets', payload: PEOPLE_SPEC })
  t.equal(res.statusCode, 201, res.body)
  t.match(res.json(), { id: 'people', classification: 'internal', privacyUnit: 'pid', maxRowsPerUnit: 2, versions: [] })
  for (const role of ['analyst', 'custodian', 'operator'] as const) {
    const list = await call(role, { method: 'GET', url: '/v1/datasets' })
    t.equal(list.statusCode, 200)
    t.same(list.json().datasets.map((d: { id: string }) => d.id), ['people'])
  }
  const one = await call('analyst', { method: 'GET', url: '/v1/datasets/people' })
  t.equal(one.statusCode, 200)
  const income = one.json().columns.find((c: { name: string }) => c.name === 'income')
  t.same(income, { name: 'income', type: 'number', protection: 'dp', nullable: true, lower: 0, upper: 500000, aggregates: ['count', 'sum', 'avg', 'var', 'stddev', 'median', 'quantile'] })
  const missing = await call('analyst', { method: 'GET', url: '/v1/datasets/nope' })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().code, 'VEILBOX_ERR_DATASET_NOT_FOUND')
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
    { name: 'dp number without bounds', edit: (s) => { delete s.columns[4]!.upper }, path: 'columns[4].upper', message: /needs finite "lower" and "upper"/ },
    { name: 'lower not below upper', edit: (s) => { s.columns[3]!.lower = 200 }, path: 'columns[3].upper', message: /greater than "lower"/ },
    { name: 'infinite bound', edit: (s) => { s.columns[3]!.upper = 1e400 }, path: 'columns[3].upper', message: /./ },
    { name: 'privacy unit not a column', edit: (s) => { s.privacyUnit = 'person' }, path: 'privacyUnit', message: /not among the columns/ },
    { name: 'privacy unit not an id', edit: (s) => { s.privacyUnit = 'age' }, path: 'privacyUnit', message: /must be of type id/ },
    { name: 'unknown top-level field', edit: (s) => { s.colour = 'blue' }, path: '(body)', message: /colour/ },
    { name: 'unknown column field', edit: (s) => { s.columns[1]!.sensitive = true }, path: 'columns[1]', message: /sensitive/ },
    { name: 'bad classification', edit: (s) => { s.classification = 'secret' }, path: 'classification', message: /public|internal/ },
    { name: 'bad column type', edit: (s) => { s.columns[1]!.type = 'text' }, path: 'columns[1].type', message: /./ },
    { name: 'bad protection', edit: (s) => { s.columns[1]!.protection = 'secret' }, path: 'columns[1].protection', message: /./ },
    { name: 'duplicate column', edit: (s) => { s.columns[2]!.name = 'city' }, path: 'columns[2].name', message: /used twice/ },
    { name: 'categories on a number', edit: (s) => { s.columns[4]!.categories = ['a'] }, path: 'columns[4].categories', message: /only to category/ },
    { name: 'he category', edit: (s) => { s.columns[1]!.protection = 'he' }, path: 'columns[1].protection', message: /cannot be he/ },
    { name: 'maxRowsPerUnit zero', edit: (s) => { s.maxRowsPerUnit = 0 }, path: 'maxRowsPerUnit', message: /./ },
    { name: 'bad id', edit: (s) => { s.id = 'Has Spaces' }, path: 'id', message: /lower-case/ },
    { name: 'no columns', edit: (s) => { s.columns = [] }, path: 'columns', message: /./ },
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

t.test('the catalog never shows a row value, and row counts only to operators', async (t) => {
  const { call } = await testApp(t)
  await call('operator', { method: 'POST', url: '/v1/datasets', payload: PEOPLE_SPEC })
  const up = await call('operator', { method: 'POST', url: '/v1/datasets/people/versions', headers: { 'content-type': 'text/csv' }, payload: peopleCsv(20) })
  t.equal(up.statusCode, 201)
  const asOperator = (await call('operator', { method: 'GET', url: '/v1/datasets/people' })).json()
  t.same(asOperator.versions.map((v: { rows?: number }) => v.rows), [20])
  for (const role of ['analyst', 'custodian'] as const) {
    const res = await call(role, { method: 'GET', url: '/v1/datasets/people' })
    const body = res.json()
    t.equal(body.versions.length, 1)
    t.notOk('rows' in body.versions[0], `${role} does not see row counts`)
    t.equal(body.versions[0].sha256, up.json().sha256)
    t.notMatch(res.body, /p1\b|20500\.5/, 'no id or value of a row')
  }
})
