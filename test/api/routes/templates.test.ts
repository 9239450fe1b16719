/**
 * Query templates (issue 24, point 6): an operator approves a parameterized
 * query; an analyst lists and runs it with checked values, bound into the
 * parsed query (never its text), through the normal pipeline; the answer,
 * its receipt and its audit record carry the template and its values; a
 * grant limited to templates refuses ad-hoc SQL.
 */
import t from 'tap'
import { queryApp } from '../../helpers/app.js'

const SQL = 'SELECT COUNT(*) FROM binzhou_households WHERE age >= :min_age AND district = :district'
const PARAMS = [
  { name: 'min_age', type: 'integer', min: 18, max: 100 },
  { name: 'district', type: 'category', column: 'district' },
]

async function approved(qa: Awaited<ReturnType<typeof queryApp>>, sql = SQL, params: unknown = PARAMS) {
  return qa.call('operator', {
    method: 'POST',
    url: '/v1/templates',
    payload: { dataset: qa.dataset, name: 'households by age and district', sql, params, epsilon: 0.25 },
  })
}

t.test('an approved template runs with checked values; answer, receipt and audit name it', async (t) => {
  const qa = await queryApp(t)
  const created = await approved(qa)
  t.equal(created.statusCode, 201, created.body)
  const id = created.json().id
  t.match(created.json(), { dataset: qa.dataset, epsilon: 0.25, mechanism: 'laplace', params: PARAMS })

  const listed = await qa.call('analyst', { method: 'GET', url: '/v1/templates' })
  t.same(
    listed.json().templates.map((x: { id: string }) => x.id),
    [id],
  )

  const run = await qa.call('analyst', {
    method: 'POST',
    url: `/v1/templates/${id}/run`,
    payload: { grant: qa.grant, params: { min_age: 40, district: '滨城区' } },
  })
  t.equal(run.statusCode, 200, run.body)
  const answer = run.json()
  const template = { id, params: { min_age: 40, district: '滨城区' } }
  t.same(answer.template, template)
  t.same(answer.receipt.template, template, 'the signed receipt carries it')
  t.equal(answer.privacy.epsilon, 0.25)
  const detail = await qa.app.db.value<string>(
    "SELECT detail FROM audit_log WHERE action = 'query.release' ORDER BY seq DESC LIMIT 1",
  )
  t.same(JSON.parse(detail!).template, template, 'the audit record carries it')
  const grant = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${qa.grant}` })).json()
  t.equal(grant.budget.epsilon.spent, 0.25)
})

t.test('values outside their declarations are refused, naming the parameter, and charge nothing', async (t) => {
  const qa = await queryApp(t)
  const id = (await approved(qa)).json().id
  const cases: [Record<string, unknown>, string][] = [
    [{ min_age: 17, district: '滨城区' }, 'min_age'],
    [{ min_age: 40.5, district: '滨城区' }, 'min_age'],
    [{ min_age: '40', district: '滨城区' }, 'min_age'],
    [{ min_age: 40 }, 'district'],
    [{ min_age: 40, district: "滨城区' OR 1=1 --" }, 'district'],
    [{ min_age: 40, district: '滨城区', extra: 1 }, 'extra'],
  ]
  for (const [params, name] of cases) {
    const res = await qa.call('analyst', {
      method: 'POST',
      url: `/v1/templates/${id}/run`,
      payload: { grant: qa.grant, params },
    })
    t.equal(res.statusCode, 400, JSON.stringify(params))
    t.match(res.json(), { code: 'VEILBOX_ERR_POLICY_BAD_TEMPLATE_PARAMETER', parameter: name })
  }
  const grant = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${qa.grant}` })).json()
  t.equal(grant.budget.epsilon.spent, 0)
})

t.test(
  'a template must declare exactly the parameters its SQL uses, on category columns that have categories',
  async (t) => {
    const qa = await queryApp(t)
    const undeclared = await approved(qa, `${SQL} AND household_size <= :size`)
    t.match(undeclared.json(), { code: 'VEILBOX_ERR_POLICY_BAD_TEMPLATE', parameter: 'size' })
    const unused = await approved(qa, 'SELECT COUNT(*) FROM binzhou_households WHERE age >= :min_age')
    t.match(unused.json(), { code: 'VEILBOX_ERR_POLICY_BAD_TEMPLATE', parameter: 'district' })
    const notCategory = await approved(qa, SQL, [PARAMS[0], { name: 'district', type: 'category', column: 'age' }])
    t.match(notCategory.json(), { code: 'VEILBOX_ERR_POLICY_BAD_TEMPLATE', parameter: 'district' })
    // A ':name' inside a string literal is text, not a parameter: here a category value the binder refuses as such.
    const quoted = await approved(
      qa,
      "SELECT COUNT(*) FROM binzhou_households WHERE age >= :min_age AND district <> ':district'",
      [PARAMS[0]],
    )
    t.match(quoted.json(), { code: 'VEILBOX_ERR_QUERY_UNKNOWN_CATEGORY', value: ':district' })
    t.equal(await qa.app.db.value<number>('SELECT COUNT(*) FROM templates'), 0, 'nothing stored')
    const analyst = await qa.call('analyst', {
      method: 'POST',
      url: '/v1/templates',
      payload: { dataset: qa.dataset, name: 'mine', sql: SQL, params: PARAMS, epsilon: 1 },
    })
    t.equal(analyst.statusCode, 403, 'analysts do not approve templates')
  },
)

t.test('a template-only grant refuses ad-hoc SQL (queries and previews) and runs templates', async (t) => {
  const qa = await queryApp(t)
  const id = (await approved(qa)).json().id
  const g = await qa.call('operator', {
    method: 'POST',
    url: '/v1/grants',
    payload: {
      analyst: 'alice',
      dataset: qa.dataset,
      purpose: 'test: templates only',
      epsilon: 1,
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      templatesOnly: true,
    },
  })
  t.equal(g.statusCode, 201, g.body)
  t.equal(g.json().templatesOnly, true)
  const grant = g.json().id
  for (const url of ['/v1/queries', '/v1/queries/preview']) {
    const adhoc = await qa.call('analyst', {
      method: 'POST',
      url,
      payload: { sql: 'SELECT COUNT(*) FROM binzhou_households', grant, epsilon: 0.1 },
    })
    t.equal(adhoc.statusCode, 403, url)
    t.match(adhoc.json(), { code: 'VEILBOX_ERR_POLICY_TEMPLATES_ONLY', grant })
  }
  const run = await qa.call('analyst', {
    method: 'POST',
    url: `/v1/templates/${id}/run`,
    payload: { grant, params: { min_age: 30, district: '沾化区' } },
  })
  t.equal(run.statusCode, 200, run.body)
  const view = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${grant}` })).json()
  t.equal(view.budget.epsilon.spent, 0.25)
})
