/**
 * The web console in a real browser against a real server: a veilbox process
 * started from the sources with --demo on an ephemeral port and a temporary
 * data directory, driven through headless Chromium. Run with
 * `npm run test:e2e` (it builds the console first); .ci/run runs it after
 * `npm test` and counts it.
 */
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { startServerProcess, type ServerProcess } from '../../benchmarks/lib.js'
import { en } from '../../console/src/i18n/en.js'
import { errorsEn } from '../../console/src/i18n/errors-en.js'
import { errorsZh } from '../../console/src/i18n/errors-zh.js'
import { zh } from '../../console/src/i18n/zh.js'
import { launch, shot, untranslated, watch } from './browser.js'

interface DemoKeys {
  operator: string
  analyst: string
  custodian: string
  grant: string
}

let server: ServerProcess
let browser: Browser
let keys: DemoKeys

t.before(async () => {
  server = await startServerProcess({ demo: true, from: 'src' })
  keys = JSON.parse(fs.readFileSync(path.join(server.dataDir, 'demo-keys.json'), 'utf8')) as DemoKeys
  browser = await launch()
})

t.teardown(async () => {
  await browser?.close()
  await server?.stop()
})

/** A fresh browser context (own storage) with one page on the console, watching for script and CSP errors. */
async function open(
  t: Test,
  lang: 'en' | 'zh' = 'en',
): Promise<{ page: Page; context: BrowserContext; problems: string[] }> {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    locale: lang === 'zh' ? 'zh-CN' : 'en-GB',
    acceptDownloads: true,
  })
  t.teardown(() => context.close())
  // The language choice is kept in localStorage; set it before the app reads it.
  await context.addInitScript(`localStorage.setItem('veilbox.console.lang', '${lang}')`)
  const page = await context.newPage()
  page.setDefaultTimeout(20_000)
  const problems = watch(page)
  await page.goto(`${server.url}/console/`)
  return { page, context, problems }
}

async function signIn(t: Test, page: Page, key: string, role: string): Promise<void> {
  await page.getByTestId('api-key').fill(key)
  await page.getByTestId('sign-in').click()
  await page.getByTestId('role').waitFor()
  t.equal(await page.getByTestId('role').getAttribute('class'), `badge role-${role}`, `signed in as ${role}`)
}

async function api<T>(
  method: string,
  route: string,
  key: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${server.url}${route}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: res.status, body: (await res.json()) as T }
}

const GROUP_SQL =
  'SELECT age_band, COUNT(*) AS households, AVG(medical_spending) AS avg_spending\nFROM binzhou_households\nGROUP BY age_band'

t.test('the console is served with its CSP and caching', async (t) => {
  const html = await fetch(`${server.url}/console/`)
  t.equal(html.status, 200)
  t.equal(html.headers.get('cache-control'), 'no-cache')
  t.match(html.headers.get('content-security-policy'), /script-src 'self'/)
  const src = /src="(\/console\/assets\/[^"]+\.js)"/.exec(await html.text())?.[1]
  t.ok(src, 'index.html loads a hashed bundle')
  const js = await fetch(`${server.url}${src}`, { headers: { 'accept-encoding': 'br' } })
  t.equal(js.status, 200)
  t.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable')
  t.equal(js.headers.get('content-encoding'), 'br', 'the bundle goes out brotli-compressed')
})

t.test('analyst: signs in, previews, runs a GROUP BY query, sees chart and intervals', async (t) => {
  const { page, problems } = await open(t)
  await page.getByTestId('signin-form').waitFor()
  await shot(page, 'signin')
  await signIn(t, page, keys.analyst, 'analyst')
  t.notMatch(page.url(), keys.analyst, 'the key is not in the address')
  t.equal(
    await page.evaluate("sessionStorage.getItem('veilbox.console.key')"),
    keys.analyst,
    'the key is in session storage',
  )
  t.equal(await page.evaluate("localStorage.getItem('veilbox.console.key')"), null, 'and not in local storage')
  await page.getByTestId('capabilities').waitFor()
  t.match(await page.getByTestId('capabilities').innerText(), /price a query before running it/)
  await shot(page, 'home-analyst')

  await page.locator('[data-nav="catalog"]').click()
  const demo = page.locator('[data-dataset="binzhou_households"]')
  await demo.waitFor()
  t.equal(await demo.locator('[data-column="income"] [data-protection="dp"]').count(), 1, 'income is badged DP')
  t.equal(
    await demo.locator('[data-column="district"] [data-protection="public"]').count(),
    1,
    'district is badged public',
  )
  t.match(await demo.locator('[data-column="income"]').innerText(), /0 to 1,000,000/, 'bounds are shown')
  // The public reference table: marked as such, its key as key, and no query of its own.
  const regions = page.locator('[data-dataset="binzhou_district_regions"]')
  await regions.waitFor()
  t.equal(await regions.locator('.badge.public-table').count(), 1, 'the public table is marked')
  t.match(await regions.locator('[data-column="district"]').innerText(), /Key/, 'its key is shown as the key')
  t.equal(await regions.locator('a.button.primary').count(), 0, 'it is not queried alone')
  await shot(page, 'catalog')

  await demo.getByText('Write a query').click()
  const sql = page.getByTestId('sql')
  await sql.waitFor()
  t.match(await sql.inputValue(), /GROUP BY district/, 'an example query for the dataset is ready')
  t.ok(await page.locator('[data-insert="income"]').isVisible(), 'the columns are at hand')
  await sql.fill(GROUP_SQL)
  t.ok(await page.getByTestId('run').isDisabled(), 'Run waits for a preview')
  await page.getByTestId('preview').click()
  const preview = page.getByTestId('preview-panel')
  await preview.waitFor()
  t.equal(await preview.getAttribute('data-affordable'), 'true')
  t.match(await page.getByTestId('preview-charge').innerText(), /ε 0\.1 to the grant/)
  t.match(await page.getByTestId('preview-after').innerText(), /now 10 → after 9\.9/)
  t.match(
    await page.locator('[data-aggregate="households"] [data-testid="expected-error"]').innerText(),
    /^± \d+/,
    'COUNT shows its expected error',
  )
  t.ok(await page.getByTestId('run').isEnabled(), 'Run is possible after the preview')

  await page.getByTestId('run').click()
  const answer = page.getByTestId('answer')
  await answer.waitFor()
  t.equal(await page.locator('[data-testid="results"] tbody tr').count(), 5, 'one row per age band')
  t.equal(await page.locator('[data-testid="interval"]').count(), 10, 'every aggregate cell has its interval')
  const chart = page.locator('svg[data-chart="bars"]')
  t.equal(await chart.locator('.bar').count(), 5, 'one bar per group')
  t.equal(await chart.locator('.errbar').count(), 5, 'each bar has its error bar')
  const lo = Number(await chart.locator('.errbar').first().getAttribute('data-lo'))
  const hi = Number(await chart.locator('.errbar').first().getAttribute('data-hi'))
  t.ok(lo < hi, 'the error bar spans an interval')
  await page.locator('[data-testid="receipt"][data-check="valid"]').waitFor()
  t.pass('the receipt verifies in the browser')
  await page.locator('[data-testid="grant-select"]').scrollIntoViewIfNeeded()
  t.match(await page.locator('.gauge').first().getAttribute('data-remaining'), '9.9', 'the gauge shows the budget left')
  await shot(page, 'query-answer')

  const downloaded = page.waitForEvent('download')
  await page.getByTestId('download-json').click()
  const file = await (await downloaded).path()
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as { receipt: { signature: string }; rows: unknown[] }
  t.ok(json.receipt.signature, 'the JSON download carries the receipt')
  const csvDownload = page.waitForEvent('download')
  await page.getByTestId('download-csv').click()
  const csv = fs.readFileSync(await (await csvDownload).path(), 'utf8')
  t.match(
    csv.split('\r\n')[0],
    'age_band,households,households_lo,households_hi,avg_spending,avg_spending_lo,avg_spending_hi',
  )

  // Errors in plain words: a row-level query, and one the grant cannot pay for.
  await sql.fill('SELECT * FROM binzhou_households')
  await page.getByTestId('preview').click()
  const refused = page.locator('.error[data-code="VEILBOX_ERR_QUERY_NOT_AGGREGATE"]')
  await refused.waitFor()
  t.match(await refused.innerText(), /individual rows/)
  t.match(await refused.innerText(), /Ask for aggregates/)
  await sql.fill(GROUP_SQL)
  await page.getByTestId('epsilon').fill('50')
  await page.getByTestId('preview').click()
  await page.locator('[data-testid="preview-panel"][data-affordable="false"]').waitFor()
  t.match(
    await page.locator('.error[data-code="VEILBOX_ERR_BUDGET_EXHAUSTED"]').innerText(),
    /Not enough privacy budget/,
  )
  t.ok(await page.getByTestId('run').isDisabled(), 'an unaffordable query cannot be run')

  await page.locator('[data-nav="history"]').click()
  await page.getByTestId('history').waitFor()
  await shot(page, 'history')
  await page.locator('[data-open]').first().click()
  await page.locator('[data-testid="answer"]').waitFor()
  t.match(await page.locator('[data-testid="answer"]').innerText(), /Re-opened from the store/)
  t.same(problems, [], 'no script error and no CSP refusal')
})

t.test('operator: creates a grant and revokes it; budgets, keys and audit', async (t) => {
  const { page, problems } = await open(t)
  await signIn(t, page, keys.operator, 'operator')
  await page.locator('[data-nav="grants"]').click()
  await page.getByTestId('grant-form').waitFor()
  await page.getByTestId('grant-analyst').selectOption('demo-analyst')
  await page.getByTestId('grant-dataset').selectOption('binzhou_households')
  await page.getByTestId('grant-purpose').fill('e2e: insurance coverage by district')
  await page.locator('[data-grant-column="district"]').check()
  await page.locator('[data-grant-column="insured"]').check()
  await page.getByTestId('grant-epsilon').fill('2')
  await page.getByTestId('grant-create').click()
  const created = page.getByTestId('grant-created')
  await created.waitFor()
  const id = (await created.getAttribute('data-grant-id'))!
  t.match(id, /^g_[0-9a-f]{16}$/)
  const row = page.locator(`tr[data-grant="${id}"]`)
  await row.waitFor()
  t.equal(await row.getAttribute('data-status'), 'active')
  t.match(await row.innerText(), /district, insured/)
  await shot(page, 'grants')
  await page.getByTestId(`revoke-${id}`).click()
  await page.getByTestId(`revoke-${id}-yes`).click()
  await page.locator(`tr[data-grant="${id}"][data-status="revoked"]`).waitFor()
  const after = await api<{ status: string }>('GET', `/v1/grants/${id}`, keys.operator)
  t.equal(after.body.status, 'revoked', 'the API agrees: the grant is revoked')

  await page.locator('[data-nav="budgets"]').click()
  // The demo's first dataset is the claims; the spending above was on the households.
  await page.getByTestId('budget-dataset').selectOption('binzhou_households')
  await page.locator('svg[data-chart="burndown"]').waitFor()
  t.ok((await page.locator('svg[data-chart="burndown"] .series').count()) >= 1, 'a burn-down line per grant')
  t.equal(await page.locator('[data-testid="usage-by-grant"] tbody tr').count(), 1, 'spend per grant from the chain')
  await shot(page, 'budgets')

  await page.locator('[data-nav="keys"]').click()
  await page.getByTestId('key-name').fill('e2e-reader')
  await page.getByTestId('key-role').selectOption('analyst')
  await page.getByTestId('key-create').click()
  const secret = await page.getByTestId('new-key-value').innerText()
  t.match(secret, /^vbx_/, 'the new key is shown once')
  await page.locator('tr[data-key="e2e-reader"]').waitFor()
  await shot(page, 'keys')
  await page.getByTestId('new-key-done').click()
  t.equal(await page.getByTestId('new-key').count(), 0, 'and gone once dismissed')

  await page.locator('[data-nav="audit"]').click()
  await page.getByTestId('audit').waitFor()
  await page.getByTestId('verify').click()
  await page.locator('[data-testid="verify-result"][data-ok="true"]').waitFor()
  t.match(await page.getByTestId('verify-result').innerText(), /The chain holds/)
  await page.locator('[data-filter="action"]').selectOption('grant')
  await page.getByTestId('audit-filter').click()
  // The unfiltered page is on screen until the filtered one arrives: wait for the records to change.
  const rows = page.locator('[data-testid="audit"] tbody tr[data-action]')
  let actions: (string | null)[] = []
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await page.waitForTimeout(100)) {
    actions = await rows.evaluateAll((els) => els.map((r) => r.getAttribute('data-action')))
    if (actions.length > 0 && actions.every((a) => a?.startsWith('grant.'))) break
  }
  t.ok(
    actions.length >= 3 && actions.every((a) => a?.startsWith('grant.')),
    `the filter keeps grant records only (${actions.join(', ')})`,
  )
  await page.locator('tr[data-action="grant.revoke"] button.link').click()
  await shot(page, 'audit')
  t.same(problems, [], 'no script error and no CSP refusal')
})

t.test('operator: registers a dataset and uploads a version with a progress bar', async (t) => {
  const { page, context, problems } = await open(t)
  await signIn(t, page, keys.operator, 'operator')
  await page.locator('[data-nav="datasets"]').click()

  // From the schema form: the server's schema check speaks first, then the fixed form registers.
  const form = page.getByTestId('dataset-form')
  await form.locator('[data-field="id"]').fill('e2e_form')
  await form.locator('[data-field="title"]').fill('E2E from the form')
  await form.locator('[data-column-row="1"] [data-col="name"]').fill('amount')
  await page.getByTestId('create-dataset').click()
  const invalid = page.locator('.error[data-code="VEILBOX_ERR_DATASET_INVALID_SCHEMA"]')
  await invalid.waitFor()
  t.match(await invalid.innerText(), /columns\[1\]\.lower/, 'a private number without bounds is named by field')
  await form.locator('[data-column-row="1"] [data-col="lower"]').fill('0')
  await form.locator('[data-column-row="1"] [data-col="upper"]').fill('100')
  await page.getByTestId('add-column').click()
  await form.locator('[data-column-row="2"] [data-col="name"]').fill('zone')
  await form.locator('[data-column-row="2"] [data-col="type"]').selectOption('category')
  await form.locator('[data-column-row="2"] [data-col="protection"]').selectOption('public')
  await form.locator('[data-column-row="2"] [data-col="categories"]').fill('east, west')
  await page.getByTestId('create-dataset').click()
  await page.getByTestId('dataset-created').waitFor()
  await page.locator('[data-dataset="e2e_form"]').waitFor()
  const registered = await api<{ columns: { name: string; categories?: string[] }[] }>(
    'GET',
    '/v1/datasets/e2e_form',
    keys.operator,
  )
  t.same(
    registered.body.columns.find((c) => c.name === 'zone')?.categories,
    ['east', 'west'],
    'the form registered the declared categories',
  )

  await page.getByTestId('json-mode').click()
  const spec = {
    id: 'e2e_trips',
    title: 'E2E trips',
    classification: 'internal',
    privacyUnit: 'rider',
    maxRowsPerUnit: 1,
    columns: [
      { name: 'rider', type: 'id', protection: 'public' },
      { name: 'zone', type: 'category', protection: 'public', categories: ['north', 'south'] },
      { name: 'fare', type: 'number', protection: 'dp', lower: 0, upper: 500 },
    ],
  }
  await page.getByTestId('dataset-json').fill(JSON.stringify(spec, null, 2))
  await page.getByTestId('create-dataset').click()
  await page.getByTestId('dataset-created').filter({ hasText: 'e2e_trips' }).waitFor()
  const upload = page.getByTestId('upload-e2e_trips')
  await upload.waitFor()

  // ~6 MB, sent at 2 MB/s: long enough that the bar is seen part-way.
  let csv = 'rider,zone,fare\n'
  for (let i = 0; i < 200_000; i++) csv += `r${i},${i % 3 === 0 ? 'south' : 'north'},${(i % 500) + 0.25}\n`
  await upload
    .getByTestId('upload-file')
    .setInputFiles({ name: 'trips.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) })
  const cdp = await context.newCDPSession(page)
  await cdp.send('Network.enable')
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: 2 * 1024 * 1024,
  })
  await upload.getByTestId('upload-start').click()
  // Poll the bar from here (a predicate run in the page would be refused by the console's CSP, which allows no eval).
  const bar = upload.locator('.upload-progress progress')
  let partWay = false
  for (const deadline = Date.now() + 20_000; !partWay && Date.now() < deadline; await page.waitForTimeout(50)) {
    const [value, max] = await Promise.all([
      bar.getAttribute('value').catch(() => null),
      bar.getAttribute('max').catch(() => null),
    ])
    partWay = value !== null && max !== null && Number(value) > 0 && Number(value) < Number(max)
  }
  t.ok(partWay, 'the progress bar was seen part-way')
  const mid = await upload.locator('.upload-text').innerText()
  t.match(mid, /^Sending .* of .* \(\d+(\.\d)?%\)$/, `progress is shown part-way: ${mid}`)
  await shot(page, 'upload-progress', false)
  await upload.getByTestId('upload-done').waitFor({ timeout: 60_000 })
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: -1,
  })
  t.match(await upload.getByTestId('upload-done').innerText(), /Stored as version 1: 200,000 rows/)
  await page.locator('[data-dataset="e2e_trips"] tr[data-version="1"]').waitFor()
  await shot(page, 'datasets')
  t.same(problems, [], 'no script error and no CSP refusal')
})

t.test('the Chinese interface leaves no English label untranslated', async (t) => {
  // The key sets first: every label and every error message exists in both languages.
  t.same(Object.keys(zh).sort(), Object.keys(en).sort(), 'zh has exactly the English label keys')
  t.same(Object.keys(errorsZh).sort(), Object.keys(errorsEn).sort(), 'zh has exactly the English error keys')
  const same = Object.keys(en).filter((k) => zh[k as keyof typeof en] === en[k as keyof typeof en])
  t.same(
    same.sort(),
    ['history.epsilon', 'lang.en', 'lang.zh', 'signin.keyPlaceholder'],
    'only language names and symbols read the same in both',
  )

  const { page, problems } = await open(t, 'zh')
  const check = async (what: string) => {
    await page.waitForLoadState('networkidle')
    const left = await untranslated(page)
    t.same(left, [], `${what}: no English left`)
  }
  await page.getByTestId('signin-form').waitFor()
  t.match(await page.getByTestId('signin-form').innerText(), /登录/)
  await check('sign-in')
  await signIn(t, page, keys.analyst, 'analyst')
  await check('overview')
  for (const nav of ['catalog', 'mygrants', 'history']) {
    await page.locator(`[data-nav="${nav}"]`).click()
    await check(nav)
  }
  t.match(await page.getByTestId('history').innerText(), /\d{4}年\d{1,2}月\d{1,2}日/, 'dates are formatted for zh-CN')
  await page.locator('[data-open]').first().click()
  await page.locator('[data-testid="receipt"][data-check="valid"]').waitFor()
  await page.locator('[data-testid="receipt"] summary').click()
  await check('answer')
  await page.locator('[data-nav="query"]').click()
  await page.getByTestId('sql').fill(GROUP_SQL)
  await page.getByTestId('preview').click()
  await page.getByTestId('preview-panel').waitFor()
  await page.getByTestId('run').click()
  await page.locator('[data-testid="receipt"][data-check="valid"]').waitFor()
  await shot(page, 'zh-query-answer')
  await check('query, preview and answer')
  await page.getByTestId('sql').fill('SELECT income FROM binzhou_households')
  await page.getByTestId('preview').click()
  await page.locator('.error').waitFor()
  await check('a refused query')

  await page.getByTestId('sign-out').click()
  await signIn(t, page, keys.operator, 'operator')
  for (const nav of ['datasets', 'budgets', 'grants', 'keys', 'audit']) {
    await page.locator(`[data-nav="${nav}"]`).click()
    await check(nav)
  }
  await page.getByTestId('verify').click()
  await page.getByTestId('verify-result').waitFor()
  await page.locator('[data-testid="audit"] button.link').first().click()
  await check('audit, verified, one record open')
  await shot(page, 'zh-audit')
  await page.locator('[data-nav="grants"]').click()
  await page.getByTestId('grants').waitFor()
  await shot(page, 'zh-grants')
  t.same(problems, [], 'no script error and no CSP refusal')
})

t.test('a revoked key sends the user back to sign-in', async (t) => {
  const made = await api<{ key: string }>('POST', '/v1/keys', keys.operator, {
    name: 'e2e-short-lived',
    role: 'analyst',
  })
  t.equal(made.status, 201)
  const { page, problems } = await open(t)
  await signIn(t, page, made.body.key, 'analyst')
  await page.locator('[data-nav="catalog"]').click()
  // A new analyst holds no grant: the catalog is empty, and says why.
  await page.getByTestId('catalog-empty').waitFor()
  t.match(await page.getByTestId('catalog-empty').textContent(), /grant/)
  t.equal(
    (await api('DELETE', '/v1/keys/e2e-short-lived', keys.operator)).status,
    200,
    'an operator revokes the key meanwhile',
  )
  await page.locator('[data-nav="history"]').click()
  await page.getByTestId('signed-out-expired').waitFor()
  t.ok(await page.getByTestId('signin-form').isVisible(), 'the sign-in form is back')
  t.equal(await page.evaluate("sessionStorage.getItem('veilbox.console.key')"), null, 'the dead key is forgotten')
  await shot(page, 'signed-out-expired')

  // A reload with a key revoked while the tab was closed ends the same way.
  const again = await api<{ key: string }>('POST', '/v1/keys', keys.operator, {
    name: 'e2e-short-lived',
    role: 'analyst',
  })
  await page.getByTestId('api-key').fill(again.body.key)
  await page.getByTestId('sign-in').click()
  await page.getByTestId('role').waitFor()
  // Sit on the overview, which calls nothing: a request in flight when the key dies would sign the
  // page out before the reload, and the reload would then find no key at all.
  await page.locator('[data-nav="home"]').click()
  await page.getByTestId('capabilities').waitFor()
  await page.waitForLoadState('networkidle')
  t.equal((await api('DELETE', '/v1/keys/e2e-short-lived', keys.operator)).status, 200)
  await page.reload()
  await page.getByTestId('signin-form').waitFor()
  t.ok(await page.getByTestId('signed-out-expired').isVisible(), 'after a reload too, with the reason given')
  t.same(problems, [], 'no script error and no CSP refusal')
})
