/**
 * Bucketed answers in the console, in a real browser against a real demo
 * server (as console.e2e.ts): GROUP BY BUCKET(...) is drawn as a histogram
 * with error bars above the table; a bucket beside another group key keeps
 * the table and the bar chart. Run by `npm run test:e2e`; the geometry's own
 * unit test is test/e2e/buckets.test.ts.
 */
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import type { Browser, Page } from 'playwright-core'
import { startServerProcess, type ServerProcess } from '../../benchmarks/lib.js'
import { launch, shot, untranslated, watch } from './browser.js'

let server: ServerProcess
let browser: Browser
let keys: { analyst: string }

t.before(async () => {
  server = await startServerProcess({ demo: true, from: 'src' })
  keys = JSON.parse(fs.readFileSync(path.join(server.dataDir, 'demo-keys.json'), 'utf8')) as { analyst: string }
  browser = await launch()
})

t.teardown(async () => {
  await browser?.close()
  await server?.stop()
})

/** The analyst signed in on the query screen, in a fresh context, watching for script and CSP errors. */
async function queryScreen(t: Test, lang: 'en' | 'zh'): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    locale: lang === 'zh' ? 'zh-CN' : 'en-GB',
  })
  t.teardown(() => context.close())
  await context.addInitScript(`localStorage.setItem('veilbox.console.lang', '${lang}')`)
  const page = await context.newPage()
  page.setDefaultTimeout(20_000)
  const problems = watch(page)
  await page.goto(`${server.url}/console/`)
  await page.getByTestId('api-key').fill(keys.analyst)
  await page.getByTestId('sign-in').click()
  await page.getByTestId('role').waitFor()
  await page.locator('[data-nav="query"]').click()
  await page.getByTestId('sql').waitFor()
  return { page, problems }
}

/** Preview (Run waits for one), run, and wait for the answer to this SQL. */
async function run(page: Page, sql: string): Promise<void> {
  await page.getByTestId('sql').fill(sql)
  await page.getByTestId('preview').click()
  await page.locator('[data-testid="preview-panel"][data-affordable="true"]').waitFor()
  await page.getByTestId('run').click()
  await page.locator('[data-testid="answer"] .sql-inline', { hasText: sql.replace(/\s+/g, ' ').slice(0, 40) }).waitFor()
}

const BUCKET_SQL =
  'SELECT BUCKET(age, 20, 100, 20) AS decade, COUNT(*) AS n, AVG(income)\nFROM binzhou_households\nGROUP BY BUCKET(age, 20, 100, 20)'

t.test('a bucketed answer is a histogram with error bars above its table', async (t) => {
  const { page, problems } = await queryScreen(t, 'en')
  await run(page, BUCKET_SQL)
  const box = page.getByTestId('histogram')
  await box.waitFor()
  const chart = box.locator('svg[data-chart="histogram"]')
  t.equal(await chart.getAttribute('role'), 'img')
  t.match(
    await chart.getAttribute('aria-label'),
    /^Histogram of n over 4 buckets from 20 to 100: highest [\d,.]+ in \d+–\d+; whiskers are 95% intervals$/,
    'the chart is summarised for screen readers',
  )
  t.equal(await chart.locator('.bar').count(), 4, 'one bar per bucket')
  t.equal(await chart.locator('.errbar').count(), 4, 'each with its error bar')
  t.same(
    await chart.locator('.xlabel').allTextContents(),
    ['20–40', '40–60', '60–80', '80–100'],
    'the x axis names the bucket ranges',
  )
  t.same(await chart.locator('.axis-title').allTextContents(), ['decade', 'n'], 'and the axes their columns')
  for (const errbar of await chart.locator('.errbar').all()) {
    const lo = Number(await errbar.getAttribute('data-lo'))
    const hi = Number(await errbar.getAttribute('data-hi'))
    t.ok(lo < hi, `an error bar spans [${lo}, ${hi}]`)
  }
  // The table keeps every row; the bins follow the edges, whatever the rows' order.
  const rows = await page.locator('[data-testid="results"] tbody tr').all()
  t.equal(rows.length, 4, 'the table stays, one row per bucket')
  const firstCells = await Promise.all(rows.map((r) => r.locator('td').first().innerText()))
  t.same([...firstCells].sort(), ['20', '40', '60', '80'], 'keyed by lower edge')
  const bins = await chart
    .locator('.bin')
    .evaluateAll((els) => els.map((el) => [el.getAttribute('data-lo'), el.getAttribute('data-hi')]))
  t.same(bins, [
    ['20', '40'],
    ['40', '60'],
    ['60', '80'],
    ['80', '100'],
  ])
  t.equal(await page.locator('svg[data-chart="bars"]').count(), 0, 'no bar chart beside it')
  const boxY = (await box.boundingBox())!.y
  const tableY = (await page.getByTestId('results').boundingBox())!.y
  t.ok(boxY < tableY, 'the histogram comes before the table')

  // Two aggregates: the selector draws the other one.
  const select = box.getByTestId('chart-column')
  t.same(await select.locator('option').allInnerTexts(), ['n', 'avg_income'], 'both aggregates offered')
  await select.selectOption({ label: 'avg_income' })
  await chart.locator('.axis-title', { hasText: 'avg_income' }).waitFor()
  t.equal(await chart.locator('.bar').count(), 4, 'the other aggregate: still four bars')
  t.equal(await chart.locator('.errbar').count(), 4, 'and four error bars')
  // The averages' intervals are wide enough to see: the screenshot in docs/console.md.
  await box.scrollIntoViewIfNeeded()
  await shot(page, 'query-histogram', false)
  await select.selectOption({ label: 'n' })
  await chart.locator('.axis-title', { hasText: /^n$/ }).waitFor()
  t.equal(await chart.locator('.bar').count(), 4, 'and back')
  t.same(problems, [], 'no script error and no CSP refusal')
})

t.test('a bucket beside another group key keeps the table and the bar chart', async (t) => {
  const { page, problems } = await queryScreen(t, 'en')
  await run(
    page,
    'SELECT BUCKET(age, 20, 100, 40) AS age2, insured, COUNT(*) AS n\nFROM binzhou_households\nGROUP BY BUCKET(age, 20, 100, 40), insured',
  )
  await page.locator('svg[data-chart="bars"]').waitFor()
  t.equal(await page.getByTestId('histogram').count(), 0, 'no histogram')
  t.equal(await page.locator('[data-testid="results"] tbody tr').count(), 4, 'two buckets times two')
  await run(page, 'SELECT age_band, COUNT(*) AS n\nFROM binzhou_households\nGROUP BY age_band')
  await page.locator('svg[data-chart="bars"]').waitFor()
  t.equal(await page.getByTestId('histogram').count(), 0, 'a category key: no histogram either')
  t.same(problems, [], 'no script error and no CSP refusal')
})

t.test('the histogram in Chinese leaves no English label untranslated', async (t) => {
  const { page, problems } = await queryScreen(t, 'zh')
  await run(page, BUCKET_SQL)
  const chart = page.locator('[data-testid="histogram"] svg[data-chart="histogram"]')
  await chart.waitFor()
  t.match(await chart.getAttribute('aria-label'), /^n 在 4 个分桶上的直方图，从 20 到 100/, 'summarised in Chinese')
  t.equal(await chart.locator('.bar').count(), 4)
  await page.waitForLoadState('networkidle')
  t.same(await untranslated(page), [], 'no English left')
  t.same(problems, [], 'no script error and no CSP refusal')
})

t.test('partition selection: the preview states what finding the keys costs, apart from the aggregates', async (t) => {
  const { page, problems } = await queryScreen(t, 'en')
  const select = page.getByTestId('grant-select')
  const claims = await select.locator('option', { hasText: /^binzhou_claims · / }).getAttribute('value')
  t.ok(claims, 'the demo analyst holds a grant on the claims')
  await select.selectOption(claims!)
  const sql = 'SELECT diagnosis, COUNT(DISTINCT household_id) AS households FROM binzhou_claims GROUP BY diagnosis'
  await page.getByTestId('sql').fill(sql)
  await page.getByTestId('preview').click()
  const row = page.getByTestId('selection-row')
  await row.waitFor()
  t.match(await row.innerText(), /keys of diagnosis, found in the data/)
  t.match(await row.innerText(), /a key is shown when at least [\d,]+ units hold it/)
  await page.getByTestId('run').click()
  await page.locator('[data-testid="answer"] .sql-inline', { hasText: sql.slice(0, 40) }).waitFor()
  const keys = await page.locator('[data-testid="results"] tbody tr td:first-child').allInnerTexts()
  t.ok(keys.includes('J00-J99'), 'the most common chapter is released')
  t.notOk(keys.includes('Q00-Q99'), 'a chapter one household holds is not')
  t.same(problems, [], 'no script error and no CSP refusal')
})

t.test("a join of two owners' datasets runs from the console and names both", async (t) => {
  const { page, problems } = await queryScreen(t, 'en')
  const select = page.getByTestId('grant-select')
  const option = select.locator('option', { hasText: 'binzhou_households + binzhou_claims' })
  const join = await option.getAttribute('value')
  t.ok(join, 'the demo analyst holds a grant over both datasets')
  await select.selectOption(join!)
  const sql =
    'SELECT h.district, COUNT(DISTINCT household_id) AS households, AVG(c.claim_amount) AS avg_claim FROM binzhou_households h JOIN binzhou_claims c USING (household_id) GROUP BY h.district'
  await page.getByTestId('sql').fill(sql)
  await page.getByTestId('preview').click()
  await page.locator('[data-testid="preview-panel"][data-affordable="true"]').waitFor()
  await page.getByTestId('run').click()
  await page.locator('[data-testid="answer"] .sql-inline', { hasText: sql.slice(0, 40) }).waitFor()
  const rows = await page.locator('[data-testid="results"] tbody tr').count()
  t.equal(rows, 7, 'one row per district')
  t.same(problems, [], 'no script error and no CSP refusal')
})
