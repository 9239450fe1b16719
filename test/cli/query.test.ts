/**
 * `veilbox query` and `veilbox preview` (src/cli/query.ts) against a real
 * service listening on a port, with a real grant on the demo households:
 * the table, CSV and JSON outputs, the preview, refusals with the caret under
 * the offending token, and the exit codes (0 answered, 1 refused,
 * 3 unreachable).
 */
import net from 'node:net'
import t from 'tap'
import { queryApp } from '../helpers/app.js'
import { runCli } from '../helpers/cli.js'

const GROUPED =
  'SELECT district, COUNT(*) AS households, AVG(income), MEDIAN(income), QUANTILE(age, 0.9) AS age_p90 FROM binzhou_households GROUP BY district'
const DISTRICTS = ['滨城区', '沾化区', '惠民县', '阳信县', '无棣县', '博兴县', '邹平市']

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

t.test('query and preview against a running service', async (t) => {
  const qa = await queryApp(t, { grantEpsilon: 3 })
  const url = await qa.app.listen({ host: '127.0.0.1', port: 0 })
  const env = { VEILBOX_URL: url, VEILBOX_API_KEY: qa.keys.analyst }
  const cli = (...args: string[]) => runCli(args, env)
  /** `veilbox query <sql> --grant <the grant> --epsilon <e> ...rest`. */
  const ask = (sql: string, epsilon: string, ...rest: string[]) =>
    cli('query', sql, '--grant', qa.grant, '--epsilon', epsilon, ...rest)

  t.test('the table: every district, values with intervals, the charge and the remaining budget', async (t) => {
    const run = await ask(GROUPED, '0.5')
    t.equal(run.code, 0, run.stderr)
    const lines = run.stdout.split('\n')
    t.match(lines[0], /^district +households +avg_income +median_income +age_p90$/)
    t.match(lines[1], /^─+( +─+){4}$/)
    for (const [i, d] of DISTRICTS.entries()) {
      t.match(lines[2 + i], new RegExp(`^${d} +-?\\d+ \\[ *-?\\d+, +\\d+\\]`), d)
    }
    // Columns line up on screen: each row as wide as the rule under the header.
    const width = (s: string) => [...s].reduce((w, c) => w + (/\p{Script=Han}/u.test(c) ? 2 : 1), 0)
    for (const line of lines.slice(2, 9)) t.ok(width(line) <= width(lines[1]!), line)
    t.match(run.stdout, /7 rows, 95% intervals, laplace · query q_/)
    t.match(run.stdout, new RegExp(`charged {3}ε 0\\.5 to grant ${qa.grant}; ε 0\\.5 to dataset binzhou_households`))
    t.match(run.stdout, new RegExp(`remaining ε 2\\.5, δ 0\\.000001 in grant ${qa.grant}`))

    const again = await ask(GROUPED, '0.5')
    t.equal(again.code, 0)
    t.match(again.stdout, /the stored answer \(cached\)/)
    t.match(again.stdout, /charged {3}nothing: a repeat of a released answer is free/)
    t.match(again.stdout, /remaining ε 2\.5,/)
  })

  t.test('CSV: a header with _lo and _hi, one record per district, CRLF', async (t) => {
    const run = await ask(GROUPED, '0.5', '--csv')
    t.equal(run.code, 0, run.stderr)
    const records = run.stdout.split('\r\n')
    t.equal(
      records[0],
      'district,households,households_lo,households_hi,avg_income,avg_income_lo,avg_income_hi,' +
        'median_income,median_income_lo,median_income_hi,age_p90,age_p90_lo,age_p90_hi',
    )
    t.same(
      records.slice(1, 8).map((r) => r.split(',')[0]),
      DISTRICTS,
    )
    t.equal(records.length, 9, 'seven records and the final CRLF')
    for (const r of records.slice(1, 8)) {
      const [, v, lo, hi] = r.split(',').map(Number)
      t.ok(lo! <= v! && v! <= hi!, `${r}: the value lies in its interval`)
    }
  })

  t.test("JSON: the service's answer as it is", async (t) => {
    const run = await ask(
      'SELECT COUNT(*) AS n FROM binzhou_households',
      '0.2',
      '--mechanism',
      'gaussian',
      '--confidence',
      '0.9',
      '--json',
    )
    t.equal(run.code, 0, run.stderr)
    const answer = JSON.parse(run.stdout) as { columns: string[]; confidence: number; privacy: { mechanism: string } }
    t.same(answer.columns, ['n'])
    t.equal(answer.confidence, 0.9)
    t.equal(answer.privacy.mechanism, 'gaussian')
  })

  t.test(
    'preview: expected errors, the charge, the budget now and after; exit 1 when it would be refused',
    async (t) => {
      const run = await cli(
        'preview',
        'SELECT district, COUNT(*), AVG(income) FROM binzhou_households GROUP BY district',
        '--grant',
        qa.grant,
        '--epsilon',
        '0.1',
      )
      t.equal(run.code, 0, run.stderr)
      t.match(run.stdout, /^aggregate +part +expected error \(95%\)\n/)
      t.match(run.stdout, /\ncount +ε 0\.05 +± \d+\n/)
      t.match(run.stdout, /\navg_income +ε 0\.05 +depends on the data\n/)
      t.match(
        run.stdout,
        new RegExp(`would charge ε 0\\.1 to grant ${qa.grant}; ε 0\\.1 to dataset binzhou_households`),
      )
      t.match(
        run.stdout,
        /remaining ε [\d.]+ in grant g_\w+, ε [\d.]+ after\n {10}ε [\d.]+ in dataset binzhou_households, ε [\d.]+ after\n/,
      )

      const tooMuch = await cli(
        'preview',
        'SELECT COUNT(*) FROM binzhou_households',
        '--grant',
        qa.grant,
        '--epsilon',
        '5',
      )
      t.equal(tooMuch.code, 1)
      t.match(tooMuch.stdout, /would be refused: .*\(VEILBOX_ERR_BUDGET_EXHAUSTED, grant\)/)
    },
  )

  t.test('refusals: title, detail and code, the query line and a caret; exit 1', async (t) => {
    const syntax = await ask('SELECT COUNT(*) FORM binzhou_households', '0.1')
    t.equal(syntax.code, 1)
    t.equal(syntax.stdout, '')
    const lines = syntax.stderr.split('\n')
    t.equal(lines[0], 'refused: Query is not valid in the SQL subset (VEILBOX_ERR_QUERY_SYNTAX, HTTP 400)')
    t.match(lines[1], /found FORM/)
    t.equal(lines[3], '  line 1, column 17: SELECT COUNT(*) FORM binzhou_households')
    t.equal(lines[4], `  ${' '.repeat('line 1, column 17: SELECT COUNT(*) '.length)}^^^^`)

    // A Chinese literal before the offending name: the caret still lands under it.
    const sql = "SELECT COUNT(*) FROM binzhou_households\nWHERE district = '滨城区' AND incme > 3"
    const unknown = await ask(sql, '0.1')
    t.equal(unknown.code, 1)
    const u = unknown.stderr.split('\n')
    t.match(u[0], /\(VEILBOX_ERR_QUERY_UNKNOWN_COLUMN, HTTP 400\)$/)
    t.match(u[1], /did you mean income/)
    t.equal(u[3], "  line 2, column 28: WHERE district = '滨城区' AND incme > 3")
    t.equal(u[4], `  ${' '.repeat("line 2, column 28: WHERE district = '' AND ".length + 6)}^^^^^`)

    const budget = await ask('SELECT COUNT(*) FROM binzhou_households', '5')
    t.equal(budget.code, 1)
    t.match(budget.stderr, /^refused: .* \(VEILBOX_ERR_BUDGET_EXHAUSTED, HTTP 403\)\n/)
    t.match(budget.stderr, /requested ε 5, remaining ε [\d.]+ \(grant\)/)

    const json = await ask('SELECT COUNT(*) FORM binzhou_households', '0.1', '--json')
    t.equal(json.code, 1)
    t.match(JSON.parse(json.stdout), { code: 'VEILBOX_ERR_QUERY_SYNTAX', position: { line: 1, column: 17 } })

    const noKey = await runCli(
      ['query', 'SELECT COUNT(*) FROM binzhou_households', '--grant', qa.grant, '--epsilon', '0.1'],
      {
        VEILBOX_URL: url,
        VEILBOX_API_KEY: '',
      },
    )
    t.equal(noKey.code, 1)
    t.match(noKey.stderr, /VEILBOX_ERR_AUTH_MISSING_KEY/)

    const badKey = await ask('SELECT COUNT(*) FROM binzhou_households', '0.1', '--key', 'vbx_nope')
    t.equal(badKey.code, 1)
    t.match(badKey.stderr, /HTTP 401/)

    const badEpsilon = await ask('SELECT COUNT(*) FROM binzhou_households', 'lots')
    t.equal(badEpsilon.code, 1)
    t.match(badEpsilon.stderr, /epsilon must be a number > 0, got lots/)
  })

  t.test('--url overrides VEILBOX_URL; a service that cannot be reached exits 3 with a clear message', async (t) => {
    const port = await closedPort()
    const down = await ask('SELECT COUNT(*) FROM binzhou_households', '0.1', '--url', `http://127.0.0.1:${port}`)
    t.equal(down.code, 3)
    t.equal(
      down.stderr,
      `veilbox: cannot reach the veilbox service at http://127.0.0.1:${port}: connection refused (ECONNREFUSED). Is it running? Set VEILBOX_URL or pass --url.\n`,
    )
    const over = await runCli(
      ['preview', 'SELECT COUNT(*) FROM binzhou_households', '--grant', qa.grant, '--epsilon', '0.1', '--url', url],
      { VEILBOX_URL: `http://127.0.0.1:${port}`, VEILBOX_API_KEY: qa.keys.analyst },
    )
    t.equal(over.code, 0, over.stderr)
  })
})
