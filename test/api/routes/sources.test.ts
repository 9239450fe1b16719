/**
 * Sourced datasets through the API, against a real PostgreSQL (the owner's,
 * started by the test) and Parquet files: registration checks (columns,
 * types, a read-only role, he refused), snapshots, queries answered from
 * the source with the same exact aggregates as an uploaded copy, repeats
 * cached per snapshot, a changed source refused free of charge, a timeout
 * charged like a deadline, credentials never shown, and no row of a sourced
 * dataset in any table of veilbox's own store.
 */
import fs from 'node:fs'
import path from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import pg from 'pg'
import t, { type Test } from 'tap'

import { DEMO_SPEC, demoCsv, demoRows } from '../../../src/demo/binzhou.js'
import { loadHouseholds, READER_ROLE, SOURCED_DEMO_ID, sourcedDemoSpec } from '../../../src/demo/households-source.js'
import { planQuery } from '../../../src/engine/plan/index.js'
import { bindQuery, parseQuery } from '../../../src/engine/query/index.js'
import { getDataset, latestVersion } from '../../../src/store/datasets.js'
import { startPostgres } from '../../helpers/pg.js'
import { tempDir, testApp, type TestApp } from '../../helpers/app.js'
import { planOptions } from '../../engine/fixtures.js'

const ROWS = 3000
const PASSWORD = 'owner-secret-Pa55word'

interface Owner {
  readonly adminUrl: string
  readonly readerUrl: string
  readonly writerUrl: string
  readonly parquetRoot: string
}

/** The owner's side: PostgreSQL with the households and two roles, and a Parquet file of the same rows. */
async function owner(t: Test): Promise<Owner> {
  const cluster = await startPostgres(t)
  const adminUrl = await cluster.createDatabase('owner')
  const role = await loadHouseholds(adminUrl, ROWS)
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  await admin.query('CREATE ROLE writer LOGIN')
  await admin.query('GRANT SELECT, INSERT ON public.households TO writer')
  await admin.end()
  const db = /@\/([a-z0-9_]+)\?/.exec(adminUrl)![1]
  const url = (user: string) =>
    `postgres://${user}:${PASSWORD}@/${db}?host=${encodeURIComponent(cluster.socketDir)}&port=${cluster.port}`
  const parquetRoot = tempDir(t, 'veilbox-parquet-')
  const instance = await DuckDBInstance.create(':memory:')
  const c = await instance.connect()
  const csv = path.join(parquetRoot, 'households.csv')
  const chunks: Buffer[] = []
  for await (const x of demoCsv(ROWS)) chunks.push(Buffer.from(x as string))
  fs.writeFileSync(csv, Buffer.concat(chunks))
  await c.run(
    `COPY (SELECT * FROM read_csv('${csv}', header = true, columns = {'household_id': 'VARCHAR', 'district': 'VARCHAR', 'insured': 'BOOLEAN', 'age_band': 'VARCHAR', 'age': 'INTEGER', 'household_size': 'INTEGER', 'income': 'DOUBLE', 'medical_spending': 'DOUBLE'})) TO '${path.join(parquetRoot, 'households.parquet')}' (FORMAT parquet)`,
  )
  c.closeSync()
  instance.closeSync()
  fs.rmSync(csv)
  return { adminUrl, readerUrl: url(role), writerUrl: url('writer'), parquetRoot }
}

async function app(t: Test, o: Owner, overrides: Record<string, unknown> = {}): Promise<TestApp> {
  return testApp(t, {
    sourceConnections: new Map([
      ['bureau', o.readerUrl],
      ['rw', o.writerUrl],
    ]),
    parquetRoot: o.parquetRoot,
    sourceTimeSlotMs: 0,
    ...overrides,
  })
}

async function budgetAndGrant(ta: TestApp, dataset: string, epsilon = 10): Promise<string> {
  const b = await ta.call('operator', {
    method: 'PUT',
    url: `/v1/datasets/${dataset}/budget`,
    payload: { epsilon: 100, delta: 1e-5 },
  })
  if (b.statusCode !== 200) throw new Error(b.body)
  const g = await ta.call('operator', {
    method: 'POST',
    url: '/v1/grants',
    payload: {
      analyst: 'alice',
      dataset,
      purpose: 'test: sourced households',
      epsilon,
      delta: 1e-6,
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    },
  })
  if (g.statusCode !== 201) throw new Error(g.body)
  return g.json().id
}

const README_QUERY = (ds: string) => `SELECT district, COUNT(*), AVG(income) FROM ${ds} GROUP BY district`

t.test('a PostgreSQL source: registration, snapshot, answers, repeats, a changed source', async (t) => {
  const o = await owner(t)
  const ta = await app(t, o)
  const bodies: string[] = []
  const call: TestApp['call'] = async (as, opts) => {
    const res = await ta.call(as, opts)
    bodies.push(res.body)
    return res
  }

  // Registration refusals, each naming what to fix; nothing is created.
  const spec = sourcedDemoSpec('bureau')
  const refusals: [string, object, number, string, RegExp][] = [
    [
      'a missing column',
      {
        ...spec,
        columns: [...spec.columns, { name: 'pension', type: 'number', protection: 'dp', lower: 0, upper: 1 }],
      },
      422,
      'VEILBOX_ERR_SOURCE_REFUSED',
      /column pension is missing/,
    ],
    [
      'an incompatible type',
      {
        ...spec,
        columns: spec.columns.map((c) =>
          c.name === 'district' ? { ...c, type: 'boolean', categories: undefined } : c,
        ),
      },
      422,
      'VEILBOX_ERR_SOURCE_REFUSED',
      /column district is text, which cannot hold boolean values/,
    ],
    [
      'a writable role',
      { ...spec, source: { ...spec.source!, connection: 'rw' } },
      422,
      'VEILBOX_ERR_SOURCE_WRITABLE',
      /INSERT/,
    ],
    [
      'an unknown connection',
      { ...spec, source: { ...spec.source!, connection: 'nowhere' } },
      422,
      'VEILBOX_ERR_SOURCE_REFUSED',
      /VEILBOX_SOURCE_NOWHERE_URL/,
    ],
    [
      'a missing table',
      { ...spec, source: { ...spec.source!, table: 'public.nope' } },
      422,
      'VEILBOX_ERR_SOURCE_REFUSED',
      /no table public.nope/,
    ],
    [
      'an he column',
      { ...spec, columns: spec.columns.map((c) => (c.name === 'income' ? { ...c, protection: 'he' } : c)) },
      400,
      'VEILBOX_ERR_DATASET_INVALID_SCHEMA',
      /he columns are not available on sourced datasets/,
    ],
  ]
  for (const [what, payload, status, code, detail] of refusals) {
    const res = await call('operator', { method: 'POST', url: '/v1/datasets', payload })
    t.equal(res.statusCode, status, `${what}: ${res.body}`)
    t.equal(res.json().code, code, what)
    t.match(res.json().detail, detail, what)
  }
  t.equal((await call('operator', { method: 'GET', url: `/v1/datasets/${SOURCED_DEMO_ID}` })).statusCode, 404)

  const created = await call('operator', { method: 'POST', url: '/v1/datasets', payload: spec })
  t.equal(created.statusCode, 201, created.body)
  t.same(created.json().source, spec.source, 'operators see the source')
  const upload = await call('operator', {
    method: 'POST',
    url: `/v1/datasets/${SOURCED_DEMO_ID}/versions`,
    headers: { 'content-type': 'text/csv' },
    payload: 'household_id,district\n',
  })
  t.equal(upload.json().code, 'VEILBOX_ERR_SOURCE_NO_UPLOADS', 'no uploads to a sourced dataset')
  const noVersion = await call('operator', {
    method: 'POST',
    url: `/v1/datasets/${SOURCED_DEMO_ID}/snapshots`,
    payload: { path: 'x' },
  })
  t.equal(noVersion.json().code, 'VEILBOX_ERR_SOURCE_REFUSED', 'a Parquet path for a PostgreSQL source is refused')

  const snap = await call('operator', { method: 'POST', url: `/v1/datasets/${SOURCED_DEMO_ID}/snapshots`, payload: {} })
  t.equal(snap.statusCode, 201, snap.body)
  t.equal(snap.json().version, 1)
  t.equal(snap.json().rows, ROWS)
  t.same(snap.json().snapshot, { kind: 'postgres', connection: 'bureau', table: 'public.households' })

  // The embedded copy of the same rows, for the exact comparison.
  t.equal((await call('operator', { method: 'POST', url: '/v1/datasets', payload: DEMO_SPEC })).statusCode, 201)
  const chunks: Buffer[] = []
  for await (const x of demoCsv(ROWS)) chunks.push(Buffer.from(x as string))
  const up = await call('operator', {
    method: 'POST',
    url: `/v1/datasets/${DEMO_SPEC.id}/versions`,
    headers: { 'content-type': 'text/csv' },
    payload: Buffer.concat(chunks),
  })
  t.equal(up.statusCode, 201, up.body)
  const sourced = await getDataset(ta.app.db, SOURCED_DEMO_ID)
  const sourcedVersion = (await latestVersion(ta.app.db, SOURCED_DEMO_ID))!
  for (const sql of [
    README_QUERY('x'),
    "SELECT insured, age_band, SUM(medical_spending), VAR(age), MEDIAN(income) FROM x WHERE household_size BETWEEN 2 AND 5 AND NOT district = '邹平市' GROUP BY insured, age_band",
    'SELECT COUNT(*), QUANTILE(income, 0.9) FROM x WHERE income > 50000 OR age < 30',
  ]) {
    const planned = (ds: typeof DEMO_SPEC) =>
      planQuery(bindQuery(parseQuery(sql.replace(' x', ` ${ds.id}`)), ds), planOptions())
    const task = (ds: typeof DEMO_SPEC, version: number) => ({ dataset: ds.id, version, ...planned(ds).exec })
    const fromSource = await ta.app.sources.execute(sourced.spec, sourcedVersion, task(sourced.spec, 1))
    const embedded = await ta.app.executor.execute(task(DEMO_SPEC, 1))
    const plain = (r: typeof embedded) =>
      JSON.stringify({ count: [...r.count], measures: r.measures }, (_, v) =>
        typeof v === 'bigint' ? v.toString() : ArrayBuffer.isView(v) ? [...(v as Float64Array)] : v,
      )
    t.equal(plain(fromSource), plain(embedded), `the source's exact aggregates are the upload's: ${sql}`)
  }

  // The README's query, answered from the source; the repeat is the stored answer.
  const grant = await budgetAndGrant(ta, SOURCED_DEMO_ID)
  const ask = (sql: string) =>
    call('analyst', { method: 'POST', url: '/v1/queries', payload: { sql, grant, epsilon: 0.1 } })
  const first = await ask(README_QUERY(SOURCED_DEMO_ID))
  t.equal(first.statusCode, 200, first.body)
  t.equal(first.json().rows.length, 7, 'one row per declared district')
  t.equal(first.json().version, 1)
  t.equal(first.json().datasetCommitment, snap.json().commitment, 'the answer names the snapshot')
  const again = await ask(README_QUERY(SOURCED_DEMO_ID))
  t.equal(again.json().cached, true, 'a repeat is the stored answer')
  const catalog = await call('analyst', { method: 'GET', url: `/v1/datasets/${SOURCED_DEMO_ID}` })
  t.same(catalog.json().source, { kind: 'postgres' }, 'analysts see only the kind of source')

  // The owner's table changes: the snapshot no longer matches, refused and free.
  const admin = new pg.Client({ connectionString: o.adminUrl })
  await admin.connect()
  await admin.query("INSERT INTO public.households VALUES ('extra-1', '滨城区', true, '30-44', 40, 3, 50000, 1000)")
  const before = (await call('analyst', { method: 'GET', url: `/v1/grants/${grant}` })).json()
  const changed = await ask(`SELECT COUNT(*) FROM ${SOURCED_DEMO_ID}`)
  t.equal(changed.statusCode, 409, changed.body)
  t.equal(changed.json().code, 'VEILBOX_ERR_SOURCE_SNAPSHOT_CHANGED')
  t.notMatch(changed.json().detail, /3001|3000/, 'the refusal names no row count')
  const after = (await call('analyst', { method: 'GET', url: `/v1/grants/${grant}` })).json()
  t.same(after.budget ?? after, before.budget ?? before, 'nothing was charged')
  // Put back to the registered count with another row: the count matches, the checksum does not.
  await admin.query(
    'UPDATE public.households SET income = income + 1 WHERE household_id = (SELECT min(household_id) FROM public.households)',
  )
  await admin.query("DELETE FROM public.households WHERE household_id = 'extra-1'")
  await admin.end()
  const verify = await call('operator', { method: 'POST', url: `/v1/datasets/${SOURCED_DEMO_ID}/versions/1/verify` })
  t.equal(verify.statusCode, 200, verify.body)
  t.same(verify.json(), { version: 1, matches: false, rows: ROWS, registeredRows: ROWS }, 'the checksum finds the edit')
  const refusedAfter = await ask(`SELECT COUNT(*), SUM(age) FROM ${SOURCED_DEMO_ID}`)
  t.equal(refusedAfter.json().code, 'VEILBOX_ERR_SOURCE_SNAPSHOT_CHANGED', 'a verified change refuses later queries')
  const view = await call('operator', { method: 'GET', url: `/v1/datasets/${SOURCED_DEMO_ID}` })
  t.type(view.json().versions[0].snapshot.changedAt, 'string', 'operators see when the change was found')

  // Credentials: in no response and no audit record.
  const audit = await call('operator', { method: 'GET', url: '/v1/audit?limit=1000' })
  bodies.push(audit.body)
  for (const body of bodies) {
    if (body.includes(PASSWORD) || body.includes(o.readerUrl) || body.includes(o.writerUrl)) {
      t.fail(`a response shows a source's credentials: ${body.slice(0, 300)}`)
      break
    }
  }
  t.match(audit.body, /dataset\.snapshot\.create/, 'the snapshot is in the audit chain')
  t.match(audit.body, /dataset\.snapshot\.changed/, 'so is the change found')

  // No table of veilbox's own store holds a sourced row: look for every household id.
  const ids = new Set<string>()
  for (const r of demoRows(ROWS)) ids.add(r.household_id)
  const db = ta.app.db
  const tables =
    db.dialect === 'sqlite'
      ? (await db.all<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")).map((r) => r.name)
      : (
          await db.all<{ name: string }>(
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
          )
        ).map((r) => r.name)
  const sourcedUpload = sourcedVersion.uploadId
  let scanned = 0
  let control = 0
  for (const table of tables) {
    if (table === 'column_chunks' || table === 'column_dictionaries') {
      const n = await db.value<number>(`SELECT COUNT(*) FROM ${table} WHERE upload_id = $1`, [sourcedUpload])
      t.equal(Number(n), 0, `${table} holds nothing of the sourced version`)
    }
    for (const row of await db.all(`SELECT * FROM ${table}`)) {
      scanned += 1
      const text = JSON.stringify(row, (_, v) =>
        typeof v === 'bigint' ? String(v) : Buffer.isBuffer(v) ? v.toString('latin1') : v,
      )
      const hits = (text.match(/BZ\d{7}/g) ?? []).filter((id) => ids.has(id))
      if (hits.length === 0) continue
      // The embedded copy was uploaded: its dictionary holds its ids (the scan's control). Nothing else may.
      if (table === 'column_dictionaries' && row.upload_id !== sourcedUpload) {
        control += hits.length
        continue
      }
      t.fail(`${table} holds household ${hits[0]}`)
    }
  }
  t.ok(control >= ROWS, `the scan finds the uploaded copy's ${control} ids in its dictionary`)
  t.ok(scanned > 0, `${tables.length} tables, ${scanned} rows scanned: no household of the source in them`)
})

t.test('a Parquet source: snapshot, answer, rewritten file refused', async (t) => {
  const o = await owner(t)
  const ta = await app(t, o)
  const spec = {
    ...DEMO_SPEC,
    id: 'households_parquet',
    source: { kind: 'parquet', path: '*.parquet', unitBounded: true },
  }
  const created = await ta.call('operator', { method: 'POST', url: '/v1/datasets', payload: spec })
  t.equal(created.statusCode, 201, created.body)
  const outside = await ta.call('operator', {
    method: 'POST',
    url: '/v1/datasets/households_parquet/snapshots',
    payload: { path: '/etc/passwd' },
  })
  t.equal(outside.json().code, 'VEILBOX_ERR_SOURCE_REFUSED', 'a path outside the Parquet root is refused')
  const snap = await ta.call('operator', {
    method: 'POST',
    url: '/v1/datasets/households_parquet/snapshots',
    payload: {},
  })
  t.equal(snap.statusCode, 201, snap.body)
  t.equal(snap.json().rows, ROWS)
  const grant = await budgetAndGrant(ta, 'households_parquet')
  const res = await ta.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: README_QUERY('households_parquet'), grant, epsilon: 0.1 },
  })
  t.equal(res.statusCode, 200, res.body)
  t.equal(res.json().rows.length, 7)
  // The owner rewrites the file: refused, free.
  const file = path.join(o.parquetRoot, 'households.parquet')
  const later = new Date(Date.now() + 5000)
  fs.utimesSync(file, later, later)
  const changed = await ta.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: `SELECT COUNT(*) FROM households_parquet`, grant, epsilon: 0.1 },
  })
  t.equal(changed.json().code, 'VEILBOX_ERR_SOURCE_SNAPSHOT_CHANGED', changed.body)
})

t.test('a source past its statement timeout: charged like a deadline, as an answer would be', async (t) => {
  const o = await owner(t)
  const admin = new pg.Client({ connectionString: o.adminUrl })
  await admin.connect()
  // A view that takes a second whatever it is asked: the source is slow, not the data.
  await admin.query('CREATE VIEW public.slow_households AS SELECT h.* FROM public.households h, (SELECT pg_sleep(1)) s')
  await admin.query(`GRANT SELECT ON public.slow_households TO ${READER_ROLE}`)
  await admin.end()
  const ta = await app(t, o, { sourceTimeoutMs: 300 })
  const spec = {
    ...sourcedDemoSpec('bureau'),
    id: 'slow',
    source: { kind: 'postgres', connection: 'bureau', table: 'public.slow_households' },
  }
  t.equal((await ta.call('operator', { method: 'POST', url: '/v1/datasets', payload: spec })).statusCode, 201)
  const snap = await ta.call('operator', { method: 'POST', url: '/v1/datasets/slow/snapshots', payload: {} })
  t.equal(snap.statusCode, 201, snap.body)
  const grant = await budgetAndGrant(ta, 'slow')
  const res = await ta.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: 'SELECT COUNT(*) FROM slow', grant, epsilon: 0.5 },
  })
  t.equal(res.statusCode, 504, res.body)
  t.equal(res.json().code, 'VEILBOX_ERR_SANDBOX_TIMEOUT')
  t.same(res.json().charged, { epsilon: 0.5, delta: 0 }, 'charged as if answered')
})

t.test('a unit join of two datasets of one PostgreSQL source runs there and charges both', async (t) => {
  const o = await owner(t)
  const { CLAIMS_SPEC, CLAIMS_CSV_HEADER, claimRows, toClaimCsvLine } = await import('../../../src/demo/claims.js')
  // The claims beside the households, in the same database, readable by the same role.
  const dir = tempDir(t, 'veilbox-claims-')
  fs.chmodSync(dir, 0o755)
  const file = path.join(dir, 'claims.csv')
  fs.writeFileSync(file, CLAIMS_CSV_HEADER + [...claimRows(ROWS)].map(toClaimCsvLine).join(''), { mode: 0o644 })
  const admin = new pg.Client({ connectionString: o.adminUrl })
  await admin.connect()
  await admin.query(
    'CREATE TABLE public.claims (household_id text NOT NULL, claim_id text PRIMARY KEY, diagnosis text NOT NULL, hospital_level text NOT NULL, inpatient boolean NOT NULL, claim_amount double precision NOT NULL, reimbursed double precision NOT NULL)',
  )
  await admin.query(`COPY public.claims FROM '${file}' WITH (FORMAT csv, HEADER true)`)
  await admin.query(`GRANT SELECT ON public.claims TO ${READER_ROLE}`)
  await admin.end()
  const ta = await app(t, o)
  const claimsSpec = {
    ...CLAIMS_SPEC,
    id: 'claims_pg',
    source: { kind: 'postgres', connection: 'bureau', table: 'public.claims', rowOrder: ['claim_id'] },
  }
  for (const spec of [sourcedDemoSpec('bureau'), claimsSpec]) {
    const created = await ta.call('operator', { method: 'POST', url: '/v1/datasets', payload: spec })
    t.equal(created.statusCode, 201, created.body)
    const snap = await ta.call('operator', { method: 'POST', url: `/v1/datasets/${spec.id}/snapshots`, payload: {} })
    t.equal(snap.statusCode, 201, snap.body)
    await ta.call('operator', {
      method: 'PUT',
      url: `/v1/datasets/${spec.id}/budget`,
      payload: { epsilon: 100, delta: 0 },
    })
  }
  const g = await ta.call('operator', {
    method: 'POST',
    url: '/v1/grants',
    payload: {
      analyst: 'alice',
      datasets: [SOURCED_DEMO_ID, 'claims_pg'],
      purpose: 'test: sourced join',
      epsilon: 100,
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    },
  })
  t.equal(g.statusCode, 201, g.body)
  const res = await ta.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: {
      sql: `SELECT h.district, COUNT(*) AS pairs FROM ${SOURCED_DEMO_ID} h JOIN claims_pg c USING (household_id) GROUP BY h.district`,
      grant: g.json().id,
      epsilon: 60,
    },
  })
  t.equal(res.statusCode, 200, res.body)
  // The truth by hand: each household's first 5 claims (m_J = 5); at epsilon 60 the noise (scale 5/60) is
  // beyond 3 with probability about e^-36.
  const district = new Map([...demoRows(ROWS)].map((h) => [h.household_id, h.district]))
  const perHousehold = new Map<string, number>()
  for (const c of claimRows(ROWS))
    perHousehold.set(c.household_id, Math.min(5, (perHousehold.get(c.household_id) ?? 0) + 1))
  const truth = new Map<string, number>()
  for (const [h, n] of perHousehold) truth.set(district.get(h)!, (truth.get(district.get(h)!) ?? 0) + n)
  for (const [d, n] of res.json().rows as [string, number][])
    t.ok(Math.abs(n - (truth.get(d) ?? 0)) <= 3, `${d}: ${n} pairs, ${truth.get(d) ?? 0} exactly`)
  t.same(Object.keys(res.json().privacy.charged.datasets).sort(), ['claims_pg', SOURCED_DEMO_ID].sort(), 'both charged')
  // A public table meets the sourced households at their source: its rows go with the statement.
  const { DEMO_REGIONS_SPEC, DISTRICT_REGIONS, regionsCsv } = await import('../../../src/demo/regions.js')
  t.equal(
    (await ta.call('operator', { method: 'POST', url: '/v1/datasets', payload: DEMO_REGIONS_SPEC })).statusCode,
    201,
  )
  const regionRows: Buffer[] = []
  for await (const c of regionsCsv()) regionRows.push(Buffer.from(c as string))
  const upRegions = await ta.call('operator', {
    method: 'POST',
    url: `/v1/datasets/${DEMO_REGIONS_SPEC.id}/versions`,
    headers: { 'content-type': 'text/csv' },
    payload: Buffer.concat(regionRows),
  })
  t.equal(upRegions.statusCode, 201, upRegions.body)
  const byRegion = await ta.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: {
      sql: `SELECT r.region, COUNT(*) AS n FROM ${SOURCED_DEMO_ID} h JOIN ${DEMO_REGIONS_SPEC.id} r ON h.district = r.district GROUP BY r.region`,
      grant: g.json().id,
      epsilon: 30,
    },
  })
  t.equal(byRegion.statusCode, 200, byRegion.body)
  const regionOf = new Map(DISTRICT_REGIONS.map(([d, region]) => [d, region]))
  const perRegion = new Map<string, number>()
  for (const h of demoRows(ROWS))
    perRegion.set(regionOf.get(h.district)!, (perRegion.get(regionOf.get(h.district)!) ?? 0) + 1)
  // At epsilon 30 (m = 1) the noise is beyond 2 with probability about e^-90.
  for (const [region, n] of byRegion.json().rows as [string, number][])
    t.ok(Math.abs(n - perRegion.get(region)!) <= 2, `${region}: ${n} households, ${perRegion.get(region)} exactly`)
  t.equal(byRegion.json().datasets, undefined, 'one dataset read through the grant: the table is never charged')
  t.match(byRegion.json().receipt.publicTables, [{ dataset: DEMO_REGIONS_SPEC.id, version: 1 }])

  // An embedded dataset and a sourced one: refused, nothing moves between them, nothing charged.
  t.equal((await ta.call('operator', { method: 'POST', url: '/v1/datasets', payload: CLAIMS_SPEC })).statusCode, 201)
  const chunks: Buffer[] = []
  const { claimsCsv } = await import('../../../src/demo/claims.js')
  for await (const c of claimsCsv(200)) chunks.push(Buffer.from(c as string))
  await ta.call('operator', {
    method: 'POST',
    url: `/v1/datasets/${CLAIMS_SPEC.id}/versions`,
    headers: { 'content-type': 'text/csv' },
    payload: Buffer.concat(chunks),
  })
  const g2 = await ta.call('operator', {
    method: 'POST',
    url: '/v1/grants',
    payload: {
      analyst: 'alice',
      datasets: [SOURCED_DEMO_ID, CLAIMS_SPEC.id],
      purpose: 'test: across sources',
      epsilon: 1,
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    },
  })
  const across = await ta.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: {
      sql: `SELECT COUNT(*) FROM ${SOURCED_DEMO_ID} h JOIN ${CLAIMS_SPEC.id} c USING (household_id)`,
      grant: g2.json().id,
      epsilon: 0.5,
    },
  })
  t.equal(across.statusCode, 400, across.body)
  t.equal(across.json().code, 'VEILBOX_ERR_QUERY_JOIN')
  t.match(across.json().detail, /never moves rows between them/)
})
