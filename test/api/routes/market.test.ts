/**
 * The data market end to end (docs/market.md), through the API on the store
 * under test: an owner, levels, prices and a policy with a negative list;
 * applications through both approvals to grants; queries priced by scenario
 * and charged in the same transaction as their privacy cost, under a money
 * cap that concurrent queries cannot pass; statements and settlements that
 * reconcile exactly and verify offline; certificates; the scope review; and
 * every step in the verified audit chain.
 */
import t, { type Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { verifyCsv, verifyDocument } from '../../../src/engine/market/documents.js'
import { verifyChain } from '../../../src/store/audit.js'
import { createKey, SYSTEM_ACTOR } from '../../../src/store/keys.js'
import { queryApp, type TestApp } from '../../helpers/app.js'

type App = TestApp & { grant: string; dataset: string }

async function withOwner(
  ta: App,
): Promise<{ owner: (opts: Parameters<TestApp['call']>[1]) => Promise<LightMyRequestResponse> }> {
  const key = (await createKey(ta.app.db, { name: 'bureau', role: 'owner' }, SYSTEM_ACTOR)).key
  const owner = (opts: Parameters<TestApp['call']>[1]) =>
    ta.app.inject({ ...opts, headers: { ...(opts.headers ?? {}), authorization: `Bearer ${key}` } })
  return { owner }
}

const DAY = 86_400_000

function application(dataset: string, over: Record<string, unknown> = {}) {
  return {
    purpose: 'Income by district for the welfare review',
    scenario: 'public-welfare',
    organization: 'Civil Affairs Research Office',
    datasets: [{ dataset, columns: ['district', 'income'], aggregates: ['count', 'sum', 'avg'] }],
    epsilon: 3,
    durationDays: 30,
    ...over,
  }
}

async function marketApp(t: Test) {
  const ta = await queryApp(t, { datasetEpsilon: 1000, rows: 2000 })
  const { owner } = await withOwner(ta)
  const ds = ta.dataset
  const set = await ta.call('operator', {
    method: 'PUT',
    url: `/v1/datasets/${ds}/owner`,
    payload: { owner: 'bureau' },
  })
  t.equal(set.statusCode, 200, set.body)
  t.same(set.json().owner.name, 'bureau', 'the dataset names its owner principal')
  const levels = await ta.call('operator', {
    method: 'PUT',
    url: `/v1/datasets/${ds}/levels`,
    payload: { levels: { income: 'L3', medical_spending: 'L3', district: 'L1' } },
  })
  t.equal(levels.statusCode, 200, levels.body)
  t.equal(levels.json().level, 'L3', "a dataset's level is its highest column's")
  const prices = await ta.call('operator', {
    method: 'PUT',
    url: `/v1/datasets/${ds}/prices`,
    payload: {
      prices: { industry: { perEpsilon: 100_000, perAnswer: 500 }, research: { perEpsilon: 10_000, perAnswer: 0 } },
    },
  })
  t.equal(prices.statusCode, 200, prices.body)
  return { ...ta, owner, ds }
}

async function approveAll(
  m: Awaited<ReturnType<typeof marketApp>>,
  id: string,
  narrow?: Record<string, unknown>,
): Promise<{ grants: string[]; body: Record<string, unknown> }> {
  const o = await m.owner({
    method: 'POST',
    url: `/v1/applications/${id}/approve`,
    payload: { reason: 'within our terms', ...(narrow ? { narrow } : {}) },
  })
  if (o.statusCode !== 200) throw new Error(o.body)
  const op = await m.call('operator', {
    method: 'POST',
    url: `/v1/applications/${id}/approve`,
    payload: { reason: 'lawful purpose' },
  })
  if (op.statusCode !== 200) throw new Error(op.body)
  return { grants: op.json().grants, body: op.json() }
}

async function run(m: App, grant: string, sql: string, epsilon: number) {
  return m.call('analyst', { method: 'POST', url: '/v1/queries', payload: { sql, grant, epsilon } })
}

t.test('an application walks through both approvals to a grant, queries, a statement and a settlement', async (t) => {
  const m = await marketApp(t)
  const start = new Date(Date.now() - 1000).toISOString()

  // Public welfare: free.
  const sub = await m.call('analyst', { method: 'POST', url: '/v1/applications', payload: application(m.ds) })
  t.equal(sub.statusCode, 201, sub.body)
  const app1 = sub.json()
  t.equal(app1.state, 'pending')
  t.same(
    app1.parties.map((p: { party: string; owner: { name: string } | null }) => p.owner?.name ?? p.party),
    ['operator', 'bureau'],
    'the operator and the owner must both approve',
  )
  // Neither the analyst nor another role decides; the owner narrows; the operator's approval makes the grant.
  const selfApprove = await m.call('analyst', {
    method: 'POST',
    url: `/v1/applications/${app1.id}/approve`,
    payload: { reason: 'me' },
  })
  t.equal(selfApprove.statusCode, 403)
  const widen = await m.owner({
    method: 'POST',
    url: `/v1/applications/${app1.id}/approve`,
    payload: { reason: 'more', narrow: { epsilon: 5 } },
  })
  t.equal(widen.json().code, 'VEILBOX_ERR_MARKET_BAD_APPLICATION', 'a narrowing cannot widen')
  const ownerOk = await m.owner({
    method: 'POST',
    url: `/v1/applications/${app1.id}/approve`,
    payload: { reason: 'sums only', narrow: { datasets: [{ dataset: m.ds, aggregates: ['count', 'sum'] }] } },
  })
  t.equal(ownerOk.statusCode, 200, ownerOk.body)
  t.equal(ownerOk.json().state, 'pending', 'one approval of two leaves it pending')
  t.same(ownerOk.json().grants, [])
  const twice = await m.owner({
    method: 'POST',
    url: `/v1/applications/${app1.id}/approve`,
    payload: { reason: 'again' },
  })
  t.equal(twice.json().code, 'VEILBOX_ERR_MARKET_NOT_A_PARTY', 'a party decides once')
  const opOk = await m.call('operator', {
    method: 'POST',
    url: `/v1/applications/${app1.id}/approve`,
    payload: { reason: 'lawful' },
  })
  t.equal(opOk.statusCode, 200, opOk.body)
  const approved = opOk.json()
  t.equal(approved.state, 'approved')
  t.equal(approved.grants.length, 1)
  t.same(approved.approved.datasets[0].aggregates, ['count', 'sum'], "the owner's narrowing holds")
  const grantA = approved.grants[0] as string
  const g = (await m.call('analyst', { method: 'GET', url: `/v1/grants/${grantA}` })).json()
  t.equal(g.application, app1.id)
  t.equal(g.scenario, 'public-welfare')
  t.equal(g.organization, 'Civil Affairs Research Office')
  t.same(g.columns, ['district', 'income'])
  t.same(g.aggregates, ['count', 'sum'])
  t.equal(g.budget.epsilon.total, 3)
  t.ok(Math.abs(Date.parse(g.expiresAt) - Date.now() - 30 * DAY) < 60_000, 'the grant runs durationDays from approval')

  const free = await run(m, grantA, 'SELECT district, SUM(income) FROM binzhou_households GROUP BY district', 0.5)
  t.equal(free.statusCode, 200, free.body)
  t.equal(free.json().price.amount, 0, 'public-welfare use is free')
  const avg = await run(m, grantA, 'SELECT AVG(income) FROM binzhou_households', 0.5)
  t.equal(avg.json().code, 'VEILBOX_ERR_POLICY_AGGREGATE_NOT_GRANTED', 'the narrowed aggregate is refused')
  const tooMuch = await run(m, grantA, 'SELECT COUNT(*) FROM binzhou_households', 1.5)
  t.equal(tooMuch.statusCode, 403)
  t.equal(tooMuch.json().code, 'VEILBOX_ERR_MARKET_EPSILON_PER_ANSWER', 'L3 data: at most epsilon 1 per answer')
  t.equal(tooMuch.json().rule, 'L3.maxEpsilonPerAnswer')

  // Industry: paid, 500 fen per answer plus 100,000 fen per epsilon, under a 1,000 CNY cap.
  const sub2 = await m.call('analyst', {
    method: 'POST',
    url: '/v1/applications',
    payload: application(m.ds, { scenario: 'industry', organization: 'Acme Insurance', moneyCap: 100_000, epsilon: 5 }),
  })
  t.equal(sub2.statusCode, 201, sub2.body)
  const {
    grants: [grantB],
  } = await approveAll(m, sub2.json().id)
  const preview = await m.call('analyst', {
    method: 'POST',
    url: '/v1/queries/preview',
    payload: {
      sql: 'SELECT district, COUNT(*) FROM binzhou_households GROUP BY district',
      grant: grantB,
      epsilon: 0.5,
    },
  })
  t.equal(preview.statusCode, 200, preview.body)
  t.same(preview.json().price, {
    amount: 50_500,
    currency: 'CNY',
    text: '505.00 CNY',
    scenario: 'industry',
    perEpsilon: 100_000,
    perAnswer: 500,
  })
  const paid = await run(m, grantB!, 'SELECT district, COUNT(*) FROM binzhou_households GROUP BY district', 0.5)
  t.equal(paid.statusCode, 200, paid.body)
  t.equal(paid.json().price.amount, 50_500, 'the industry answer is charged its price')
  const repeat = await run(m, grantB!, 'SELECT district, COUNT(*) FROM binzhou_households GROUP BY district', 0.5)
  t.equal(repeat.json().cached, true)
  t.equal(repeat.json().price.amount, 0, 'a repeat is free')
  const before = (await m.call('analyst', { method: 'GET', url: `/v1/grants/${grantB}` })).json()
  t.equal(before.money.spent, 50_500)
  t.equal(before.money.cap, 100_000)
  const over = await run(m, grantB!, 'SELECT COUNT(*) FROM binzhou_households', 0.5)
  t.equal(over.statusCode, 403)
  t.equal(over.json().code, 'VEILBOX_ERR_MARKET_SPENDING_CAP', 'the cap refuses the second paid answer')
  const after = (await m.call('analyst', { method: 'GET', url: `/v1/grants/${grantB}` })).json()
  t.same(after.budget, before.budget, 'a refused answer charges no privacy budget')
  t.equal(after.money.spent, 50_500, 'nor money')

  // Scope review: the grant allowed count and sum, district and income; the answers used count and district.
  const scope = (await m.owner({ method: 'GET', url: `/v1/grants/${grantB}/scope` })).json()
  t.equal(scope.answers, 1)
  t.same(scope.unused.columns, ['income'])
  t.ok(scope.unused.aggregates.includes('sum') && !scope.unused.aggregates.includes('count'))

  // Statements and settlements over the period, both ways.
  const end = new Date(Date.now() + 1000).toISOString()
  const period = `from=${encodeURIComponent(start)}&to=${encodeURIComponent(end)}`
  const stAll = (await m.call('operator', { method: 'GET', url: `/v1/statements?${period}` })).json()
  t.equal(stAll.totals.answers, 2, 'both fresh answers are on the statement')
  const orgs = [...new Set(stAll.lines.map((l: { organization: string }) => l.organization))] as string[]
  let orgSum = 0
  for (const org of orgs) {
    const st = (
      await m.call('operator', {
        method: 'GET',
        url: `/v1/statements?${period}&organization=${encodeURIComponent(org)}`,
      })
    ).json()
    orgSum += st.totals.amount
    t.equal(
      st.totals.amount,
      st.lines.reduce((s: number, l: { amount: number }) => s + l.amount, 0),
      `${org}: the total is the sum of its lines`,
    )
  }
  t.equal(orgSum, 50_500, "the organizations' statements sum to every priced answer")
  const mine = (await m.call('analyst', { method: 'GET', url: `/v1/statements?${period}` })).json()
  t.equal(mine.analyst.name, 'alice')
  t.equal(mine.totals.amount, 50_500)
  const settle = (await m.call('operator', { method: 'GET', url: `/v1/settlements?${period}` })).json()
  t.equal(settle.totals.gross, orgSum, "the settlement's gross is the statements' total")
  t.equal(settle.totals.fee, 5050, 'the platform fee: 10% of 50,500 fen, rounded down')
  const owners = settle.owners.reduce((s: number, o: { total: number }) => s + o.total, 0)
  t.equal(owners, settle.totals.gross - settle.totals.fee, "the owners' shares sum exactly to gross minus fee")
  t.equal(settle.owners[0].owner.name, 'bureau')
  const ownSettle = (await m.owner({ method: 'GET', url: `/v1/settlements?${period}` })).json()
  t.equal(ownSettle.owners.length, 1)
  t.equal(ownSettle.owners[0].total, 45_450)
  const forbidden = await m.owner({ method: 'GET', url: `/v1/statements?${period}` })
  t.equal(forbidden.statusCode, 403, "an owner does not read analysts' statements")

  // Signed: they verify offline with the published key, and fail once altered.
  const pem = (await m.call(null, { method: 'GET', url: '/v1/receipts/keys' })).json().keys[0].publicKey
  t.ok(verifyDocument(stAll, pem).ok, 'the statement verifies')
  t.ok(verifyDocument(settle, pem).ok, 'the settlement verifies')
  t.notOk(verifyDocument({ ...settle, totals: { ...settle.totals, fee: 0 } }, pem).ok, 'an altered settlement fails')
  const csv = (await m.call('operator', { method: 'GET', url: `/v1/settlements?${period}&format=csv` })).body
  t.match(csv, /^# veilbox\.settlement,/)
  t.ok(verifyCsv(csv, pem).ok, 'the CSV settlement verifies')
  t.notOk(verifyCsv(csv.replace('45450', '45451'), pem).ok, 'an altered CSV fails')
  const stCsv = (await m.call('analyst', { method: 'GET', url: `/v1/statements?${period}&format=csv` })).body
  t.ok(verifyCsv(stCsv, pem).ok, 'the CSV statement verifies')

  // A certificate for the version, naming its commitment and never its content hash.
  const cert = await m.owner({ method: 'GET', url: `/v1/datasets/${m.ds}/versions/1/certificate` })
  t.equal(cert.statusCode, 200, cert.body)
  const c = cert.json()
  t.equal(c.kind, 'veilbox.certificate')
  t.ok(verifyDocument(c, pem).ok, 'the certificate verifies')
  // Altered for sure: the first hex digit changed (a commitment starting with 0 would otherwise stay itself, 1 in 16).
  const altered = `${c.commitment[0] === '0' ? '1' : '0'}${c.commitment.slice(1)}`
  t.notOk(verifyDocument({ ...c, commitment: altered }, pem).ok, 'an altered certificate fails')
  t.notOk(JSON.stringify(c).includes('sha256'), 'no content hash in a certificate')
  const again = (await m.call('analyst', { method: 'GET', url: `/v1/datasets/${m.ds}/versions/1/certificate` })).json()
  t.same(again, c, 'issued once, read back as issued')

  // Withdrawal revokes the grants of an approved application.
  const wd = await m.call('analyst', { method: 'POST', url: `/v1/applications/${app1.id}/withdraw` })
  t.equal(wd.json().state, 'withdrawn')
  const revoked = await run(m, grantA, 'SELECT COUNT(*) FROM binzhou_households', 0.1)
  t.equal(revoked.json().code, 'VEILBOX_ERR_POLICY_GRANT_REVOKED')

  // Every step is in the verified chain.
  t.ok((await verifyChain(m.app.db)).ok)
  const audit = (await m.call('operator', { method: 'GET', url: '/v1/audit?limit=1000' })).json()
  const actions = (audit.records ?? audit.entries ?? audit).map((r: { action: string }) => r.action)
  for (const a of [
    'dataset.owner.set',
    'dataset.levels.set',
    'dataset.prices.set',
    'application.submit',
    'application.approve',
    'application.withdraw',
    'grant.create',
    'grant.revoke',
    'query.release',
    'dataset.certificate.issue',
  ])
    t.ok(actions.includes(a), `the chain records ${a}`)
})

t.test('the negative list and the level policy refuse at submission, naming the rule; nothing is stored', async (t) => {
  const m = await marketApp(t)
  const policy = (await m.call('analyst', { method: 'GET', url: '/v1/market/policy' })).json()
  const put = await m.call('operator', {
    method: 'PUT',
    url: '/v1/market/policy',
    payload: {
      ...policy,
      negativeList: [
        {
          id: 'no-income-for-industry',
          dataset: m.ds,
          column: 'income',
          scenario: 'industry',
          reason: 'income data never sold',
        },
        { id: 'no-claims', dataset: 'hidden_claims', scenario: 'industry', reason: 'a dataset analysts do not see' },
      ],
    },
  })
  t.equal(put.statusCode, 200, put.body)
  const seen = (await m.call('analyst', { method: 'GET', url: '/v1/market/policy' })).json()
  t.same(
    seen.negativeList.map((r: { id: string }) => r.id),
    ['no-income-for-industry'],
    'an analyst sees the rules on the datasets it may see, and no other dataset is named',
  )
  const full = (await m.call('operator', { method: 'GET', url: '/v1/market/policy' })).json()
  t.equal(full.negativeList.length, 2, 'the operator sees the whole list')
  const neg = await m.call('analyst', {
    method: 'POST',
    url: '/v1/applications',
    payload: application(m.ds, { scenario: 'industry' }),
  })
  t.equal(neg.statusCode, 403)
  t.equal(neg.json().code, 'VEILBOX_ERR_MARKET_NEGATIVE_LIST')
  t.equal(neg.json().rule, 'no-income-for-industry')
  t.match(neg.json().detail, /income data never sold/)
  // The same rule binds the operator's direct grants.
  const direct = await m.call('operator', {
    method: 'POST',
    url: '/v1/grants',
    payload: {
      analyst: 'alice',
      dataset: m.ds,
      purpose: 'direct',
      epsilon: 1,
      scenario: 'industry',
      expiresAt: new Date(Date.now() + DAY).toISOString(),
    },
  })
  t.equal(direct.json().code, 'VEILBOX_ERR_MARKET_NEGATIVE_LIST', 'every column of the dataset includes income')

  // An L4 column that is not he.
  await m.call('operator', { method: 'PUT', url: `/v1/datasets/${m.ds}/levels`, payload: { levels: { age: 'L4' } } })
  const l4 = await m.call('analyst', {
    method: 'POST',
    url: '/v1/applications',
    payload: application(m.ds, { scenario: 'research', datasets: [{ dataset: m.ds, columns: ['district', 'age'] }] }),
  })
  t.equal(l4.statusCode, 403)
  t.equal(l4.json().code, 'VEILBOX_ERR_MARKET_LEVEL_POLICY')
  t.equal(l4.json().rule, 'L4.protections')
  t.match(l4.json().detail, /L4 columns only as he/)
  const unknown = await m.call('analyst', {
    method: 'POST',
    url: '/v1/applications',
    payload: application(m.ds, { scenario: 'gambling' }),
  })
  t.equal(unknown.json().code, 'VEILBOX_ERR_MARKET_BAD_APPLICATION')
  const list = (await m.call('operator', { method: 'GET', url: '/v1/applications' })).json()
  t.same(list.applications, [], 'a refused application leaves nothing')

  // A denial ends an application; a later approval is refused.
  const ok = await m.call('analyst', { method: 'POST', url: '/v1/applications', payload: application(m.ds) })
  t.equal(ok.statusCode, 201, ok.body)
  const deny = await m.owner({
    method: 'POST',
    url: `/v1/applications/${ok.json().id}/deny`,
    payload: { reason: 'not now' },
  })
  t.equal(deny.json().state, 'denied')
  const nulls = await m.call('analyst', {
    method: 'POST',
    url: '/v1/applications',
    payload: application(m.ds, { datasets: [{ dataset: m.ds, columns: null, aggregates: null }] }),
  })
  t.equal(nulls.json().rule, 'L4.protections', 'null asks for every column, the L4 one among them')
  const late = await m.call('operator', {
    method: 'POST',
    url: `/v1/applications/${ok.json().id}/approve`,
    payload: { reason: 'too late' },
  })
  t.equal(late.statusCode, 409)
  t.equal(late.json().code, 'VEILBOX_ERR_MARKET_APPLICATION_CLOSED')
  // A pending application past its deadline is expired and takes no decision.
  const stale = await m.call('analyst', { method: 'POST', url: '/v1/applications', payload: application(m.ds) })
  const staleId = stale.json().id as string
  t.ok(
    Math.abs(Date.parse(stale.json().expiresAt) - Date.now() - 30 * DAY) < 60_000,
    'an application waits pendingDays (30 by default) for its decisions',
  )
  await m.app.db.run('UPDATE applications SET expires_at = $1 WHERE id = $2', [
    new Date(Date.now() - 1000).toISOString(),
    staleId,
  ])
  t.equal((await m.call('analyst', { method: 'GET', url: `/v1/applications/${staleId}` })).json().state, 'expired')
  const expiredList = (await m.call('operator', { method: 'GET', url: '/v1/applications?state=expired' })).json()
  t.same(
    expiredList.applications.map((a: { id: string }) => a.id),
    [staleId],
  )
  const tooLate = await m.owner({
    method: 'POST',
    url: `/v1/applications/${staleId}/approve`,
    payload: { reason: 'late' },
  })
  t.equal(tooLate.json().code, 'VEILBOX_ERR_MARKET_APPLICATION_CLOSED')
  t.equal(tooLate.json().state, 'expired')
  // Another analyst's application is not found, exactly like an unknown id.
  const other = (await createKey(m.app.db, { name: 'bob', role: 'analyst' }, SYSTEM_ACTOR)).key
  const peek = await m.app.inject({
    method: 'GET',
    url: `/v1/applications/${ok.json().id}`,
    headers: { authorization: `Bearer ${other}` },
  })
  const none = await m.app.inject({
    method: 'GET',
    url: '/v1/applications/a_0000000000000000',
    headers: { authorization: `Bearer ${other}` },
  })
  t.equal(peek.statusCode, 404)
  t.same(
    { ...peek.json(), detail: undefined, application: undefined, instance: undefined },
    { ...none.json(), detail: undefined, application: undefined, instance: undefined },
  )
})

t.test('concurrent queries never spend past a money cap', async (t) => {
  const m = await marketApp(t)
  await m.call('operator', {
    method: 'PUT',
    url: `/v1/datasets/${m.ds}/prices`,
    payload: { prices: { research: { perEpsilon: 0, perAnswer: 1000 } } },
  })
  const sub = await m.call('analyst', {
    method: 'POST',
    url: '/v1/applications',
    payload: application(m.ds, {
      scenario: 'research',
      moneyCap: 5000,
      epsilon: 50,
      datasets: [{ dataset: m.ds, columns: ['district', 'age', 'insured'] }],
    }),
  })
  t.equal(sub.statusCode, 201, sub.body)
  const {
    grants: [grant],
  } = await approveAll(m, sub.json().id)
  const queries = Array.from({ length: 12 }, (_, i) => `SELECT COUNT(*) FROM binzhou_households WHERE age > ${20 + i}`)
  const results = await Promise.all(queries.map((q) => run(m, grant!, q, 0.1)))
  const ok = results.filter((r) => r.statusCode === 200).length
  const capped = results.filter((r) => r.json().code === 'VEILBOX_ERR_MARKET_SPENDING_CAP').length
  t.equal(ok, 5, 'exactly the cap allows five answers')
  t.equal(capped, 7, 'the others are refused by the cap')
  const g = (await m.call('analyst', { method: 'GET', url: `/v1/grants/${grant}` })).json()
  t.equal(g.money.spent, 5000, 'spent reaches the cap and never passes it')
  t.equal(g.budget.epsilon.spent, 0.5, 'only the released answers charged privacy')
})

t.test("an application over two owners' datasets makes one grant that covers both, so a join can run", async (t) => {
  const m = await marketApp(t)
  const { CLAIMS_SPEC, claimsCsv } = await import('../../../src/demo/claims.js')
  t.equal((await m.call('operator', { method: 'POST', url: '/v1/datasets', payload: CLAIMS_SPEC })).statusCode, 201)
  const chunks: Buffer[] = []
  for await (const c of claimsCsv(2000)) chunks.push(Buffer.from(c as string))
  const up = await m.call('operator', {
    method: 'POST',
    url: `/v1/datasets/${CLAIMS_SPEC.id}/versions`,
    headers: { 'content-type': 'text/csv' },
    payload: Buffer.concat(chunks),
  })
  t.equal(up.statusCode, 201, up.body)
  await m.call('operator', {
    method: 'PUT',
    url: `/v1/datasets/${CLAIMS_SPEC.id}/budget`,
    payload: { epsilon: 50, delta: 0 },
  })
  // Listed, so that analysts see it and may apply for it.
  const listed = await m.call('operator', {
    method: 'PUT',
    url: `/v1/datasets/${CLAIMS_SPEC.id}/listing`,
    payload: { listed: true },
  })
  t.equal(listed.statusCode, 200, listed.body)
  const sub = await m.call('analyst', {
    method: 'POST',
    url: '/v1/applications',
    payload: application(m.ds, {
      datasets: [
        { dataset: m.ds, columns: ['district', 'income'], aggregates: ['count', 'sum', 'avg'] },
        { dataset: CLAIMS_SPEC.id, columns: null, aggregates: ['count', 'avg'] },
      ],
    }),
  })
  t.equal(sub.statusCode, 201, sub.body)
  const { grants } = await approveAll(m, sub.json().id)
  t.equal(grants.length, 1, 'one grant for the whole application')
  const g = (await m.call('analyst', { method: 'GET', url: `/v1/grants/${grants[0]}` })).json()
  t.same(g.datasets, [m.ds, CLAIMS_SPEC.id])
  t.same(g.aggregates, ['count', 'avg'], 'the aggregates every use allows')
  t.ok(
    g.columns.includes(`${m.ds}.income`) && !g.columns.includes(`${m.ds}.age`),
    "the households' columns as approved",
  )
  t.ok(
    CLAIMS_SPEC.columns.every((c) => g.columns.includes(`${CLAIMS_SPEC.id}.${c.name}`)),
    'every claims column: that use named none',
  )
  const join = await run(
    m,
    grants[0]!,
    `SELECT h.district, COUNT(*) AS n, AVG(c.claim_amount) AS avg_claim FROM ${m.ds} h JOIN ${CLAIMS_SPEC.id} c USING (household_id) GROUP BY h.district`,
    0.5,
  )
  t.equal(join.statusCode, 200, join.body)
  t.same(
    Object.keys(join.json().privacy.charged.datasets).sort(),
    [m.ds, CLAIMS_SPEC.id].sort(),
    'both budgets charged',
  )
  const age = await run(m, grants[0]!, `SELECT AVG(age) FROM ${m.ds}`, 0.1)
  t.equal(age.json().code, 'VEILBOX_ERR_POLICY_COLUMN_NOT_GRANTED', 'a column the households use did not name')
  const sum = await run(m, grants[0]!, `SELECT SUM(income) FROM ${m.ds}`, 0.1)
  t.equal(
    sum.json().code,
    'VEILBOX_ERR_POLICY_AGGREGATE_NOT_GRANTED',
    'SUM: not allowed on the claims, so not on the grant',
  )
})
