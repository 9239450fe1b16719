import t from 'tap'
import { createKey, SYSTEM_ACTOR } from '../../../src/store/keys.js'
import { queryApp } from '../../helpers/app.js'
import { reportNumbers, visibleText } from '../report/numbers.js'

const SQL = 'SELECT district, COUNT(*), AVG(income) FROM binzhou_households WHERE income > 1000 GROUP BY district'

t.test('a released answer as a report, in English and Chinese: its numbers and nothing else', async (t) => {
  const ta = await queryApp(t, { rows: 2000 })
  const res = await ta.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: SQL, grant: ta.grant, epsilon: 0.5 },
  })
  t.equal(res.statusCode, 200, res.body)
  const answer = res.json()
  for (const lang of ['en', 'zh']) {
    const rep = await ta.call('analyst', { method: 'GET', url: `/v1/queries/${answer.queryId}/report?lang=${lang}` })
    t.equal(rep.statusCode, 200, rep.body)
    t.match(rep.headers['content-type'], /^text\/html; charset=utf-8/)
    t.match(rep.headers['content-security-policy'], /default-src 'none'/)
    const html = rep.body
    t.match(html, 'test: household statistics', 'the purpose')
    t.match(html, answer.queryId)
    const found = reportNumbers(html, answer)
    t.ok(found.length > answer.rows.length * 3, 'the values and their intervals are there')
    t.same(
      found.filter((f) => !f.inAnswer),
      [],
      `every number of the ${lang} report is the answer's`,
    )
    for (const row of answer.rows) t.match(visibleText(html), String(row[1]))
  }
  const en = visibleText(
    (await ta.call('analyst', { method: 'GET', url: `/v1/queries/${answer.queryId}/report` })).body,
  )
  t.match(en, /the number of rows; the average of income, per district, where\s+income > 1000/)
  t.match(en, /with 95% confidence/)
})

t.test('the same access rule as the answer: another analyst gets 404, an operator reads it', async (t) => {
  const ta = await queryApp(t, { rows: 500 })
  const res = await ta.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: 'SELECT COUNT(*) FROM binzhou_households', grant: ta.grant, epsilon: 0.5 },
  })
  const id = res.json().queryId
  const bob = (await createKey(ta.app.db, { name: 'bob', role: 'analyst' }, SYSTEM_ACTOR)).key
  const other = await ta.app.inject({
    method: 'GET',
    url: `/v1/queries/${id}/report`,
    headers: { authorization: `Bearer ${bob}` },
  })
  t.equal(other.statusCode, 404)
  t.equal(other.json().code, 'VEILBOX_ERR_ANSWER_NOT_FOUND')
  t.equal((await ta.call('operator', { method: 'GET', url: `/v1/queries/${id}/report?lang=zh` })).statusCode, 200)
  const bad = await ta.call('analyst', { method: 'GET', url: `/v1/queries/${id}/report?lang=fr` })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().code, 'VEILBOX_ERR_REQUEST_VALIDATION')
})
