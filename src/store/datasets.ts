import { VeilboxError } from '../errors/index.js'
import { datasetSpecSchema, type DatasetSpec } from '../schema.js'
import { appendAudit, type AuditActor } from './audit.js'
import { immediate, type Db } from './db.js'
import { stmt } from './statements.js'
import { ParsedByText } from './parsed.js'

export interface DatasetRecord {
  readonly spec: DatasetSpec
  readonly createdAt: string
  readonly createdBy: string
  /** Shown in the catalog to analysts without a grant on it (the operator's choice); default false. */
  readonly listed: boolean
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
}

export function createDataset(db: Db, spec: DatasetSpec, actor: AuditActor, listed = false): DatasetRecord {
  const createdAt = new Date().toISOString()
  immediate(db, () => {
    if (stmt(db, 'SELECT 1 FROM datasets WHERE id = ?').get(spec.id)) {
      throw new VeilboxError('VEILBOX_ERR_DATASET_EXISTS', `dataset "${spec.id}" exists already; pick another id`, { dataset: spec.id })
    }
    stmt(db, 'INSERT INTO datasets (id, spec, created_at, created_by, listed) VALUES (?, ?, ?, ?, ?)').run(
      spec.id,
      JSON.stringify(spec),
      createdAt,
      actor.principal,
      listed ? 1 : 0,
    )
    appendAudit(db, { actor, action: 'dataset.create', outcome: 'ok', dataset: spec.id, detail: { classification: spec.classification, listed } })
  })
  return { spec, createdAt, createdBy: actor.principal, listed }
}

/** Lists a dataset in the catalog for every analyst, or back to grant holders only. */
export function setListed(db: Db, id: string, listed: boolean, actor: AuditActor): DatasetRecord {
  return immediate(db, () => {
    const found = getDataset(db, id)
    stmt(db, 'UPDATE datasets SET listed = ? WHERE id = ?').run(listed ? 1 : 0, id)
    appendAudit(db, { actor, action: 'dataset.listing', outcome: 'ok', dataset: id, detail: { listed } })
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
}

function toRecord(row: DatasetRow): DatasetRecord {
  return { spec: specs.get(row.spec), createdAt: row.created_at, createdBy: row.created_by, listed: row.listed === 1 }
}

export function findDataset(db: Db, id: string): DatasetRecord | null {
  const row = stmt(db, 'SELECT spec, created_at, created_by, listed FROM datasets WHERE id = ?').get(id) as DatasetRow | undefined
  return row ? toRecord(row) : null
}

/** The one refusal for an id that names no dataset, or one the caller may not see: the two must be indistinguishable. */
export function datasetNotFound(id: string): VeilboxError {
  return new VeilboxError('VEILBOX_ERR_DATASET_NOT_FOUND', `no dataset "${id}"; GET /v1/datasets lists them`, { dataset: id })
}

export function getDataset(db: Db, id: string): DatasetRecord {
  const found = findDataset(db, id)
  if (!found) throw datasetNotFound(id)
  return found
}

export function listDatasets(db: Db): DatasetRecord[] {
  const rows = stmt(db, 'SELECT spec, created_at, created_by, listed FROM datasets ORDER BY id').all() as DatasetRow[]
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
}

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
  }
}

function missingCommitment(r: VersionRow): never {
  throw new VeilboxError('VEILBOX_ERR_INTERNAL', `version ${r.version} of ${r.dataset_id} has no commitment`)
}

/** What opens a version's commitment: its salt and content hash (operators, for auditors). */
export function versionOpening(db: Db, dataset: string, version: number): { sha256: string; salt: string; commitment: string } {
  const v = getVersion(db, dataset, version)
  const salt = stmt(db, 'SELECT salt FROM dataset_versions WHERE dataset_id = ? AND version = ?', 'pluck').get(dataset, version) as Buffer
  return { sha256: v.sha256, salt: salt.toString('hex'), commitment: v.commitment }
}

export function listVersions(db: Db, dataset: string): VersionRecord[] {
  const rows = stmt(db, 'SELECT * FROM dataset_versions WHERE dataset_id = ? ORDER BY version').all(dataset) as VersionRow[]
  return rows.map(toVersion)
}

export function latestVersion(db: Db, dataset: string): VersionRecord | null {
  const row = stmt(db, 'SELECT * FROM dataset_versions WHERE dataset_id = ? ORDER BY version DESC LIMIT 1')
    .get(dataset) as VersionRow | undefined
  return row ? toVersion(row) : null
}

/** The newest version's number alone (null: none loaded yet). */
export function latestVersionNumber(db: Db, dataset: string): number | null {
  return stmt(db, 'SELECT MAX(version) FROM dataset_versions WHERE dataset_id = ?', 'pluck').get(dataset) as number | null
}

export function getVersion(db: Db, dataset: string, version: number): VersionRecord {
  const row = stmt(db, 'SELECT * FROM dataset_versions WHERE dataset_id = ? AND version = ?').get(dataset, version) as
    | VersionRow
    | undefined
  if (!row) {
    throw new VeilboxError('VEILBOX_ERR_DATASET_VERSION_NOT_FOUND', `dataset "${dataset}" has no version ${version}`, {
      dataset,
      version,
    })
  }
  return toVersion(row)
}
