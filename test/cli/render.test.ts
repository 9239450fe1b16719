/**
 * The printing of `veilbox query` and `veilbox preview` (src/cli/render.ts),
 * on answers shaped as the service sends them: widths of Chinese text,
 * aligned tables with nulls and quantiles, RFC 4180 CSV, previews, and the
 * caret under the offending token of a refused query.
 */
import t from 'tap'
import {
  type AnswerView,
  caret,
  csvField,
  displayWidth,
  formatNumber,
  renderCsv,
  renderPreview,
  renderRefusal,
  renderTable,
} from '../../src/cli/render.js'

const ANSWER: AnswerView = {
  queryId: 'q_1',
  grant: 'g_1',
  dataset: 'binzhou_households',
  columns: ['district', 'count', 'avg_income', 'p90'],
  rows: [
    ['滨城区', 18142, 87478.4321, 5.5],
    ['north, "quoted"', 9, null, 0.125],
  ],
  intervals: [
    [null, [18052, 18232], [74390.2, 100888.7], [1, 10]],
    [null, [0, 99], null, [0, 1]],
  ],
  confidence: 0.95,
  cached: false,
  privacy: {
    mechanism: 'laplace',
    epsilon: 0.1,
    delta: 0,
    perAggregate: [{ name: 'count' }, { name: 'avg_income' }, { name: 'p90' }],
    charged: { grant: { epsilon: 0.1, delta: 0 }, dataset: { epsilon: 0.1, delta: 0 } },
  },
  budget: { remaining: { epsilon: 9.9, delta: 0.000001 } },
  price: { text: '12.00 CNY' },
}

t.test('display width: East Asian wide characters take two columns', async (t) => {
  t.equal(displayWidth('abc'), 3)
  t.equal(displayWidth('滨城区'), 6)
  t.equal(displayWidth('ｆｕｌｌ'), 8)
  t.equal(displayWidth('é'), 1, 'a combining accent takes none')
})

t.test('numbers: whole ones as they are, others to four significant digits', async (t) => {
  t.equal(formatNumber(18142), '18142')
  t.equal(formatNumber(87478.4321), '87478')
  t.equal(formatNumber(12.3456), '12.35')
  t.equal(formatNumber(0.012345), '0.01235')
  t.equal(formatNumber(-2.5), '-2.5')
})

t.test('the table aligns values and bounds by display width; nulls print as null', async (t) => {
  const out = renderTable(ANSWER)
  const lines = out.split('\n')
  t.same(lines.slice(0, 4), [
    'district                        count             avg_income            p90',
    '───────────────  ────────────────────  ─────────────────────  ─────────────',
    '滨城区           18142 [18052, 18232]  87478 [74390, 100889]    5.5 [1, 10]',
    'north, "quoted"      9 [    0,    99]   null                  0.125 [0,  1]',
  ])
  // Every row of the table takes the same number of columns on screen.
  const widths = lines.slice(0, 4).map(displayWidth)
  t.ok(
    widths.slice(2).every((w) => w <= widths[1]!),
    `rows within the rule: ${widths}`,
  )
  t.match(out, /2 rows, 95% intervals, laplace · query q_1/)
  t.match(out, /charged {3}ε 0\.1 to grant g_1; ε 0\.1 to dataset binzhou_households/)
  t.match(out, /price {5}12\.00 CNY/)
  t.match(out, /remaining ε 9\.9, δ 0\.000001 in grant g_1/)
  t.match(renderTable({ ...ANSWER, cached: true }), /charged {3}nothing: a repeat of a released answer is free/)
})

t.test('CSV: RFC 4180 quoting, _lo and _hi after each aggregate, null as an empty field', async (t) => {
  t.equal(csvField('a,b'), '"a,b"')
  t.equal(csvField('say "hi"'), '"say ""hi"""')
  t.equal(csvField('two\nlines'), '"two\nlines"')
  t.equal(csvField(' padded'), '" padded"')
  t.equal(csvField(null), '')
  t.equal(csvField(false), 'false')
  t.equal(
    renderCsv(ANSWER),
    'district,count,count_lo,count_hi,avg_income,avg_income_lo,avg_income_hi,p90,p90_lo,p90_hi\r\n' +
      '滨城区,18142,18052,18232,87478.4321,74390.2,100888.7,5.5,1,10\r\n' +
      '"north, ""quoted""",9,0,99,,,,0.125,0,1\r\n',
  )
})

t.test('the preview: parts, expected errors, the charge and the budget now and after', async (t) => {
  const out = renderPreview({
    dataset: 'binzhou_households',
    grant: 'g_1',
    confidence: 0.9,
    cached: false,
    privacy: {
      mechanism: 'laplace',
      epsilon: 0.1,
      delta: 0,
      perAggregate: [
        { name: 'count', aggregate: 'COUNT', column: null, epsilon: 0.05, halfWidth: 60 },
        { name: 'avg_income', aggregate: 'AVG', column: 'income', epsilon: 0.05, halfWidth: null },
      ],
    },
    charge: { grant: { epsilon: 0.1, delta: 0 }, dataset: { epsilon: 0.1, delta: 0 } },
    budget: {
      remaining: { epsilon: 0.05, delta: 0 },
      remainingAfter: { epsilon: 0.05, delta: 0 },
      dataset: { remaining: { epsilon: 99, delta: 0 }, remainingAfter: { epsilon: 98.9, delta: 0 } },
    },
    affordable: false,
    refusal: { code: 'VEILBOX_ERR_BUDGET_EXHAUSTED', detail: 'the grant has 0.05 left', scope: 'grant' },
  })
  t.equal(
    out.split('\n').slice(0, 4).join('\n'),
    [
      'aggregate     part  expected error (90%)',
      '──────────  ──────  ────────────────────',
      'count       ε 0.05                  ± 60',
      'avg_income  ε 0.05   depends on the data',
    ].join('\n'),
  )
  t.match(out, /would charge ε 0\.1 to grant g_1; ε 0\.1 to dataset binzhou_households/)
  t.match(out, /ε 99 in dataset binzhou_households, ε 98\.9 after/)
  t.match(out, /would be refused: the grant has 0\.05 left \(VEILBOX_ERR_BUDGET_EXHAUSTED, grant\)/)
})

t.test('the caret sits under the offending token, past wide characters and tabs', async (t) => {
  t.same(caret('SELECT COUNT(*) FORM t', { line: 1, column: 17 }), ['SELECT COUNT(*) FORM t', '                ^^^^'])
  const sql = "SELECT COUNT(*) FROM t\nWHERE d = '滨城区' AND incme > 3"
  const [line, marks] = caret(sql, { line: 2, column: 21 })!
  t.equal(line, "WHERE d = '滨城区' AND incme > 3")
  t.equal(marks, `${' '.repeat(displayWidth("WHERE d = '滨城区' AND "))}^^^^^`)
  t.same(caret("\tWHERE d = 'open", { line: 1, column: 12 }), ["    WHERE d = 'open", `${' '.repeat(14)}^^^^^`])
  t.same(caret('SELECT 1', { line: 3, column: 1 }), null, 'a line the text does not have')
})

t.test('a refusal: title, code, detail, the budget figures, and the query line with the caret', async (t) => {
  const out = renderRefusal(
    {
      status: 400,
      title: 'Query is not valid in the SQL subset',
      code: 'VEILBOX_ERR_QUERY_SYNTAX',
      detail: 'expected FROM, found FORM',
      position: { offset: 16, line: 1, column: 17 },
    },
    'SELECT COUNT(*) FORM t',
  )
  t.equal(
    out,
    [
      'refused: Query is not valid in the SQL subset (VEILBOX_ERR_QUERY_SYNTAX, HTTP 400)',
      'expected FROM, found FORM',
      '',
      '  line 1, column 17: SELECT COUNT(*) FORM t',
      '                                     ^^^^',
      '',
    ].join('\n'),
  )
  const budget = renderRefusal(
    {
      status: 403,
      title: 'Privacy budget exhausted',
      code: 'VEILBOX_ERR_BUDGET_EXHAUSTED',
      detail: 'the grant cannot pay',
      scope: 'grant',
      requested: { epsilon: 2, delta: 0 },
      remaining: { epsilon: 0.5, delta: 0 },
    },
    'SELECT COUNT(*) FROM t',
  )
  t.match(budget, /requested ε 2, remaining ε 0\.5 \(grant\)/)
  t.notMatch(budget, /\^/)
  t.equal(
    renderRefusal({ status: 400, title: 'T', code: 'C', detail: 'a\u001b[2Jb' }, undefined).split('\n')[1],
    'a\\u001b[2Jb',
  )
})
