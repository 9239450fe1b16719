import { VeilboxError } from '../errors/index.js'
import { datasetSpecSchema, type DatasetSpec } from '../schema.js'
import { appendAudit, type AuditActor } from './audit.js'
import type { Sql } from './sql.js'
import { ParsedByText } from './parsed.js'

export interface DatasetRecord {
  readonly spec: DatasetSpec
  readonly createdAt: string
  readonly createdBy: string
  /** Shown in the catalog to analysts without a grant on it (the operator's choice); default false. */
  readonly listed: boolean
  /** The owner principal (role owner) that holds the dataset; null: the platform's own. */
  readonly owner: { readonly id: string; readonly name: string } | null
  /** The dataset's market settings (levels, prices): the engine's JSON, null until first set. */
  readonly market: string | null
}

export interface VersionRecord {
  readonly dataset: string
  readonly version: number
  readonly uploadId: number
  readonly rows: number
  /** Content hash of the rows: operators and auditors only (store/fingerprint.ts). */
  readonly sha256: string
  /** Salted commitment to sha256: what analysts, answers and receipts see. */
  readonly commitment: string
  readonly createdAt: string
  readonly createdBy: string
  /** A sourced dataset's snapshot: null for an uploaded version. */
  readonly source: StoredSnapshot | null
}

/** Where a sourced version's rows are read: opaque to the store (the engine writes the JSON). */
export interface StoredSnapshot {
  readonly snapshot: string
  readonly checksum: string
  /** When a verification found the source changed since registration; null while it matches. */
  readonly changedAt: string | null
}

export async function createDataset(
  db: Sql,
  spec: DatasetSpec,
  actor: AuditActor,
  listed = false,
  market: { owner: { id: string; name: string } | null; settings: string | null } = { owner: null, settings: null },
): Promise<DatasetRecord> {
  const createdAt = new Date().toISOString()
  await db.transaction(async (db) => {
    if (await db.get('SELECT 1 FROM datasets WHERE id = $1', [spec.id])) {
      throw new VeilboxError('VEILBOX_ERR_DATASET_EXISTS', `dataset "${spec.id}" exists already; pick another id`, {
        dataset: spec.id,
      })
    }
    // A node racing this one to the same id fails on the primary key, and its transaction rolls back whole.
    await db.run(
      'INSERT INTO datasets (id, spec, created_at, created_by, listed, owner_id, market) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [
        spec.id,
        JSON.stringify(spec),
        createdAt,
        actor.principal,
        listed ? 1 : 0,
        market.owner?.id ?? null,
        market.settings,
      ],
    )
    await appendAudit(db, {
      actor,
      action: 'dataset.create',
      outcome: 'ok',
      dataset: spec.id,
      detail: {
        classification: spec.classification,
        listed,
        ...(market.owner === null ? {} : { owner: market.owner.name, ownerId: market.owner.id }),
        ...(spec.source === undefined ? {} : { source: spec.source }),
      },
    })
  })
  return { spec, createdAt, createdBy: actor.principal, listed, owner: market.owner, market: market.settings }
}

/** Lists a dataset in the catalog for every analyst, or back to grant holders only. */
export async function setListed(db: Sql, id: string, listed: boolean, actor: AuditActor): Promise<DatasetRecord> {
  return db.transaction(async (db) => {
    const found = await getDataset(db, id)
    await db.run('UPDATE datasets SET listed = $1 WHERE id = $2', [listed ? 1 : 0, id])
    await appendAudit(db, { actor, action: 'dataset.listing', outcome: 'ok', dataset: id, detail: { listed } })
    return { ...found, listed }
  })
}

/** Parsed again through the schema: a row edited by hand cannot smuggle in an invalid spec. */
const specs = new ParsedByText<DatasetSpec>((text) => datasetSpecSchema.parse(JSON.parse(text)))

interface DatasetRow {
  spec: string
  created_at: string
  created_by: string
  listed: number
  owner_id: string | null
  owner_name: string | null
  market: string | null
}

function toRecord(row: DatasetRow): DatasetRecord {
  return {
    spec: specs.get(row.spec),
    createdAt: row.created_at,
    createdBy: row.created_by,
    listed: row.listed === 1,
    owner: row.owner_id === null ? null : { id: row.owner_id, name: row.owner_name ?? row.owner_id },
    market: row.market,
  }
}

const DATASET_ROW = `SELECT d.spec, d.created_at, d.created_by, d.listed, d.owner_id, d.market, p.name AS owner_name
  FROM datasets d LEFT JOIN principals p ON p.id = d.owner_id`

export async function findDataset(db: Sql, id: string): Promise<DatasetRecord | null> {
  const row = await db.get<DatasetRow>(`${DATASET_ROW} WHERE d.id = $1`, [id])
  return row ? toRecord(row) : null
}

/** The one refusal for an id that names no dataset, or one the caller may not see: the two must be indistinguishable. */
export function datasetNotFound(id: string): VeilboxError {
  return new VeilboxError('VEILBOX_ERR_DATASET_NOT_FOUND', `no dataset "${id}"; GET /v1/datasets lists them`, {
    dataset: id,
  })
}

export async function getDataset(db: Sql, id: string): Promise<DatasetRecord> {
  const found = await findDataset(db, id)
  if (!found) throw datasetNotFound(id)
  return found
}

export async function listDatasets(db: Sql): Promise<DatasetRecord[]> {
  const rows = await db.all<DatasetRow>(`${DATASET_ROW} ORDER BY d.id`)
  return rows.map(toRecord)
}

interface VersionRow {
  dataset_id: string
  version: number
  upload_id: number
  rows: number
  sha256: string
  salt: Buffer | null
  commitment: string | null
  created_at: string
  created_by: string
  source_snapshot: string | null
  source_checksum: string | null
  source_changed_at: string | null
}

/** A version's row with its snapshot, if it has one. */
const VERSION_ROW = `SELECT v.*, s.snapshot AS source_snapshot, s.checksum AS source_checksum, s.changed_at AS source_changed_at
  FROM dataset_versions v LEFT JOIN source_snapshots s ON s.upload_id = v.upload_id`

function toVersion(r: VersionRow): VersionRecord {
  return {
    dataset: r.dataset_id,
    version: r.version,
    uploadId: r.upload_id,
    rows: r.rows,
    sha256: r.sha256,
    // Every version has one from migration 4 on; a row without one is refused rather than shown bare.
    commitment: r.commitment ?? missingCommitment(r),
    createdAt: r.created_at,
    createdBy: r.created_by,
    source:
      r.source_snapshot === null
        ? null
        : { snapshot: r.source_snapshot, checksum: r.source_checksum!, changedAt: r.source_changed_at },
  }
}

function missingCommitment(r: VersionRow): never {
  throw new VeilboxError('VEILBOX_ERR_INTERNAL', `version ${r.version} of ${r.dataset_id} has no commitment`)
}

/** What opens a version's commitment: its salt and content hash (operators, for auditors). */
export async function versionOpening(
  db: Sql,
  dataset: string,
  version: number,
): Promise<{ sha256: string; salt: string; commitment: string }> {
  const v = await getVersion(db, dataset, version)
  const salt = (await db.value<Buffer>('SELECT salt FROM dataset_versions WHERE dataset_id = $1 AND version = $2', [
    dataset,
    version,
  ]))!
  return { sha256: v.sha256, salt: salt.toString('hex'), commitment: v.commitment }
}

export async function listVersions(db: Sql, dataset: string): Promise<VersionRecord[]> {
  const rows = await db.all<VersionRow>(`${VERSION_ROW} WHERE v.dataset_id = $1 ORDER BY v.version`, [dataset])
  return rows.map(toVersion)
}

export async function latestVersion(db: Sql, dataset: string): Promise<VersionRecord | null> {
  const row = await db.get<VersionRow>(`${VERSION_ROW} WHERE v.dataset_id = $1 ORDER BY v.version DESC LIMIT 1`, [
    dataset,
  ])
  return row ? toVersion(row) : null
}

/** The newest version's number alone (null: none loaded yet). */
export async function latestVersionNumber(db: Sql, dataset: string): Promise<number | null> {
  return (
    (await db.value<number | null>('SELECT MAX(version) FROM dataset_versions WHERE dataset_id = $1', [dataset])) ??
    null
  )
}

export async function getVersion(db: Sql, dataset: string, version: number): Promise<VersionRecord> {
  const row = await db.get<VersionRow>(`${VERSION_ROW} WHERE v.dataset_id = $1 AND v.version = $2`, [dataset, version])
  if (!row) {
    throw new VeilboxError('VEILBOX_ERR_DATASET_VERSION_NOT_FOUND', `dataset "${dataset}" has no version ${version}`, {
      dataset,
      version,
    })
  }
  return toVersion(row)
}

/**
 * Records that a sourced version's rows no longer match what was registered
 * (a verification found another checksum or row count), with its audit
 * record; queries on it are refused from then on. Idempotent.
 */
export async function markSnapshotChanged(
  db: Sql,
  dataset: string,
  version: number,
  actor: AuditActor,
  detail: Readonly<Record<string, unknown>>,
): Promise<void> {
  await db.transaction(async (tx) => {
    const v = await getVersion(tx, dataset, version)
    if (v.source === null)
      throw new VeilboxError('VEILBOX_ERR_INTERNAL', `version ${version} of ${dataset} is not a sourced snapshot`)
    await tx.run('UPDATE source_snapshots SET changed_at = $1 WHERE upload_id = $2 AND changed_at IS NULL', [
      new Date().toISOString(),
      v.uploadId,
    ])
    await appendAudit(tx, {
      actor,
      action: 'dataset.snapshot.changed',
      outcome: 'ok',
      dataset,
      version,
      detail,
    })
  })
}
