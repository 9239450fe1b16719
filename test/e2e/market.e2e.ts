/**
 * The data market in the console, in a real browser against a real server
 * (docs/market.md): an analyst applies for one use, the dataset's owner and
 * the operator approve it with reasons, the grant that results is priced in
 * the preview (free for public welfare, paid for industry), a negative-list
 * rule set on the Market page refuses an application by name, statements and
 * settlements download as the service signs them, and every new screen reads
 * in Chinese with no English left. Run with `npm run test:e2e`.
 */
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import type { Browser, Page } from 'playwright-core'
import { startServerProcess, type ServerProcess } from '../../benchmarks/lib.js'
import { en } from '../../console/src/i18n/en.js'
import { zh } from '../../console/src/i18n/zh.js'
import { bpsPercent, parseYuan, yuan, yuanInput } from '../../console/src/money.js'
import { launch, shot, untranslated, watch } from './browser.js'

interface DemoKeys {
  operator: string
  analyst: string
  owner: string
  custodian: string
  grant: string
}

type Role = 'analyst' | 'owner' | 'operator'

const DATASET = 'binzhou_households'
const GROUP_SQL = `SELECT district, COUNT(*) AS n, AVG(income) AS avg_income\nFROM ${DATASET}\nGROUP BY district`

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

/** A fresh browser context (own storage) signed in with the role's demo key, watching for script and CSP errors. */
async function signedIn(t: Test, role: Role, lang: 'en' | 'zh' = 'en'): Promise<{ page: Page; problems: string[] }> {
  t.ok(keys[role], `demo-keys.json holds a key for the ${role}`)
  return signedInWith(t, keys[role], role, lang)
}

async function signedInWith(
  t: Test,
  key: string,
  role: Role,
  lang: 'en' | 'zh' = 'en',
): Promise<{ page: Page; problems: string[] }> {
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
  await page.getByTestId('api-key').fill(key)
  await page.getByTestId('sign-in').click()
  await page.getByTestId('role').waitFor()
  t.equal(await page.getByTestId('role').getAttribute('class'), `badge role-${role}`, `signed in as ${role}`)
  return { page, problems }
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
  const text = await res.text()
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T }
}

async function go(page: Page, nav: string): Promise<void> {
  await page.locator(`[data-nav="${nav}"]`).click()
}

interface ApplicationForm {
  purpose: string
  scenario: string
  organization: string
  columns: string[]
  aggregates: string[]
  epsilon: string
  money?: string
}

/** Fills the Apply page and submits it; leaves the page on the answer (created notice or refusal). */
async function apply(page: Page, form: ApplicationForm): Promise<void> {
  // Leave and come back: a fresh form.
  await go(page, 'applications')
  await go(page, 'apply')
  await page.getByTestId('apply-form').waitFor()
  await page.getByTestId('apply-purpose').fill(form.purpose)
  await page.getByTestId('apply-scenario').selectOption(form.scenario)
  await page.getByTestId('apply-organization').fill(form.organization)
  await page.getByTestId(`apply-dataset-${DATASET}`).check()
  const ds = page.locator(`[data-apply-dataset="${DATASET}"]`)
  for (const c of form.columns) await ds.locator(`[data-apply-column="${c}"]`).check()
  for (const a of form.aggregates) await ds.locator(`[data-apply-aggregate="${a}"]`).check()
  await page.getByTestId('apply-epsilon').fill(form.epsilon)
  if (form.money !== undefined) await page.getByTestId('apply-money').fill(form.money)
  await page.getByTestId('apply-submit').click()
}

async function submitted(t: Test, page: Page): Promise<string> {
  const created = page.getByTestId('application-created')
  await created.waitFor()
  const id = (await created.getAttribute('data-application-id'))!
  t.match(id, /^a_[0-9a-f]{16}$/, 'the application is stored under its id')
  return id
}

/** Decides on an application from the Approvals page, with a reason. */
async function decide(
  page: Page,
  id: string,
  what: 'approve' | 'deny',
  reason: string,
  narrowEpsilon?: string,
): Promise<void> {
  const card = page.locator(`[data-application="${id}"]`)
  await card.getByTestId('decide-reason').fill(reason)
  if (narrowEpsilon !== undefined) await card.getByTestId('decide-epsilon').fill(narrowEpsilon)
  await card.getByTestId(what).click()
}

interface ApplicationBody {
  id: string
  state: string
  grants: string[]
  parties: { party: string; decision: string | null; reason: string | null }[]
  approved: { epsilon: number; datasets: { dataset: string; aggregates: string[] | null }[] } | null
}

/** Both parties approve in their own browsers: the owner first, then the operator (narrowing ε when asked). */
async function approveByBoth(
  t: Test,
  id: string,
  narrowEpsilon?: string,
  ownerLeavesOut: string[] = [],
): Promise<ApplicationBody> {
  const owner = await signedIn(t, 'owner')
  await go(owner.page, 'approvals')
  const ownerCard = owner.page.locator(`[data-application="${id}"]`)
  await ownerCard.waitFor()
  t.equal(await ownerCard.locator('tr[data-party="owner"]').getAttribute('data-decision'), 'waiting')
  t.ok(await ownerCard.getByTestId('approve').isDisabled(), 'no decision without a reason')
  if (ownerLeavesOut.length > 0) {
    await ownerCard.getByTestId('narrow-scope').locator('summary').click()
    const ds = ownerCard.locator(`[data-narrow-dataset="${DATASET}"]`)
    for (const a of ownerLeavesOut) await ds.locator(`[data-narrow-aggregate="${a}"]`).uncheck()
  }
  await decide(owner.page, id, 'approve', 'e2e: the owner agrees to this use')
  await ownerCard.locator('tr[data-party="owner"][data-decision="approve"]').waitFor()
  t.equal(await ownerCard.getAttribute('data-state'), 'pending', 'still waiting for the operator')
  t.equal(await ownerCard.getByTestId('decide').count(), 0, 'the owner has nothing left to decide')
  t.same(owner.problems, [], 'owner: no script error and no CSP refusal')

  const operator = await signedIn(t, 'operator')
  await go(operator.page, 'approvals')
  const opCard = operator.page.locator(`[data-application="${id}"]`)
  await opCard.waitFor()
  t.match(
    await opCard.getByTestId('parties').innerText(),
    /the owner agrees to this use/,
    'the owner’s reason is shown',
  )
  await decide(operator.page, id, 'approve', 'e2e: the platform agrees', narrowEpsilon)
  // Approved: it leaves the pending list.
  await opCard.waitFor({ state: 'detached' })
  await operator.page.getByTestId('state-filter').selectOption('approved')
  await operator.page.locator(`[data-application="${id}"][data-state="approved"]`).waitFor()
  t.same(operator.problems, [], 'operator: no script error and no CSP refusal')

  const after = await api<{ applications: ApplicationBody[] }>('GET', '/v1/applications', keys.operator)
  const app = after.body.applications.find((a) => a.id === id)!
  t.equal(app.state, 'approved', 'the API agrees: approved')
  t.ok(app.grants.length === 1, 'one grant per dataset named')
  return app
}

/** Previews the query in a grant and returns the price's amount in fen. */
async function previewPrice(t: Test, page: Page, grant: string): Promise<number> {
  await page.goto(`${server.url}/console/#/query?grant=${encodeURIComponent(grant)}`)
  await page.getByTestId('sql').waitFor()
  t.equal(await page.getByTestId('grant-select').inputValue(), grant, 'the grant is chosen')
  await page.getByTestId('sql').fill(GROUP_SQL)
  await page.getByTestId('epsilon').fill('0.5')
  await page.getByTestId('preview').click()
  const price = page.getByTestId('preview-price')
  await price.waitFor()
  return Number(await price.getAttribute('data-amount'))
}

t.test('the console writes fen as yuan and reads yuan as fen with integers only', async (t) => {
  t.equal(yuan(0), '0.00')
  t.equal(yuan(5), '0.05')
  t.equal(yuan(-5), '-0.05')
  t.equal(yuan(-123456), '-1,234.56')
  t.equal(yuan(25200), '252.00')
  t.equal(yuan(123456789012), '1,234,567,890.12')
  t.equal(yuan(Number.MAX_SAFE_INTEGER), '90,071,992,547,409.91', 'exact at the largest safe integer')
  t.equal(parseYuan('12'), 1200)
  t.equal(parseYuan('12.3'), 1230)
  t.equal(parseYuan(' 0.29 '), 29, '0.29 is 29 fen, not 28.999…')
  t.equal(parseYuan('1,200.50'), 120050)
  t.equal(parseYuan('1.005'), null, 'at most two decimals')
  t.equal(parseYuan('-1'), null)
  t.equal(parseYuan('12,34'), null)
  t.equal(parseYuan(''), null)
  t.equal(yuanInput(120050), '1200.50')
  t.equal(yuanInput(null), '')
  t.equal(bpsPercent(1000), '10')
  t.equal(bpsPercent(125), '1.25')
  t.equal(bpsPercent(5), '0.05')
  t.equal(bpsPercent(150), '1.5')
})

let welfare: { application: string; grant: string }

t.test('public welfare: apply, the owner and the operator approve with reasons, a free grant', async (t) => {
  const { page, problems } = await signedIn(t, 'analyst')
  await apply(page, {
    purpose: 'e2e: subsidy coverage by district',
    scenario: 'public-welfare',
    organization: 'Binzhou Civil Affairs Research Office',
    columns: ['district', 'income', 'age'],
    aggregates: ['count', 'avg', 'sum'],
    epsilon: '2',
  })
  const id = await submitted(t, page)
  await shot(page, 'market-apply')
  await page.getByText('See my applications').click()
  const card = page.locator(`[data-application="${id}"]`)
  await card.waitFor()
  t.equal(await card.getAttribute('data-state'), 'pending')
  t.ok((await card.locator('tr[data-party]').count()) >= 2, 'the operator and the owner each have a line')
  t.equal(await card.locator('tr[data-decision="waiting"]').count(), await card.locator('tr[data-party]').count())

  const app = await approveByBoth(t, id)
  const grant = app.grants[0]!
  welfare = { application: id, grant }

  await page.reload()
  const approved = page.locator(`[data-application="${id}"][data-state="approved"]`)
  await approved.waitFor()
  const parties = await approved.getByTestId('parties').innerText()
  t.match(parties, /the owner agrees to this use/, 'the analyst reads the owner’s reason')
  t.match(parties, /the platform agrees/, 'and the operator’s')
  t.equal(
    await approved.locator(`[data-testid="application-grants"] [data-grant-id="${grant}"]`).count(),
    1,
    'the application lists its grant',
  )
  await shot(page, 'market-applications')

  await go(page, 'mygrants')
  const grantCard = page.locator(`[data-grant="${grant}"]`)
  await grantCard.waitFor()
  t.match(await grantCard.getByTestId('grant-scenario').innerText(), /public welfare/)
  t.match(await grantCard.innerText(), /Binzhou Civil Affairs Research Office/)

  t.equal(await previewPrice(t, page, grant), 0, 'public welfare is free')
  t.match(await page.getByTestId('preview-price').innerText(), /^0\.00 CNY/)
  await page.getByTestId('run').click()
  await page.getByTestId('answer').waitFor()

  // Scope review: age and SUM were granted, no answer used them.
  await go(page, 'mygrants')
  await grantCard.getByTestId('scope-open').click()
  const scope = grantCard.getByTestId('scope')
  await scope.waitFor()
  t.equal(await scope.locator('[data-scope-item="age"]').getAttribute('data-used'), 'false', 'age unused')
  t.equal(await scope.locator('[data-scope-item="income"]').getAttribute('data-used'), 'true', 'income used')
  t.equal(await scope.locator('[data-scope-item="sum"]').getAttribute('data-used'), 'false', 'SUM unused')
  const suggestion = await grantCard.getByTestId('scope-suggestion').innerText()
  t.match(suggestion, /age/)
  t.match(suggestion, /leave them out when the grant is renewed/)
  // The renewal starts from a narrowed form.
  await grantCard.getByTestId('scope-renew').click()
  await page.getByTestId('apply-form').waitFor()
  const ds = page.locator(`[data-apply-dataset="${DATASET}"]`)
  t.ok(await ds.locator('[data-apply-column="income"]').isChecked(), 'the renewal keeps what was used')
  t.notOk(await ds.locator('[data-apply-column="age"]').isChecked(), 'and leaves out what was not')
  await shot(page, 'market-renewal')
  t.same(problems, [], 'no script error and no CSP refusal')
})

let industryGrant = ''

t.test('industry: an approval narrows ε, the preview shows a price, the grant spends money', async (t) => {
  const { page, problems } = await signedIn(t, 'analyst')
  await apply(page, {
    purpose: 'e2e: insurance product pricing by district',
    scenario: 'industry',
    organization: 'Binzhou Mutual Insurance',
    columns: ['district', 'income'],
    aggregates: ['count', 'avg', 'sum'],
    epsilon: '3',
    money: '5000.00',
  })
  const id = await submitted(t, page)
  const app = await approveByBoth(t, id, '2', ['sum'])
  t.equal(app.approved?.epsilon, 2, 'the operator narrowed ε to 2')
  t.same(
    [...(app.approved?.datasets[0]?.aggregates ?? [])].sort(),
    ['avg', 'count'],
    'the owner left SUM out: the grant has what both allowed',
  )
  industryGrant = app.grants[0]!

  const price = await previewPrice(t, page, industryGrant)
  t.ok(price > 0, `industry use is priced (${price} fen)`)
  t.match(await page.getByTestId('preview-price').innerText(), /^[\d,]+\.\d\d CNY/, 'shown in yuan')
  await shot(page, 'market-preview-price')
  await page.getByTestId('run').click()
  await page.getByTestId('answer').waitFor()

  await go(page, 'mygrants')
  const card = page.locator(`[data-grant="${industryGrant}"]`)
  await card.waitFor()
  const money = card.getByTestId('grant-money')
  t.equal(await money.locator('.money').first().getAttribute('data-amount'), String(price), 'the price is spent')
  t.match(await money.innerText(), /5,000\.00 CNY/, 'against the cap asked for')
  t.same(problems, [], 'no script error and no CSP refusal')
})

t.test('statements and settlements: shown, downloaded as signed, and reconciled', async (t) => {
  const { page, problems } = await signedIn(t, 'analyst')
  await go(page, 'statements')
  const statement = page.getByTestId('statement')
  await statement.waitFor()
  t.ok(Number(await statement.getAttribute('data-lines')) >= 1, 'the priced answer is a line')
  const total = Number(await page.getByTestId('statement-total').getAttribute('data-amount'))
  t.ok(total > 0, 'the statement has a total')
  await shot(page, 'market-statement')

  const json = page.waitForEvent('download')
  await page.getByTestId('download-json').click()
  const doc = JSON.parse(fs.readFileSync(await (await json).path(), 'utf8')) as {
    kind: string
    totals: { amount: number }
    signature: string
  }
  t.equal(doc.kind, 'veilbox.statement')
  t.equal(doc.totals.amount, total, 'the download says what the screen says')
  t.ok(doc.signature, 'signed')
  const csv = page.waitForEvent('download')
  await page.getByTestId('download-csv').click()
  const csvText = fs.readFileSync(await (await csv).path(), 'utf8')
  t.match(csvText.trimEnd().split(/\r?\n/).at(-1), /^# signature,/, 'the CSV ends with its signature line')
  t.same(problems, [], 'analyst: no script error and no CSP refusal')

  const op = await signedIn(t, 'operator')
  await go(op.page, 'settlements')
  await op.page.getByTestId('settlement').waitFor()
  const gross = Number(await op.page.getByTestId('settlement-gross').getAttribute('data-amount'))
  const fee = Number(await op.page.getByTestId('settlement-fee').getAttribute('data-amount'))
  const net = Number(await op.page.getByTestId('settlement-net').getAttribute('data-amount'))
  t.equal(gross, total, 'the settlement’s gross is the statements’ total')
  t.equal(gross - fee, net, 'net is gross less the fee')
  await shot(op.page, 'market-settlement')
  const sjson = op.page.waitForEvent('download')
  await op.page.getByTestId('download-json').click()
  const sdoc = JSON.parse(fs.readFileSync(await (await sjson).path(), 'utf8')) as {
    kind: string
    totals: { gross: number }
  }
  t.equal(sdoc.kind, 'veilbox.settlement')
  t.equal(sdoc.totals.gross, gross)
  const scsv = op.page.waitForEvent('download')
  await op.page.getByTestId('download-csv').click()
  t.match(fs.readFileSync(await (await scsv).path(), 'utf8'), /# signature,/)

  await go(op.page, 'grants')
  await op.page.getByTestId(`scope-${industryGrant}`).click()
  await op.page.locator(`[data-scope-for="${industryGrant}"] [data-testid="scope"]`).waitFor()
  t.same(op.problems, [], 'operator: no script error and no CSP refusal')

  const owner = await signedIn(t, 'owner')
  await go(owner.page, 'income')
  await owner.page.getByTestId('settlement').waitFor()
  t.equal(
    Number(await owner.page.getByTestId('income-total').getAttribute('data-amount')),
    net,
    'the demo owner holds every priced dataset: its income is the net',
  )
  await shot(owner.page, 'market-income')
  t.same(owner.problems, [], 'owner: no script error and no CSP refusal')
})

t.test('a negative-list rule set on the Market page refuses an application, named', async (t) => {
  const op = await signedIn(t, 'operator')
  await go(op.page, 'market')
  await op.page.getByTestId('rule-form').waitFor()
  await op.page.getByTestId('rule-id').fill('e2e-no-research-households')
  await op.page.getByTestId('rule-dataset').selectOption(DATASET)
  await op.page.getByTestId('rule-scenario').selectOption('research')
  await op.page.getByTestId('rule-reason').fill('e2e: households are not open to research')
  await op.page.getByTestId('rule-add').click()
  await op.page.locator('[data-rule="e2e-no-research-households"]').waitFor()
  await op.page.getByTestId('policy-save').click()
  await op.page.getByTestId('policy-saved').waitFor()
  const policy = await api<{ negativeList: { id: string }[] }>('GET', '/v1/market/policy', keys.operator)
  t.ok(
    policy.body.negativeList.some((r) => r.id === 'e2e-no-research-households'),
    'the API agrees: the rule is in force',
  )
  await shot(op.page, 'market-policy')

  const { page, problems } = await signedIn(t, 'analyst')
  await apply(page, {
    purpose: 'e2e: a research use the negative list forbids',
    scenario: 'research',
    organization: 'Binzhou University',
    columns: ['district'],
    aggregates: ['count'],
    epsilon: '1',
  })
  const refused = page.locator('.error[data-code="VEILBOX_ERR_MARKET_NEGATIVE_LIST"]')
  await refused.waitFor()
  const text = await refused.innerText()
  t.match(text, /negative list/, 'said in plain words')
  t.match(text, /e2e-no-research-households/, 'the rule is named')
  t.equal(await page.getByTestId('application-created').count(), 0, 'nothing was submitted')
  await shot(page, 'market-refused')

  // The operator takes the rule out again: research applies then.
  await op.page.getByTestId('rule-remove-e2e-no-research-households').click()
  await op.page.getByTestId('policy-save').click()
  await op.page.getByTestId('policy-saved').waitFor()
  t.same(problems, [], 'analyst: no script error and no CSP refusal')
  t.same(op.problems, [], 'operator: no script error and no CSP refusal')
})

t.test('the operator sets a dataset’s prices on the Market page, and the catalog shows them', async (t) => {
  const op = await signedIn(t, 'operator')
  await go(op.page, 'market')
  const ds = op.page.locator(`[data-market-dataset="${DATASET}"]`)
  await ds.waitFor()
  const row = ds.locator('[data-price-scenario="research"]')
  await row.locator('[data-price="perEpsilon"]').fill('123.45')
  await row.locator('[data-price="perAnswer"]').fill('0.50')
  await ds.getByTestId('prices-save').click()
  await ds.locator('[data-testid="dataset-market-saved"][data-saved="prices"]').waitFor()
  const view = await api<{ prices: Record<string, { perEpsilon: number; perAnswer: number }> }>(
    'GET',
    `/v1/datasets/${DATASET}`,
    keys.operator,
  )
  t.same(view.body.prices.research, { perEpsilon: 12345, perAnswer: 50 }, 'yuan typed, integer fen stored')

  const { page, problems } = await signedIn(t, 'analyst')
  await go(page, 'catalog')
  const card = page.locator(`[data-dataset="${DATASET}"]`)
  await card.waitFor()
  t.match(await card.getByTestId('dataset-prices').innerText(), /123\.45 CNY per ε \+ 0\.50 CNY per answer/)
  t.ok((await card.locator('[data-level]').count()) > 1, 'the dataset and its columns show their levels')
  t.notMatch(await card.getByTestId('dataset-owner').innerText(), /^—$/, 'and its owner')
  t.same(problems, [], 'analyst: no script error and no CSP refusal')
  t.same(op.problems, [], 'operator: no script error and no CSP refusal')
})

t.test('a dataset listed on the Market page is open to applications from an analyst without grants', async (t) => {
  const made = await api<{ key: string }>('POST', '/v1/keys', keys.operator, { name: 'e2e-newcomer', role: 'analyst' })
  t.equal(made.status, 201)
  const newcomer = await signedInWith(t, made.body.key, 'analyst')
  await go(newcomer.page, 'apply')
  await newcomer.page.getByTestId('apply-form').waitFor()
  t.equal(
    await newcomer.page.getByTestId(`apply-dataset-${DATASET}`).count(),
    0,
    'an unlisted dataset is not offered to an analyst without a grant on it',
  )

  const op = await signedIn(t, 'operator')
  await go(op.page, 'market')
  const ds = op.page.locator(`[data-market-dataset="${DATASET}"]`)
  await ds.getByTestId('listed').check()
  await ds.locator('[data-testid="dataset-market-saved"][data-saved="listing"]').waitFor()

  await apply(newcomer.page, {
    purpose: 'e2e: a newcomer’s first use',
    scenario: 'research',
    organization: 'Binzhou University',
    columns: ['district'],
    aggregates: ['count'],
    epsilon: '1',
  })
  await submitted(t, newcomer.page)
  t.same(newcomer.problems, [], 'newcomer: no script error and no CSP refusal')
  t.same(op.problems, [], 'operator: no script error and no CSP refusal')
})

t.test('the analyst withdraws an approved application: its grant is revoked', async (t) => {
  const { page, problems } = await signedIn(t, 'analyst')
  await go(page, 'applications')
  const card = page.locator(`[data-application="${welfare.application}"]`)
  await card.waitFor()
  await card.getByTestId(`withdraw-${welfare.application}`).click()
  await card.getByTestId(`withdraw-${welfare.application}-yes`).click()
  await page.locator(`[data-application="${welfare.application}"][data-state="withdrawn"]`).waitFor()
  const grant = await api<{ status: string }>('GET', `/v1/grants/${welfare.grant}`, keys.operator)
  t.equal(grant.body.status, 'revoked', 'the API agrees: the grant is revoked')
  t.same(problems, [], 'no script error and no CSP refusal')
})

t.test('the market screens in English show no message key in place of a label', async (t) => {
  const keyNames = Object.keys(en)
  const check = async (page: Page, what: string) => {
    await page.waitForLoadState('networkidle')
    // The words the console writes: data values (marked translate="no") may be anything.
    const text = await page.evaluate<string>(`(() => {
      const out = []
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT)
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const el = n.parentElement
        if (el && !el.closest('[translate="no"], script, style')) out.push(n.textContent)
      }
      return out.join('\\n')
    })()`)
    t.same(
      keyNames.filter((k) => text.includes(k)),
      [],
      `${what}: every label is translated`,
    )
  }
  const screens: [Role, string[]][] = [
    ['analyst', ['home', 'catalog', 'mygrants', 'apply', 'applications', 'statements']],
    ['owner', ['home', 'catalog', 'approvals', 'income']],
    ['operator', ['home', 'approvals', 'market', 'settlements', 'statements', 'grants', 'audit']],
  ]
  for (const [role, navs] of screens) {
    const { page, problems } = await signedIn(t, role)
    for (const nav of navs) {
      await go(page, nav)
      await check(page, `${role} ${nav}`)
    }
    t.same(problems, [], `${role}: no script error and no CSP refusal`)
  }
})

t.test('the market screens in Chinese leave no English label untranslated', async (t) => {
  t.same(Object.keys(zh).sort(), Object.keys(en).sort(), 'zh has exactly the English label keys')
  // A pending application, so the approval form is on screen.
  const pending = await api<{ id: string }>('POST', '/v1/applications', keys.analyst, {
    purpose: 'e2e: a pending application for the Chinese screens',
    scenario: 'research',
    organization: 'Binzhou University',
    datasets: [{ dataset: DATASET, columns: ['district'], aggregates: ['count'] }],
    epsilon: 1,
    delta: 0,
    durationDays: 30,
  })
  t.equal(pending.status, 201, 'an application submitted through the API')

  const check = async (page: Page, what: string) => {
    await page.waitForLoadState('networkidle')
    t.same(await untranslated(page), [], `${what}: no English left`)
  }

  const analyst = await signedIn(t, 'analyst', 'zh')
  await check(analyst.page, 'analyst overview')
  for (const nav of ['apply', 'applications', 'statements', 'catalog']) {
    await go(analyst.page, nav)
    await check(analyst.page, `analyst ${nav}`)
  }
  await go(analyst.page, 'mygrants')
  await analyst.page.locator(`[data-grant="${industryGrant}"] [data-testid="scope-open"]`).click()
  await analyst.page.locator(`[data-grant="${industryGrant}"] [data-testid="scope"]`).waitFor()
  await check(analyst.page, 'analyst grants with a scope review')
  await previewPrice(t, analyst.page, industryGrant)
  await check(analyst.page, 'a priced preview')
  await go(analyst.page, 'apply')
  await analyst.page.getByTestId('apply-purpose').fill('一个被拒绝的申请')
  await analyst.page.getByTestId('apply-organization').fill('滨州大学')
  await analyst.page.getByTestId(`apply-dataset-${DATASET}`).check()
  await analyst.page.getByTestId('apply-epsilon').fill('-1')
  await check(analyst.page, 'the apply form, filled')
  t.same(analyst.problems, [], 'analyst: no script error and no CSP refusal')

  const owner = await signedIn(t, 'owner', 'zh')
  await check(owner.page, 'owner overview')
  for (const nav of ['catalog', 'approvals', 'income']) {
    await go(owner.page, nav)
    await check(owner.page, `owner ${nav}`)
  }
  await go(owner.page, 'approvals')
  await owner.page.locator(`[data-application="${pending.body.id}"] [data-testid="decide"]`).waitFor()
  await shot(owner.page, 'zh-market-approvals')
  t.same(owner.problems, [], 'owner: no script error and no CSP refusal')

  const op = await signedIn(t, 'operator', 'zh')
  for (const nav of ['approvals', 'market', 'settlements', 'statements', 'grants']) {
    await go(op.page, nav)
    await check(op.page, `operator ${nav}`)
  }
  await op.page.getByTestId(`scope-${industryGrant}`).click()
  await op.page.locator(`[data-scope-for="${industryGrant}"] [data-testid="scope"]`).waitFor()
  await check(op.page, 'operator grants with a scope review')
  await go(op.page, 'market')
  await shot(op.page, 'zh-market-policy')
  t.same(op.problems, [], 'operator: no script error and no CSP refusal')
})
