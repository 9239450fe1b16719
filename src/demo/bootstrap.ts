import { DEMO_REGIONS_SPEC, regionsCsv } from './regions.js'
import fs from 'node:fs'
import path from 'node:path'
import { isVeilboxError } from '../errors/index.js'
import type { Sql } from '../store/db.js'
import { PassThrough, Readable } from 'node:stream'
import { encryptCsv } from '../owner/encrypt.js'
import type { Custodian } from '../engine/he/types.js'
import { createDataset, findDataset, latestVersion } from '../store/datasets.js'
import { findHeKeys, storeHeKeys } from '../engine/he/material.js'
import { ingestEncrypted } from '../ingest/encrypted.js'
import { ingest } from '../ingest/index.js'
import { findDatasetBudget, setDatasetBudget } from '../store/budgets.js'
import { createGrant, listGrants } from '../store/grants.js'
import { countKeys, createKey, listKeys, revokeKey, SYSTEM_ACTOR, type Role } from '../store/keys.js'
import { budgetTotals } from '../engine/policy/pricing.js'
import { setLevels, setPrices } from '../engine/market/dataset.js'
import { readPolicy } from '../engine/market/policy.js'
import { findOwnerPrincipal, setDatasetOwner } from '../store/market.js'
import type { DatasetSpec, Level } from '../schema.js'
import { DEMO_SPEC, demoCsv } from './binzhou.js'
import { CLAIMS_SPEC, claimsCsv } from './claims.js'
import { DEMO_HE_KEY_OPTIONS, DEMO_HE_SPEC, demoHeStream } from './subsidies.js'

export const DEMO_KEYS_FILE = 'demo-keys.json'
export const OPERATOR_KEY_FILE = 'operator-key.json'

/** The demo dataset's budget and the demo analyst's grant on it. */
export const DEMO_BUDGET = { epsilon: 100, delta: 1e-5 } as const
export const DEMO_GRANT = {
  epsilon: 10,
  delta: 1e-6,
  purpose: 'demo: explore household income and medical spending by district',
} as const

/**
 * The claims dataset's budget and the demo analyst's grant on it: with a
 * delta, which partition selection (GROUP BY diagnosis) needs.
 */
export const DEMO_CLAIMS_BUDGET = { epsilon: 100, delta: 1e-5 } as const
export const DEMO_CLAIMS_GRANT = {
  epsilon: 10,
  delta: 1e-6,
  purpose: 'demo: explore medical-insurance claims by diagnosis and hospital level',
} as const

/** The demo analyst's grant over both owners' datasets, for queries that join households and claims. */
export const DEMO_JOIN_GRANT = {
  epsilon: 10,
  delta: 1e-6,
  purpose: 'demo: claims by district, households joined with their claims (two owners)',
} as const

/**
 * The demo principals: the field of demo-keys.json that holds each one's key,
 * its name and its role. Two owners: demo-owner (the Big Data Bureau's
 * households and the subsidies) and demo-owner-health (the Healthcare
 * Security Bureau's claims).
 */
const DEMO_PRINCIPALS = {
  operator: { name: 'demo-operator', role: 'operator' },
  analyst: { name: 'demo-analyst', role: 'analyst' },
  custodian: { name: 'demo-custodian', role: 'custodian' },
  owner: { name: 'demo-owner', role: 'owner' },
  healthOwner: { name: 'demo-owner-health', role: 'owner' },
} as const satisfies Record<string, { name: string; role: Role }>

/** The owner of binzhou_claims. */
export const DEMO_HEALTH_OWNER = DEMO_PRINCIPALS.healthOwner.name

/**
 * The demo's market settings (docs/market.md): the public columns graded L1
 * (the others stay L2, so the demo grant's queries meet no per-answer limit),
 * industrial use priced, research at a tenth of it, public welfare free.
 */
export const DEMO_LEVELS = { district: 'L1', insured: 'L1', age_band: 'L1' } as const
export const DEMO_CLAIMS_LEVELS = { diagnosis: 'L1', hospital_level: 'L1', inpatient: 'L1' } as const
export const DEMO_PRICES = {
  industry: { perEpsilon: 50_000, perAnswer: 200 },
  research: { perEpsilon: 5_000, perAnswer: 0 },
} as const

export interface BootstrapReport {
  /** Files with freshly created secrets (mode 0600), for the operator to read. */
  readonly keyFiles: readonly string[]
  readonly createdDataset: boolean
  /** The claims demo dataset was created (demo mode). */
  readonly createdClaimsDataset?: boolean
  /** The encrypted demo dataset was created (demo mode with a custodian). */
  readonly createdHeDataset?: boolean
  /** Why the encrypted demo dataset could not be made; the rest of the demo stands. */
  readonly heProblem?: string
}

/** The custodian the encrypted demo uses, and its key directory when it runs in process (null for a remote one). */
export interface DemoCustodian {
  readonly custodian: Custodian
  readonly keysDir: string | null
}

/** The encrypted demo's budget and grant. */
export const DEMO_HE_GRANT = {
  epsilon: 10,
  delta: 0,
  purpose: 'demo: explore household subsidies by district, on encrypted data',
} as const

/**
 * A demo dataset held by a demo owner, its levels and prices set, once. A
 * demo owner whose key was replaced (demo-keys.json lost) is a new principal
 * of the same name: it is given the datasets its predecessor held.
 */
async function demoMarket(
  db: Sql,
  dataset: string,
  owner: string,
  levels: Readonly<Record<string, Level>>,
): Promise<void> {
  const record = await findDataset(db, dataset)
  if (record === null) return
  if (record.owner === null || record.owner.name === owner) {
    const principal = await findOwnerPrincipal(db, owner)
    if (principal !== null && principal.id !== record.owner?.id)
      await setDatasetOwner(db, dataset, principal, SYSTEM_ACTOR)
  }
  if (record.market === null) {
    const known = new Set(record.spec.columns.map((c) => c.name))
    await setLevels(db, dataset, Object.fromEntries(Object.entries(levels).filter(([c]) => known.has(c))), SYSTEM_ACTOR)
    await setPrices(db, dataset, DEMO_PRICES, await readPolicy(db), SYSTEM_ACTOR)
  }
}

/** Writes JSON atomically with mode 0600: a half-written key file never exists. */
export function writeSecretJson(file: string, value: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 })
  fs.renameSync(tmp, file)
  fs.chmodSync(file, 0o600)
}

function readKeys(file: string): Record<string, string> {
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string>) : {}
}

/** A plaintext demo dataset and its one version, made once; true when this call made it. */
async function plainDemo(db: Sql, spec: DatasetSpec, csv: () => Readable): Promise<boolean> {
  if (await findDataset(db, spec.id)) return false
  try {
    await createDataset(db, spec, SYSTEM_ACTOR)
    await ingest(db, spec.id, 'text/csv', csv(), SYSTEM_ACTOR)
    return true
  } catch (err) {
    // Another process starting on the same directory registered it first.
    if (!(isVeilboxError(err) && err.code === 'VEILBOX_ERR_DATASET_EXISTS')) throw err
    return false
  }
}

/**
 * A key for every demo principal demo-keys.json names none for: all of them
 * at first start (or when the file was lost), the ones added since on an older
 * demo directory (the owners). True when the file was written.
 */
async function demoKeys(db: Sql, file: string): Promise<boolean> {
  const keys = readKeys(file)
  const missing = Object.entries(DEMO_PRINCIPALS).filter(([field]) => keys[field] === undefined)
  if (missing.length === 0) return false
  // Keys whose secrets were never written down (an interrupted first start) are replaced.
  const active = new Set((await listKeys(db)).map((k) => k.name))
  for (const [field, { name, role }] of missing) {
    if (active.has(name)) await revokeKey(db, name, SYSTEM_ACTOR)
    keys[field] = (await createKey(db, { name, role }, SYSTEM_ACTOR)).key
  }
  writeSecretJson(file, keys)
  return true
}

async function demoBudget(db: Sql, dataset: string, budget: { epsilon: number; delta: number }): Promise<void> {
  if (await findDatasetBudget(db, dataset)) return
  await setDatasetBudget(db, dataset, budgetTotals(budget.epsilon, budget.delta), SYSTEM_ACTOR, {
    epsilon: String(budget.epsilon),
    delta: String(budget.delta),
  })
}

/**
 * The demo analyst's grant on a dataset, named in demo-keys.json under
 * `field`; one is made whenever the file names none that exists. True when
 * the file was written.
 */
async function demoGrant(
  db: Sql,
  file: string,
  field: string,
  datasets: string | readonly [string, ...string[]],
  g: { epsilon: number; delta: number; purpose: string },
): Promise<boolean> {
  const keys = readKeys(file)
  const analyst = DEMO_PRINCIPALS.analyst.name
  const all = typeof datasets === 'string' ? [datasets] : [...datasets]
  const dataset = all[0]!
  const live = (await listGrants(db, { analyst, dataset })).find((x) => x.id === keys[field] && x.revokedAt === null)
  if (live) return false
  const grant = await createGrant(
    db,
    {
      analyst,
      dataset,
      ...(all.length > 1 ? { datasets: all } : {}),
      purpose: g.purpose,
      columns: null,
      aggregates: null,
      ...grantTotals(g.epsilon, g.delta),
      expiresAt: new Date(Date.now() + 365 * 24 * 3600 * 1000).toISOString(),
    },
    SYSTEM_ACTOR,
    { epsilon: String(g.epsilon), delta: String(g.delta) },
  )
  writeSecretJson(file, { ...keys, [field]: grant.id })
  return true
}

/**
 * First start. On a database that has never held a key, makes an operator key;
 * in demo mode, makes the demo datasets and demo keys for each principal and
 * writes them to demo-keys.json. Everything is created once: a restart finds
 * it and reuses it, and adds what a demo directory made by an older version
 * lacks.
 */
export async function bootstrap(
  db: Sql,
  dataDir: string,
  options: { demo: boolean; he?: DemoCustodian },
): Promise<BootstrapReport> {
  const keyFiles: string[] = []
  let createdDataset = false
  let createdClaimsDataset = false
  let createdHeDataset = false
  let heProblem: string | undefined
  if (options.demo) {
    const file = path.join(dataDir, DEMO_KEYS_FILE)
    let wrote = false
    createdDataset = await plainDemo(db, DEMO_SPEC, () => demoCsv())
    createdClaimsDataset = await plainDemo(db, CLAIMS_SPEC, () => claimsCsv())
    await plainDemo(db, DEMO_REGIONS_SPEC, () => regionsCsv())
    if (await demoKeys(db, file)) wrote = true
    await demoBudget(db, DEMO_SPEC.id, DEMO_BUDGET)
    await demoBudget(db, CLAIMS_SPEC.id, DEMO_CLAIMS_BUDGET)
    await demoMarket(db, DEMO_SPEC.id, DEMO_PRINCIPALS.owner.name, DEMO_LEVELS)
    await demoMarket(db, CLAIMS_SPEC.id, DEMO_PRINCIPALS.healthOwner.name, DEMO_CLAIMS_LEVELS)
    if (await demoGrant(db, file, 'grant', DEMO_SPEC.id, DEMO_GRANT)) wrote = true
    if (await demoGrant(db, file, 'claimsGrant', CLAIMS_SPEC.id, DEMO_CLAIMS_GRANT)) wrote = true
    if (await demoGrant(db, file, 'joinGrant', [DEMO_SPEC.id, CLAIMS_SPEC.id], DEMO_JOIN_GRANT)) wrote = true
    if (options.he) {
      try {
        createdHeDataset = await heDemo(db, options.he)
        await demoMarket(db, DEMO_HE_SPEC.id, DEMO_PRINCIPALS.owner.name, DEMO_LEVELS)
        if (await demoGrant(db, file, 'heGrant', DEMO_HE_SPEC.id, DEMO_HE_GRANT)) wrote = true
      } catch (err) {
        // A custodian that cannot be reached, or holds other keys, leaves the plaintext demo intact.
        heProblem = isVeilboxError(err) ? `${err.code}: ${err.detail}` : String(err)
      }
    }
    if (wrote) keyFiles.push(file)
  } else {
    // Checked and created in one transaction. Two processes starting together make one key: on SQLite the
    // write lock orders them; on PostgreSQL the second one's insert hits the unique active name and it makes none.
    let key: string | null = null
    try {
      key = await db.transaction(async (tx) =>
        (await countKeys(tx)) === 0
          ? (await createKey(tx, { name: 'operator', role: 'operator' }, SYSTEM_ACTOR)).key
          : null,
      )
    } catch (err) {
      if ((await countKeys(db)) === 0) throw err
    }
    if (key !== null) {
      const file = path.join(dataDir, OPERATOR_KEY_FILE)
      writeSecretJson(file, { operator: key })
      keyFiles.push(file)
    }
  }
  return {
    keyFiles,
    createdDataset,
    ...(options.demo ? { createdClaimsDataset } : {}),
    ...(options.he ? { createdHeDataset } : {}),
    ...(heProblem === undefined ? {} : { heProblem }),
  }
}

/**
 * The encrypted demo dataset: its keys made by the custodian (or taken over
 * when the custodian already holds them from an earlier start), and one
 * version encrypted the strong way, by the data owner with the secret key,
 * when the custodian runs in process; through the plaintext path (the public
 * key, on arrival) when it is a separate process whose key directory this
 * process cannot read.
 */
async function heDemo(db: Sql, he: DemoCustodian): Promise<boolean> {
  const id = DEMO_HE_SPEC.id
  if (!(await findDataset(db, id))) {
    try {
      await createDataset(db, DEMO_HE_SPEC, SYSTEM_ACTOR)
    } catch (err) {
      if (!(isVeilboxError(err) && err.code === 'VEILBOX_ERR_DATASET_EXISTS')) throw err
    }
  }
  if (!(await findHeKeys(db, id))) {
    let action: 'he.keys.create' | 'he.keys.import' = 'he.keys.create'
    try {
      await he.custodian.createKeys(id, DEMO_HE_SPEC, DEMO_HE_KEY_OPTIONS)
    } catch (err) {
      if (!(isVeilboxError(err) && err.code === 'VEILBOX_ERR_CUSTODIAN_KEYS_EXIST')) throw err
      action = 'he.keys.import'
    }
    await storeHeKeys(db, DEMO_HE_SPEC, await he.custodian.publicMaterial(id), SYSTEM_ACTOR, action)
  }
  await demoBudget(db, id, { epsilon: DEMO_BUDGET.epsilon, delta: 0 })
  if (await latestVersion(db, id)) return false
  if (he.keysDir !== null) {
    const out = new PassThrough()
    const chunks: Buffer[] = []
    out.on('data', (c: Buffer) => chunks.push(c))
    await encryptCsv(he.keysDir, id, demoHeStream(), out)
    out.end()
    const file = Buffer.concat(chunks)
    await ingestEncrypted(db, id, Readable.from([file]), SYSTEM_ACTOR, undefined, file.length)
  } else {
    await ingest(db, id, 'text/csv', demoHeStream(), SYSTEM_ACTOR)
  }
  return true
}

/** A grant's totals in the store's units. */
function grantTotals(epsilon: number, delta: number): { epsilonTotal: bigint; deltaTotal: bigint } {
  const t = budgetTotals(epsilon, delta)
  return { epsilonTotal: t.epsilon, deltaTotal: t.delta }
}
