import t from 'tap'
import { escapeHtml, receiptHash, reportAnswerSchema, reportHtml } from '../../../src/api/report/html.js'
import { reportNumbers, visibleText } from './numbers.js'

const answer = reportAnswerSchema.parse({
  queryId: 'q_0123456789abcdef01234567',
  grant: 'g_1',
  dataset: 'people',
  version: 3,
  sql: 'SELECT city, COUNT(*), AVG(income) FROM people WHERE member = true GROUP BY city',
  columns: ['city', 'count', 'avg_income'],
  rows: [
    ['<script>alert(1)</script>', 1204.7, 5321.25],
    ['north & "south"', 88, null],
  ],
  intervals: [
    [null, [1190.1, 1219.3], [5100.5, 5542]],
    [null, [73.4, 102.6], null],
  ],
  confidence: 0.95,
  privacy: {
    mechanism: 'laplace',
    epsilon: 0.5,
    delta: 0,
    perAggregate: [
      { name: 'count', aggregate: 'count', column: null },
      { name: 'avg_income', aggregate: 'avg', column: 'income' },
    ],
  },
  createdAt: '2026-12-03T21:00:00.000Z',
  receipt: { queryId: 'q_0123456789abcdef01234567', time: '2026-12-03T21:00:00.000Z', signature: 'c2ln' },
})
const grant = { purpose: 'district <b>planning</b>', scenario: 'government', organization: null }

t.test('category values and the purpose are escaped: no markup of theirs survives', async (t) => {
  for (const lang of ['en', 'zh'] as const) {
    const html = reportHtml(answer, grant, lang)
    t.notMatch(html, /<script/i, 'no script element')
    t.match(html, '&lt;script&gt;alert(1)&lt;/script&gt;')
    t.match(html, 'north &amp; &quot;south&quot;')
    t.match(html, 'district &lt;b&gt;planning&lt;/b&gt;')
    t.notMatch(html, /<b>/)
    t.notMatch(html, /\b(src|href)=/, 'no external asset or link')
  }
  t.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;')
})

t.test('the question in words, in English and Chinese', async (t) => {
  const en = visibleText(reportHtml(answer, grant, 'en'))
  t.match(en, /the number of rows; the average of income, per city, where\s+member = true\s*\./)
  t.match(en, /with 95% confidence/)
  const zh = visibleText(reportHtml(answer, grant, 'zh'))
  t.match(zh, /在满足\s+member = true\s+的数据中，按 city 分组的行数；income 的平均值。/)
  t.match(zh, /以 95% 的置信度/)
})

t.test("every number in the report is the answer's", async (t) => {
  for (const lang of ['en', 'zh'] as const) {
    const found = reportNumbers(reportHtml(answer, grant, lang), answer)
    t.ok(found.length >= 12, `the report shows the values, intervals, epsilon, delta, version (${found.length})`)
    t.same(
      found.filter((f) => !f.inAnswer),
      [],
      lang,
    )
  }
  // The check can fail: a number the answer does not hold is caught.
  const tampered = reportHtml(answer, grant, 'en').replace('1204.7', '1204.8')
  t.same(
    reportNumbers(tampered, answer).filter((f) => !f.inAnswer),
    [{ token: '1204.8', inAnswer: false }],
  )
})

t.test('the receipt hash is the digest of its signed fields, the signature left out', async (t) => {
  const html = reportHtml(answer, grant, 'en')
  const hash = receiptHash(answer.receipt)
  t.match(hash, /^[0-9a-f]{64}$/)
  t.match(html, hash)
  t.equal(receiptHash({ ...answer.receipt, signature: 'other' }), hash)
  t.not(receiptHash({ ...answer.receipt, time: 'x' }), hash)
})
