/**
 * Release reports in a real browser against a real demo server (as
 * console.e2e.ts): the console's Report button saves an answer's report, and
 * the report renders in English and Chinese, under its own policy, without a
 * script or CSP error, and prints to PDF. Run by `npm run test:e2e`; the
 * report's escaping and numbers are tested in test/api/report/html.test.ts
 * and test/api/routes/report.test.ts.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import type { Browser } from 'playwright-core'
import { startServerProcess, type ServerProcess } from '../../benchmarks/lib.js'
import { launch, shot, watch } from './browser.js'

let server: ServerProcess
let browser: Browser
let keys: { analyst: string; grant: string }

t.before(async () => {
  server = await startServerProcess({ demo: true, from: 'src' })
  keys = JSON.parse(fs.readFileSync(path.join(server.dataDir, 'demo-keys.json'), 'utf8')) as {
    analyst: string
    grant: string
  }
  browser = await launch()
})

t.teardown(async () => {
  await browser?.close()
  await server?.stop()
})

const SQL = 'SELECT district, COUNT(*) AS households, AVG(income) FROM binzhou_households GROUP BY district'

async function released(): Promise<{ queryId: string; rows: unknown[][] }> {
  const res = await fetch(`${server.url}/v1/queries`, {
    method: 'POST',
    headers: { authorization: `Bearer ${keys.analyst}`, 'content-type': 'application/json' },
    body: JSON.stringify({ sql: SQL, grant: keys.grant, epsilon: 0.2 }),
  })
  if (res.status !== 200) throw new Error(await res.text())
  return (await res.json()) as { queryId: string; rows: unknown[][] }
}

t.test('the report renders in English and Chinese, and prints to PDF', async (t) => {
  const answer = await released()
  const expect = {
    en: { h1: 'Release report', question: /the number of rows; the average of income, per district\./ },
    zh: { h1: '数据发布报告', question: /按 district 分组的行数；income 的平均值。/ },
  }
  for (const lang of ['en', 'zh'] as const) {
    const context = await browser.newContext({
      viewport: { width: 1100, height: 900 },
      extraHTTPHeaders: { authorization: `Bearer ${keys.analyst}` },
    })
    t.teardown(() => context.close())
    const page = await context.newPage()
    const problems = watch(page)
    const res = await page.goto(`${server.url}/v1/queries/${answer.queryId}/report?lang=${lang}`)
    t.equal(res?.status(), 200)
    t.equal(await page.locator('h1').textContent(), expect[lang].h1)
    t.match(await page.locator('p.question').textContent(), expect[lang].question)
    t.equal(await page.locator('tbody tr').count(), answer.rows.length, 'one table row per answer row')
    t.equal(await page.locator('script').count(), 0, 'no script')
    // The inline style applies under the report's own policy (a blocked style would leave the table uncollapsed).
    t.equal(await page.evaluate("getComputedStyle(document.querySelector('table')).borderCollapse"), 'collapse')
    t.match(await page.locator('#receipt-hash').textContent(), /^[0-9a-f]{64}$/)
    await page.emulateMedia({ media: 'print' })
    t.equal(await page.locator('p.note.print').isVisible(), false, 'the print hint is not printed')
    await shot(page, `report-${lang}`)
    const pdf = await page.pdf({ format: 'A4' })
    t.equal(pdf.subarray(0, 5).toString('latin1'), '%PDF-', 'it prints to PDF')
    t.same(problems, [], 'no script or CSP error')
  }
})

t.test("the console's Report button saves the answer's report in the console's language", async (t) => {
  for (const lang of ['en', 'zh'] as const) {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      locale: lang === 'zh' ? 'zh-CN' : 'en-GB',
      acceptDownloads: true,
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
    await page.getByTestId('sql').fill(SQL)
    await page.getByTestId('preview').click()
    await page.locator('[data-testid="preview-panel"][data-affordable="true"]').waitFor()
    await page.getByTestId('run').click()
    await page.getByTestId('answer').waitFor()
    const queryId = await page.getByTestId('answer').getAttribute('data-query-id')
    const downloaded = page.waitForEvent('download')
    await page.getByTestId('download-report').click()
    const file = await downloaded
    t.equal(file.suggestedFilename(), `${queryId}.report.${lang}.html`)
    const html = fs.readFileSync((await file.path())!, 'utf8')
    t.match(html, lang === 'zh' ? '<h1>数据发布报告</h1>' : '<h1>Release report</h1>')
    t.match(html, queryId ?? 'no query id')
    t.same(problems, [], 'no script or CSP error')
  }
})
