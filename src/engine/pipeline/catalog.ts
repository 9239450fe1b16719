import { VeilboxError } from '../../errors/index.js'
import type { DatasetSpec } from '../../schema.js'
import { findDatasetBudget } from '../../store/budgets.js'
import { findDataset, getVersion, latestVersion, type DatasetRecord, type VersionRecord } from '../../store/datasets.js'
import { columnDictionaries } from '../../store/chunks.js'
import type { Sql } from '../../store/db.js'
import { loadVersionAsync } from '../exec/column-cache.js'
import type { PublicRows } from '../pushdown/compile.js'
import { getGrant, type GrantRecord } from '../../store/grants.js'
import { uploadEncryption } from '../../store/he.js'
import { findHeKeys } from '../he/material.js'
import type { HeProfile } from '../he/profile.js'
import { readPolicy, type MarketPolicy } from '../market/policy.js'
import { ledgerOf, type LedgerView } from '../policy/pricing.js'
import type { Ledgers } from './types.js'

/** What prepare reads: grants, datasets, versions and HE profiles, as they are now. */
export interface Catalog {
  grant(id: string): Promise<GrantRecord>
  dataset(name: string): Promise<DatasetRecord | null>
  /** A version by number (refused when it does not exist), or the latest (null when none is loaded). */
  version(name: string, version?: number): Promise<VersionRecord | null>
  heProfile(spec: DatasetSpec, version: VersionRecord): Promise<HeProfile | null>
  /** A version's category values per column (its dictionaries): for public tables, whose values are public. */
  domains(version: VersionRecord): Promise<ReadonlyMap<string, readonly string[]>>
  /** A public table's rows by column, for a join at a sourced dataset's source: the table is public data. */
  publicRows(spec: DatasetSpec, version: VersionRecord): Promise<PublicRows>
  /** The market policy in force (levels' limits, currency, fee). */
  policy(): Promise<MarketPolicy>
  now(): Date
}

/** The catalog over the store. */
export function storeCatalog(db: Sql, now: () => Date): Catalog {
  return {
    grant: (id) => getGrant(db, id),
    dataset: (name) => findDataset(db, name),
    version: (name, version) => (version !== undefined ? getVersion(db, name, version) : latestVersion(db, name)),
    heProfile: (spec, version) => heProfileFor(db, spec, version),
    policy: () => readPolicy(db),
    domains: (version) => domainsOf(db, version),
    publicRows: (spec, version) => publicRowsOf(db, spec, version),
    now,
  }
}

/** A public table's version as rows by column: codes as their text (booleans as booleans), numbers, nulls. */
async function publicRowsOf(db: Sql, spec: DatasetSpec, version: VersionRecord): Promise<PublicRows> {
  const loaded = await loadVersionAsync(db, spec.id, version.version)
  const out = new Map<string, (string | number | boolean | null)[]>()
  for (const c of spec.columns) {
    const col = loaded.columns.get(c.name)
    if (col === undefined) continue
    const isNull = (i: number) => col.nulls !== null && ((col.nulls[i >> 3]! >> (i & 7)) & 1) === 1
    out.set(
      c.name,
      Array.from({ length: loaded.rows }, (_, i) => {
        if (isNull(i)) return null
        if (col.kind !== 'code') return col.values[i]!
        const text = col.dictionary[col.values[i]!]!
        return c.type === 'boolean' ? text === 'true' : text
      }),
    )
  }
  return out
}

/** Dictionaries per store and upload: a version never changes, so each is read once (a few public tables, a few kB each). */
const domainCaches = new WeakMap<Sql, Map<number, Promise<ReadonlyMap<string, readonly string[]>>>>()

function domainsOf(db: Sql, version: VersionRecord): Promise<ReadonlyMap<string, readonly string[]>> {
  let domainCache = domainCaches.get(db)
  if (domainCache === undefined) {
    domainCache = new Map()
    domainCaches.set(db, domainCache)
  }
  let found = domainCache.get(version.uploadId)
  if (found === undefined) {
    found = columnDictionaries(db, version.uploadId).then(
      (rows) => new Map(rows.map((r) => [r.column, JSON.parse(r.json) as string[]])),
    )
    if (domainCache.size >= 64) domainCache.delete(domainCache.keys().next().value!)
    domainCache.set(version.uploadId, found)
    found.catch(() => domainCache.delete(version.uploadId))
  }
  return found
}

/**
 * The HE profile a version's ciphertexts were made under, for a dataset
 * with he columns (null otherwise, or when it has no keys: the planner
 * refuses he aggregates then). A version loaded before the keys existed
 * has no ciphertexts, and its he columns cannot be aggregated.
 */
async function heProfileFor(db: Sql, spec: DatasetSpec, version: VersionRecord): Promise<HeProfile | null> {
  if (!spec.columns.some((c) => c.protection === 'he')) return null
  const keys = await findHeKeys(db, spec.id)
  if (keys === null) return null
  const enc = await uploadEncryption(db, version.uploadId)
  return enc !== null && enc.profileId === keys.profile.id ? keys.profile : null
}

/**
 * The two ledgers a query is priced on: its grant's (as given) and its
 * dataset's; inside the release transaction the budget row is held (FOR
 * UPDATE, after the grant's row).
 */
export async function readLedgers(
  db: Sql,
  grant: GrantRecord,
  dataset: string,
  forUpdate = false,
  joined: readonly string[] = [],
): Promise<Ledgers> {
  // Budget rows are locked in the order of their ids, whichever dataset a join names first: two joins of the
  // same datasets in either order cannot wait on each other.
  const views = new Map<string, LedgerView>()
  for (const id of [...new Set([dataset, ...joined])].sort()) {
    const budget = await findDatasetBudget(db, id, { forUpdate })
    if (!budget) {
      throw new VeilboxError(
        'VEILBOX_ERR_BUDGET_NOT_SET',
        `dataset ${id} has no privacy budget yet; an operator sets one with PUT /v1/datasets/${id}/budget`,
        { dataset: id },
      )
    }
    views.set(id, { scope: 'dataset', id, ledger: ledgerOf(budget) })
  }
  return {
    grant: { scope: 'grant', id: grant.id, ledger: ledgerOf(grant.ledger) },
    dataset: views.get(dataset)!,
    joined: joined.map((id) => views.get(id)!),
  }
}
