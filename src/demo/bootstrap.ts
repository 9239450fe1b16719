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
import { DEMO_SPEC, demoCsv } from './binzhou.js'
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

const DEMO_PRINCIPALS: Record<'operator' | 'analyst' | 'custodian' | 'owner', string> = {
  operator: 'demo-operator',
  analyst: 'demo-analyst',
  custodian: 'demo-custodian',
  owner: 'demo-owner',
}

/**
 * The demo's market settings (docs/market.md): the public columns graded L1
 * (the others stay L2, so the demo grant's queries meet no per-answer limit),
 * industrial use priced, research at a tenth of it, public welfare free.
 */
export const DEMO_LEVELS = { district: 'L1', insured: 'L1', age_band: 'L1' } as const
export const DEMO_PRICES = {
  industry: { perEpsilon: 50_000, perAnswer: 200 },
  research: { perEpsilon: 5_000, perAnswer: 0 },
} as const

export interface BootstrapReport {
  /** Files with freshly created secrets (mode 0600), for the operator to read. */
  readonly keyFiles: readonly string[]
  readonly createdDataset: boolean
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
  purpose: 'demo: explore household subsidies by district, on encrypted data',
} as const

/** The demo dataset held by the demo owner, its levels and prices set, once. */
async function demoMarket(db: Sql, dataset: string): Promise<void> {
  const record = await findDataset(db, dataset)
  if (record === null) return
  if (record.owner === null) {
    const owner = await findOwnerPrincipal(db, DEMO_PRINCIPALS.owner)
    if (owner !== null) await setDatasetOwner(db, dataset, owner, SYSTEM_ACTOR)
  }
  if (record.market === null) {
    const known = new Set(record.spec.columns.map((c) => c.name))
    const levels = Object.fromEntries(Object.entries(DEMO_LEVELS).filter(([c]) => known.has(c)))
    await setLevels(db, dataset, levels, SYSTEM_ACTOR)
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

/**
 * First start. On a database that has never held a key, makes an operator key;
 * in demo mode, makes the demo dataset and demo keys for each role and writes
 * them to demo-keys.json. Everything is created once: a restart finds it and
 * reuses it.
 */
export async function bootstrap(
  db: Sql,
  dataDir: string,
  options: { demo: boolean; he?: DemoCustodian },
): Promise<BootstrapReport> {
  const keyFiles: string[] = []
  let createdDataset = false
  let createdHeDataset = false
  let heProblem: string | undefined
  if (options.demo) {
    if (!(await findDataset(db, DEMO_SPEC.id))) {
      try {
        await createDataset(db, DEMO_SPEC, SYSTEM_ACTOR)
        await ingest(db, DEMO_SPEC.id, 'text/csv', demoCsv(), SYSTEM_ACTOR)
        createdDataset = true
      } catch (err) {
        // Another process starting on the same directory registered it first.
        if (!(isVeilboxError(err) && err.code === 'VEILBOX_ERR_DATASET_EXISTS')) throw err
      }
    }
    const file = path.join(dataDir, DEMO_KEYS_FILE)
    if (!fs.existsSync(file)) {
      // Keys whose secrets were never written down (an interrupted first start) are replaced.
      const active = new Set((await listKeys(db)).map((k) => k.name))
      const keys: Record<string, string> = {}
      for (const role of ['operator', 'analyst', 'custodian', 'owner'] as const satisfies readonly Role[]) {
        const name = DEMO_PRINCIPALS[role]
        if (active.has(name)) await revokeKey(db, name, SYSTEM_ACTOR)
        keys[role] = (await createKey(db, { name, role }, SYSTEM_ACTOR)).key
      }
      writeSecretJson(file, keys)
      keyFiles.push(file)
    }
    if (!(await findDatasetBudget(db, DEMO_SPEC.id))) {
      await setDatasetBudget(db, DEMO_SPEC.id, budgetTotals(DEMO_BUDGET.epsilon, DEMO_BUDGET.delta), SYSTEM_ACTOR, {
        epsilon: String(DEMO_BUDGET.epsilon),
        delta: String(DEMO_BUDGET.delta),
      })
    }
    // A demo directory made before the data market has no owner key: one is added.
    const existing = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string>
    if (existing.owner === undefined) {
      const active = new Set((await listKeys(db)).map((k) => k.name))
      if (active.has(DEMO_PRINCIPALS.owner)) await revokeKey(db, DEMO_PRINCIPALS.owner, SYSTEM_ACTOR)
      const owner = (await createKey(db, { name: DEMO_PRINCIPALS.owner, role: 'owner' }, SYSTEM_ACTOR)).key
      writeSecretJson(file, { ...existing, owner })
      if (!keyFiles.includes(file)) keyFiles.push(file)
    }
    await demoMarket(db, DEMO_SPEC.id)
    // The demo grant is named in demo-keys.json; one is made whenever the file names none that exists.
    const keys = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string>
    const live = (await listGrants(db, { analyst: DEMO_PRINCIPALS.analyst, dataset: DEMO_SPEC.id })).find(
      (g) => g.id === keys.grant && g.revokedAt === null,
    )
    if (!live) {
      const grant = await createGrant(
        db,
        {
          analyst: DEMO_PRINCIPALS.analyst,
          dataset: DEMO_SPEC.id,
          purpose: DEMO_GRANT.purpose,
          columns: null,
          aggregates: null,
          ...grantTotals(DEMO_GRANT.epsilon, DEMO_GRANT.delta),
          expiresAt: new Date(Date.now() + 365 * 24 * 3600 * 1000).toISOString(),
        },
        SYSTEM_ACTOR,
        { epsilon: String(DEMO_GRANT.epsilon), delta: String(DEMO_GRANT.delta) },
      )
      writeSecretJson(file, { ...keys, grant: grant.id })
      if (!keyFiles.includes(file)) keyFiles.push(file)
    }
    if (options.he) {
      try {
        createdHeDataset = await heDemo(db, options.he)
        await demoMarket(db, DEMO_HE_SPEC.id)
        const current = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string>
        const liveHe = (await listGrants(db, { analyst: DEMO_PRINCIPALS.analyst, dataset: DEMO_HE_SPEC.id })).find(
          (g) => g.id === current.heGrant && g.revokedAt === null,
        )
        if (!liveHe) {
          const grant = await createGrant(
            db,
            {
              analyst: DEMO_PRINCIPALS.analyst,
              dataset: DEMO_HE_SPEC.id,
              purpose: DEMO_HE_GRANT.purpose,
              columns: null,
              aggregates: null,
              ...grantTotals(DEMO_HE_GRANT.epsilon, 0),
              expiresAt: new Date(Date.now() + 365 * 24 * 3600 * 1000).toISOString(),
            },
            SYSTEM_ACTOR,
            { epsilon: String(DEMO_HE_GRANT.epsilon), delta: '0' },
          )
          writeSecretJson(file, { ...current, heGrant: grant.id })
          if (!keyFiles.includes(file)) keyFiles.push(file)
        }
      } catch (err) {
        // A custodian that cannot be reached, or holds other keys, leaves the plaintext demo intact.
        heProblem = isVeilboxError(err) ? `${err.code}: ${err.detail}` : String(err)
      }
    }
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
  if (!(await findDatasetBudget(db, id))) {
    await setDatasetBudget(db, id, budgetTotals(DEMO_BUDGET.epsilon, 0), SYSTEM_ACTOR, {
      epsilon: String(DEMO_BUDGET.epsilon),
      delta: '0',
    })
  }
  if (await latestVersion(db, id)) return false
  if (he.keysDir !== null) {
    const out = new PassThrough()
    const chunks: Buffer[] = []
    out.on('data', (c: Buffer) => chunks.push(c))
    await encryptCsv(he.keysDir, id, demoHeStream(), out)
    out.end()
    await ingestEncrypted(db, id, Readable.from([Buffer.concat(chunks)]), SYSTEM_ACTOR)
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
