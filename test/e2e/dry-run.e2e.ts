/**
 * The console's "try on dummy data" switch, in a real browser against a real
 * demo server (as console.e2e.ts): Run with the switch on shows the dry run
 * marked as dummy on the section and on every value, charges nothing, and
 * shows no answer, receipt or report. Run by `npm run test:e2e`; the API's
 * dry run is tested in test/api/routes/dry-run.test.ts.
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

async function spent(): Promise<unknown> {
  const res = await fetch(`${server.url}/v1/grants/${keys.grant}`, {
    headers: { authorization: `Bearer ${keys.analyst}` },
  })
  return ((await res.json()) as { budget: unknown }).budget
}

t.test('try on dummy data: the result is marked as dummy and nothing is charged', async (t) => {
  for (const lang of ['en', 'zh'] as const) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
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
    await page.getByTestId('sql').fill('SELECT district, COUNT(*) FROM binzhou_households GROUP BY district')
    const before = await spent()
    await page.getByTestId('try-dummy').check()
    await page.getByTestId('run').click()
    const result = page.getByTestId('dry-run-result')
    await result.waitFor()
    t.equal(await result.getAttribute('data-dummy'), 'true')
    t.match(await page.getByTestId('dry-run-notice').textContent(), lang === 'zh' ? /模拟结果/ : /DUMMY RESULT/)
    const cells = page.locator('[data-testid="dry-run-table"] tbody td')
    t.equal(await cells.count(), 14, 'seven districts, two columns')
    t.equal(
      await page.locator('[data-testid="dry-run-table"] tbody td[data-dummy="true"] .badge').count(),
      14,
      'every value carries the dummy badge',
    )
    t.equal(await page.getByTestId('answer').count(), 0, 'no answer, receipt or report button')
    t.same(await spent(), before, 'nothing charged')
    await shot(page, `dry-run-${lang}`)
    t.same(problems, [], 'no script or CSP error')
  }
})
