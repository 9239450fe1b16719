import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { DEMO_ROWS, DEMO_SPEC, demoRows } from '../../src/demo/binzhou.js'
import { bootstrap, DEMO_KEYS_FILE, OPERATOR_KEY_FILE } from '../../src/demo/bootstrap.js'
import { openStore, type Store } from '../../src/store/db.js'
import { findDataset, listDatasets, listVersions } from '../../src/store/datasets.js'
import { findDatasetBudget } from '../../src/store/budgets.js'
import { getGrant, listGrants } from '../../src/store/grants.js'
import { authenticate, listKeys } from '../../src/store/keys.js'
import { TEST_STORE, tempDir, testDatabaseUrl } from '../helpers/app.js'

/** The store bootstrap runs on: SQLite in `dir`, or a fresh PostgreSQL database (VEILBOX_TEST_STORE=postgres); closed in teardown. */
async function openTestStore(t: Parameters<typeof tempDir>[0], dir: string): Promise<Store> {
  const db = await openStore({ dataDir: dir, databaseUrl: TEST_STORE === 'postgres' ? await testDatabaseUrl() : null })
  t.teardown(() => db.close())
  return db
}

t.test(
  'demo first start: dataset, one key per role, demo-keys.json with mode 0600; a restart reuses all',
  async (t) => {
    const dir = tempDir(t)
    const db = await openTestStore(t, dir)
    const first = await bootstrap(db, dir, { demo: true })
    const file = path.join(dir, DEMO_KEYS_FILE)
    t.same(first.keyFiles, [file])
    t.equal(first.createdDataset, true)
    t.equal(fs.statSync(file).mode & 0o777, 0o600)
    const keys = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string>
    for (const role of ['operator', 'analyst', 'custodian', 'owner']) {
      t.equal((await authenticate(db, keys[role]!))?.role, role, `${role} key works`)
    }
    t.match(await authenticate(db, keys.healthOwner!), { role: 'owner', name: 'demo-owner-health' }, 'a second owner')
    const record = (await findDataset(db, DEMO_SPEC.id))!
    t.equal(record.owner?.name, 'demo-owner', 'the demo owner holds the demo dataset')
    t.match(JSON.parse(record.market!), { prices: { industry: { perAnswer: 200 } } }, 'industrial use is priced')
    const grant = await getGrant(db, keys.grant!)
    t.match(grant, { analyst: 'demo-analyst', dataset: DEMO_SPEC.id, revokedAt: null })
    t.equal(grant.ledger.epsilonTotal, 10_000_000n, 'the demo grant has epsilon 10')
    t.ok(await findDatasetBudget(db, DEMO_SPEC.id), 'the demo dataset has a budget')
    const versions = await listVersions(db, DEMO_SPEC.id)
    t.equal(versions.length, 1)
    t.equal(versions[0]!.rows, DEMO_ROWS)

    const second = await bootstrap(db, dir, { demo: true })
    t.same(second, { keyFiles: [], createdDataset: false, createdClaimsDataset: false }, 'nothing is created twice')
    t.same(JSON.parse(fs.readFileSync(file, 'utf8')), keys)
    t.equal((await listVersions(db, DEMO_SPEC.id)).length, 1)
    t.equal((await listKeys(db)).length, 5)
    t.equal((await listGrants(db)).length, 3, 'one demo grant per plaintext dataset and one over both, not more')
  },
)

t.test('without --demo: an operator key only, and no demo data', async (t) => {
  const dir = tempDir(t)
  const db = await openTestStore(t, dir)
  const report = await bootstrap(db, dir, { demo: false })
  t.same(report.keyFiles, [path.join(dir, OPERATOR_KEY_FILE)])
  t.same(await listDatasets(db), [])
  t.same(
    (await listKeys(db)).map((k) => k.role),
    ['operator'],
  )
  const { operator } = JSON.parse(fs.readFileSync(report.keyFiles[0]!, 'utf8')) as { operator: string }
  t.equal((await authenticate(db, operator))?.role, 'operator')
  t.same((await bootstrap(db, dir, { demo: false })).keyFiles, [], 'a restart makes no new key')
  t.notOk(fs.existsSync(path.join(dir, DEMO_KEYS_FILE)))
})

t.test('demo keys whose file was lost are replaced, not duplicated', async (t) => {
  const dir = tempDir(t)
  const db = await openTestStore(t, dir)
  await bootstrap(db, dir, { demo: true })
  const old = JSON.parse(fs.readFileSync(path.join(dir, DEMO_KEYS_FILE), 'utf8')) as Record<string, string>
  fs.rmSync(path.join(dir, DEMO_KEYS_FILE))
  await bootstrap(db, dir, { demo: true })
  const fresh = JSON.parse(fs.readFileSync(path.join(dir, DEMO_KEYS_FILE), 'utf8')) as Record<string, string>
  t.equal(await authenticate(db, old.analyst!), null, 'the old analyst key is revoked')
  t.equal((await authenticate(db, fresh.analyst!))?.name, 'demo-analyst')
  t.equal(await authenticate(db, old.healthOwner!), null, "the old health owner's key too")
  t.equal((await authenticate(db, fresh.healthOwner!))?.name, 'demo-owner-health')
  t.equal((await listKeys(db)).length, 5)
})

t.test('the demo data is deterministic, within bounds, and looks like a city', async (t) => {
  const a = [...demoRows(2000)]
  const b = [...demoRows(2000)]
  t.same(a, b, 'same rows on every run')
  const districts = new Set(a.map((r) => r.district))
  t.equal(districts.size, 7, 'all seven districts appear')
  for (const r of a) {
    if (
      r.age < 18 ||
      r.age > 100 ||
      r.income < 0 ||
      r.income > 1_000_000 ||
      r.medical_spending < 0 ||
      r.medical_spending > 200_000
    ) {
      t.fail(`row out of bounds: ${JSON.stringify(r)}`)
    }
  }
  const median = (xs: number[]) => xs.sort((x, y) => x - y)[xs.length >> 1]!
  const incomeOf = (d: string) => median(a.filter((r) => r.district === d).map((r) => r.income))
  t.ok(incomeOf('邹平市') > incomeOf('沾化区'), 'Zouping earns more than Zhanhua')
  const insured = a.filter((r) => r.insured).length / a.length
  t.ok(insured > 0.85 && insured < 0.99, `insurance rate ${insured}`)
})

t.test(
  'demo with a custodian: the encrypted dataset, its keys, an owner-encrypted version and a grant; restarts and a new data directory reuse the keys',
  async (t) => {
    const { KeyHolder } = await import('../../src/engine/he/key-holder.js')
    const { KeyStore } = await import('../../src/engine/he/keystore.js')
    const { DEMO_HE_SPEC, DEMO_HE_ROWS } = await import('../../src/demo/subsidies.js')
    const { findHeKeys } = await import('../../src/engine/he/material.js')
    const { uploadEncryption } = await import('../../src/store/he.js')
    const keysDir = path.join(tempDir(t), 'keys')
    const he = { custodian: new KeyHolder(await KeyStore.open(keysDir)), keysDir }
    const dir = tempDir(t)
    const db = await openTestStore(t, dir)
    const first = await bootstrap(db, dir, { demo: true, he })
    t.equal(first.heProblem, undefined)
    t.equal(first.createdHeDataset, true)
    const versions = await listVersions(db, DEMO_HE_SPEC.id)
    t.equal(versions.length, 1)
    t.equal(versions[0]!.rows, DEMO_HE_ROWS)
    t.same(
      (await uploadEncryption(db, versions[0]!.uploadId))?.encryptedBy,
      'owner',
      'encrypted by the data owner, not on arrival',
    )
    t.equal(
      await db.value<number>("SELECT COUNT(*) FROM column_chunks WHERE column_name IN ('subsidy', 'dependants')"),
      0,
      'no plaintext of the he columns',
    )
    const keys = JSON.parse(fs.readFileSync(path.join(dir, DEMO_KEYS_FILE), 'utf8')) as Record<string, string>
    t.match(await getGrant(db, keys.heGrant!), { analyst: 'demo-analyst', dataset: DEMO_HE_SPEC.id })
    t.same((await getGrant(db, keys.grant!)).dataset, DEMO_SPEC.id, 'the plaintext demo grant stays where it was')

    const again = await bootstrap(db, dir, { demo: true, he })
    t.same(again, { keyFiles: [], createdDataset: false, createdClaimsDataset: false, createdHeDataset: false })
    t.equal((await listGrants(db)).length, 4, 'one per dataset and the join grant')

    // A fresh data directory against the same custodian: its keys are taken over, not made again.
    const dir2 = tempDir(t)
    const db2 = await openTestStore(t, dir2)
    const other = await bootstrap(db2, dir2, { demo: true, he })
    t.equal(other.createdHeDataset, true)
    t.equal((await findHeKeys(db2, DEMO_HE_SPEC.id))?.profile.id, (await findHeKeys(db, DEMO_HE_SPEC.id))?.profile.id)
    t.equal(await db2.value<string>("SELECT action FROM audit_log WHERE action LIKE 'he.keys.%'"), 'he.keys.import')
  },
)
