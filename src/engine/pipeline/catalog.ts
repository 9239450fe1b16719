import { VeilboxError } from '../../errors/index.js'
import type { DatasetSpec } from '../../schema.js'
import { findDatasetBudget } from '../../store/budgets.js'
import { findDataset, getVersion, latestVersion, type DatasetRecord, type VersionRecord } from '../../store/datasets.js'
import { columnDictionaries } from '../../store/chunks.js'
import type { Sql } from '../../store/db.js'
import { catalogEpoch, EpochMemo } from '../../store/epoch.js'
import { loadVersionAsync } from '../exec/column-cache.js'
import { entryAt } from '../exec/dictionary.js'
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
  publicRows(version: VersionRecord): Promise<PublicRows>
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
    publicRows: (version) => cachedPublicRows(db, version),
    now,
  }
}

/** Where a request gets its catalog: one per request, read as of then. */
export interface CatalogSource {
  current(): Promise<Catalog>
}

/**
 * The catalog over the store, with what does not change per request
 * (datasets' specs and records, versions, the market policy, HE profiles)
 * kept while the catalog epoch (store/epoch.ts) stays where it was: one
 * point read per request instead of one per lookup. Grants are read every
 * time: their ledgers change with every answer, and admission prices on
 * them. Every node reads the epoch its own store moves, so a dataset, a
 * version or a policy changed on another node is seen by the next request
 * here; the release transaction checks the grant and charges under its
 * locks whatever was kept.
 */
export function cachedCatalog(db: Sql, now: () => Date): CatalogSource {
  const direct = storeCatalog(db, now)
  const datasets = new EpochMemo<DatasetRecord | null>()
  const versions = new EpochMemo<VersionRecord | null>()
  const policies = new EpochMemo<MarketPolicy>(1)
  const profiles = new EpochMemo<HeProfile | null>()
  return {
    async current() {
      const epoch = await catalogEpoch(db)
      return {
        ...direct,
        dataset: (name) => datasets.get(epoch, name, () => direct.dataset(name)),
        version: (name, version) =>
          versions.get(epoch, `${name}\u0000${version ?? 'latest'}`, () => direct.version(name, version)),
        policy: () => policies.get(epoch, '', () => direct.policy()),
        heProfile: (spec, version) =>
          profiles.get(epoch, `${spec.id}\u0000${version.uploadId}`, () => direct.heProfile(spec, version)),
      }
    },
  }
}

/** A public table's version as rows by column: codes as their text (booleans as booleans), numbers, nulls. */
async function publicRowsOf(db: Sql, version: VersionRecord): Promise<PublicRows> {
  const loaded = await loadVersionAsync(db, version.dataset, version.version)
  const spec = loaded.spec
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
        const text = entryAt(col.dictionary, col.values[i]!)!
        return c.type === 'boolean' ? text === 'true' : text
      }),
    )
  }
  return out
}

/**
 * What is read once per store and upload and kept (a version never
 * changes): at most `max` uploads' worth, oldest first out; a failed read
 * is not kept.
 */
function perUpload<T>(max: number, load: (db: Sql, version: VersionRecord) => Promise<T>) {
  const caches = new WeakMap<Sql, Map<number, Promise<T>>>()
  return (db: Sql, version: VersionRecord): Promise<T> => {
    let cache = caches.get(db)
    if (cache === undefined) {
      cache = new Map()
      caches.set(db, cache)
    }
    let found = cache.get(version.uploadId)
    if (found === undefined) {
      found = load(db, version)
      if (cache.size >= max) cache.delete(cache.keys().next().value!)
      cache.set(version.uploadId, found)
      const kept = cache
      found.catch(() => kept.delete(version.uploadId))
    }
    return found
  }
}

/** A version's dictionaries (a few public tables, a few kB each). */
const domainsOf = perUpload(
  64,
  async (db, version) =>
    new Map((await columnDictionaries(db, version.uploadId)).map((r) => [r.column, JSON.parse(r.json) as string[]])),
)

/** A public table's rows, for lookups at sources (at most 100,000 rows each). */
const cachedPublicRows = perUpload(16, (db, version) => publicRowsOf(db, version))

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
