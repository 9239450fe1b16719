/**
 * Issue 21, point 9: the second owner's demo dataset, binzhou_claims
 * (medical-insurance claims keyed by the households' household_id), made at
 * first start and queried through the API with the demo analyst's grant:
 * by hospital level, by diagnosis (DP partition selection) and in buckets of
 * the amount claimed.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { DEMO_ROWS, DEMO_SPEC, demoRows } from '../../src/demo/binzhou.js'
import { bootstrap, DEMO_HEALTH_OWNER, DEMO_KEYS_FILE } from '../../src/demo/bootstrap.js'
import { CLAIMS_SPEC, claimRows, DIAGNOSES, HOSPITAL_LEVELS, RARE_DIAGNOSES } from '../../src/demo/claims.js'
import { DEMO_HE_SPEC } from '../../src/demo/subsidies.js'
import { registrationSpecSchema } from '../../src/schema.js'
import { findDatasetBudget } from '../../src/store/budgets.js'
import { findDataset, listDatasets, listVersions } from '../../src/store/datasets.js'
import { getGrant, listGrants } from '../../src/store/grants.js'
import { authenticate } from '../../src/store/keys.js'
import { openStore } from '../../src/store/db.js'
import { TEST_STORE, tempDir, testApp, testDatabaseUrl } from '../helpers/app.js'

const CHAPTERS = DIAGNOSES.filter((d) => !new Set(RARE_DIAGNOSES.values()).has(d))

t.test('the claims are deterministic, in bounds, and belong to insured demo households', async (t) => {
  const claims = [...claimRows()]
  t.same([...claimRows(2000)], [...claimRows(2000)], 'same claims on every run')
  t.ok(claims.length >= 20_000 && claims.length <= 30_000, `about 25,000 claims (${claims.length})`)
  t.ok(registrationSpecSchema.safeParse(CLAIMS_SPEC).success, 'the spec registers')
  t.match(CLAIMS_SPEC, { privacyUnit: 'household_id', unitSpace: 'household', maxRowsPerUnit: 5 })
  t.equal(DEMO_SPEC.unitSpace, 'household', 'the households are of the same unit space')
  // The subsidies' ids (HS...) are not the households' (BZ...): it declares no unit space, so no join matches nothing.
  t.equal(DEMO_HE_SPEC.unitSpace, undefined)

  const households = new Map([...demoRows(DEMO_ROWS)].map((h) => [h.household_id, h]))
  const perHousehold = new Map<string, number>()
  const holders = new Map<string, Set<string>>()
  const ids = new Set<string>()
  for (const c of claims) {
    const h = households.get(c.household_id)
    if (h === undefined || !h.insured) t.fail(`claim ${c.claim_id} of ${c.household_id}: not an insured household`)
    perHousehold.set(c.household_id, (perHousehold.get(c.household_id) ?? 0) + 1)
    ids.add(c.claim_id)
    if (!holders.has(c.diagnosis)) holders.set(c.diagnosis, new Set())
    holders.get(c.diagnosis)!.add(c.household_id)
    if (
      !(c.claim_amount >= 0 && c.claim_amount <= 200_000) ||
      !(c.reimbursed >= 0 && c.reimbursed <= c.claim_amount) ||
      !HOSPITAL_LEVELS.includes(c.hospital_level)
    )
      t.fail(`claim out of bounds: ${JSON.stringify(c)}`)
  }
  t.equal(ids.size, claims.length, 'claim ids are unique')
  const share = perHousehold.size / households.size
  t.ok(share > 0.1 && share < 0.2, `a subset of the households claims (${perHousehold.size}, ${share})`)
  const counts = [...perHousehold.values()]
  t.ok(
    counts.some((n) => n > CLAIMS_SPEC.maxRowsPerUnit),
    'a few households claim more often than maxRowsPerUnit',
  )
  t.same([...holders.keys()].sort(), [...DIAGNOSES].sort(), 'every code appears, and no other')
  t.ok(holders.size <= CLAIMS_SPEC.columns.find((c) => c.name === 'diagnosis')!.maxKeys!, 'within maxKeys')
  for (const code of CHAPTERS) t.ok(holders.get(code)!.size > 300, `${code} is common`)
  t.same(
    Object.fromEntries([...new Set(RARE_DIAGNOSES.values())].map((code) => [code, holders.get(code)!.size])),
    { 'Q00-Q99': 1, 'P00-P96': 2, 'U00-U85': 1 },
    'the rare codes: one or two households each',
  )
  const [[common]] = [...holders].sort((a, b) => b[1].size - a[1].size)
  t.equal(common, 'J00-J99', 'respiratory is the most common')
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
  const stays = (level: string) =>
    mean(claims.filter((c) => c.inpatient && c.hospital_level === level).map((c) => c.claim_amount))
  t.ok(stays('tertiary') > stays('secondary') && stays('secondary') > stays('primary'), 'city hospitals cost more')
})

t.test('first start registers binzhou_claims once, held by the second owner, with a budget and a grant', async (t) => {
  const dir = tempDir(t)
  const db = await openStore({ dataDir: dir, databaseUrl: TEST_STORE === 'postgres' ? await testDatabaseUrl() : null })
  t.teardown(() => db.close())
  const first = await bootstrap(db, dir, { demo: true })
  t.equal(first.createdClaimsDataset, true)
  const file = path.join(dir, DEMO_KEYS_FILE)
  const keys = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string>
  t.match(await authenticate(db, keys.healthOwner!), { name: DEMO_HEALTH_OWNER, role: 'owner' })

  const record = (await findDataset(db, CLAIMS_SPEC.id))!
  t.equal(record.owner?.name, DEMO_HEALTH_OWNER, 'the health owner holds the claims')
  t.equal((await findDataset(db, DEMO_SPEC.id))!.owner?.name, 'demo-owner', 'the households stay with the first owner')
  t.match(record.spec, { unitSpace: 'household', maxGroupsContributed: 2 })
  t.match(JSON.parse(record.market!), {
    levels: { diagnosis: 'L1', hospital_level: 'L1', inpatient: 'L1' },
    prices: { industry: { perAnswer: 200 } },
  })
  const versions = await listVersions(db, CLAIMS_SPEC.id)
  t.equal(versions.length, 1)
  t.equal(versions[0]!.rows, [...claimRows()].length, 'every claim is loaded')
  const budget = (await findDatasetBudget(db, CLAIMS_SPEC.id))!
  t.equal(budget.epsilonTotal, 100_000_000n, 'the claims have a budget of epsilon 100')
  t.ok(budget.deltaTotal > 0n, 'and a delta')
  const grant = await getGrant(db, keys.claimsGrant!)
  t.match(grant, { analyst: 'demo-analyst', dataset: CLAIMS_SPEC.id, revokedAt: null })
  t.equal(grant.ledger.epsilonTotal, 10_000_000n, 'epsilon 10')
  t.ok(grant.ledger.deltaTotal > 0n, 'and a delta, for partition selection')

  const again = await bootstrap(db, dir, { demo: true })
  t.same(again, { keyFiles: [], createdDataset: false, createdClaimsDataset: false }, 'a restart makes nothing')
  t.same(
    (await listDatasets(db)).map((d) => d.spec.id),
    ['binzhou_claims', 'binzhou_district_regions', 'binzhou_households'],
  )
  t.equal((await listVersions(db, CLAIMS_SPEC.id)).length, 1, 'not loaded twice')
  t.equal((await listGrants(db, { dataset: CLAIMS_SPEC.id })).length, 2, 'its own grant and the join grant, not more')

  // A lost key file: every key is replaced, and the new health owner (a new principal) holds the claims.
  fs.rmSync(file)
  await bootstrap(db, dir, { demo: true })
  const fresh = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string>
  t.equal(await authenticate(db, keys.healthOwner!), null, 'the old key is revoked')
  const owner = await authenticate(db, fresh.healthOwner!)
  t.equal((await findDataset(db, CLAIMS_SPEC.id))!.owner?.id, owner?.id, 'the new principal holds the claims')
  t.equal((await findDataset(db, CLAIMS_SPEC.id))!.owner?.name, DEMO_HEALTH_OWNER)
  t.equal((await listVersions(db, CLAIMS_SPEC.id)).length, 1)

  // A demo directory from before the claims: the second owner's key and the claims grant are added.
  const { healthOwner: _, claimsGrant: __, ...older } = fresh
  fs.writeFileSync(file, JSON.stringify(older))
  const upgraded = await bootstrap(db, dir, { demo: true })
  t.same(upgraded.keyFiles, [file])
  const now = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string>
  t.equal(now.analyst, fresh.analyst, 'the other keys are kept')
  t.equal(now.grant, fresh.grant)
  t.equal((await authenticate(db, now.healthOwner!))?.name, DEMO_HEALTH_OWNER)
  t.match(await getGrant(db, now.claimsGrant!), { dataset: CLAIMS_SPEC.id, revokedAt: null })
})

t.test("the README's claims queries answer through the API with the demo analyst's grant", async (t) => {
  const qa = await testApp(t)
  await bootstrap(qa.app.db, qa.dataDir, { demo: true })
  const keys = JSON.parse(fs.readFileSync(path.join(qa.dataDir, DEMO_KEYS_FILE), 'utf8')) as Record<string, string>
  const query = async (sql: string, extra: Record<string, unknown> = {}) => {
    const res = await qa.app.inject({
      method: 'POST',
      url: '/v1/queries',
      headers: { authorization: `Bearer ${keys.analyst}` },
      payload: { sql, grant: keys.claimsGrant, epsilon: 1, ...extra },
    })
    t.equal(res.statusCode, 200, res.body)
    return res.json() as {
      columns: string[]
      rows: unknown[][]
      privacy: { selection?: { column: string; maxGroupsContributed: number; threshold: number } }
    }
  }

  const catalog = await qa.app.inject({
    method: 'GET',
    url: '/v1/datasets',
    headers: { authorization: `Bearer ${keys.analyst}` },
  })
  const listed = (catalog.json() as { datasets: { id: string; unitSpace?: string }[] }).datasets
  t.match(
    listed.find((d) => d.id === 'binzhou_claims'),
    { unitSpace: 'household' },
    'the analyst sees the claims',
  )

  // The bound: each household's first 5 claims count.
  const kept = new Map<string, number>()
  const byLevel: Record<string, number> = {}
  for (const c of claimRows()) {
    const n = (kept.get(c.household_id) ?? 0) + 1
    kept.set(c.household_id, n)
    if (n <= CLAIMS_SPEC.maxRowsPerUnit) byLevel[c.hospital_level] = (byLevel[c.hospital_level] ?? 0) + 1
  }
  const levels = await query(
    'SELECT hospital_level, COUNT(*) AS claims, AVG(claim_amount) FROM binzhou_claims GROUP BY hospital_level',
  )
  t.same(
    levels.rows.map((r) => r[0]),
    [...HOSPITAL_LEVELS],
    'one row per declared level',
  )
  for (const [level, count] of levels.rows as [string, number, number][])
    t.ok(Math.abs(count - byLevel[level]!) < 300, `${level}: ${count} claims, about ${byLevel[level]}`)

  const diagnoses = await query(
    'SELECT diagnosis, COUNT(DISTINCT household_id) AS households FROM binzhou_claims GROUP BY diagnosis',
    { delta: 1e-7 },
  )
  const released = diagnoses.rows.map((r) => r[0] as string)
  t.match(diagnoses.privacy.selection, { column: 'diagnosis', maxGroupsContributed: 2 })
  t.ok(released.includes('J00-J99'), 'the most common code is released')
  t.notOk(released.includes('Q00-Q99'), 'a code one household holds is not')
  t.notOk(released.includes('U00-U85'), 'nor the other one')
  t.notOk(released.includes('P00-P96'), 'nor one two households hold')
  t.same(released, [...CHAPTERS].sort(), 'every common chapter, in key order')

  const bands = await query(
    'SELECT BUCKET(claim_amount, 0, 200000, 20000) AS band, COUNT(*) FROM binzhou_claims GROUP BY BUCKET(claim_amount, 0, 200000, 20000)',
  )
  t.equal(bands.rows.length, 10, 'ten bands of 20,000 yuan')
  t.same(
    bands.rows.map((r) => r[0]),
    Array.from({ length: 10 }, (_, i) => i * 20_000),
  )
  t.equal(bands.columns[0], 'band')
})
