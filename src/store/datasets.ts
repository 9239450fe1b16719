import { VeilboxError } from '../errors/index.js'
import { datasetSpecSchema, type DatasetSpec } from '../engine/schema.js'
import { appendAudit, type AuditActor } from './audit.js'
import { immediate, type Db } from './db.js'
import { stmt } from './statements.js'
import { ParsedByText } from './parsed.js'

export interface DatasetRecord {
  readonly spec: DatasetSpec
  readonly createdAt: string
  readonly createdBy: string
}

export interface VersionRecord {
  readonly dataset: string
  readonly version: number
  readonly uploadId: number
  readonly rows: number
  readonly sha256: string
  readonly createdAt: string
  readonly createdBy: string
}

export function createDataset(db: Db, spec: DatasetSpec, actor: AuditActor): DatasetRecord {
  const createdAt = new Date().toISOString()
  immediate(db, () => {
    if (stmt(db, 'SELECT 1 FROM datasets WHERE id = ?').get(spec.id)) {
      throw new VeilboxError('VEILBOX_ERR_DATASET_EXISTS', `dataset "${spec.id}" exists already; pick another id`, { dataset: spec.id })
    }
    stmt(db, 'INSERT INTO datasets (id, spec, created_at, created_by) VALUES (?, ?, ?, ?)').run(
      spec.id,
      JSON.stringify(spec),
      createdAt,
      actor.principal,
    )
    appendAudit(db, { actor, action: 'dataset.create', outcome: 'ok', dataset: spec.id, detail: { classification: spec.classification } })
  })
  return { spec, createdAt, createdBy: actor.principal }
}

/** Parsed again through the schema: a row edited by hand cannot smuggle in an invalid spec. */
const specs = new ParsedByText<DatasetSpec>((text) => datasetSpecSchema.parse(JSON.parse(text)))

function toRecord(row: { spec: string; created_at: string; created_by: string }): DatasetRecord {
  return { spec: specs.get(row.spec), createdAt: row.created_at, createdBy: row.created_by }
}

export function findDataset(db: Db, id: string): DatasetRecord | null {
  const row = stmt(db, 'SELECT spec, created_at, created_by FROM datasets WHERE id = ?').get(id) as
    | { spec: string; created_at: string; created_by: string }
    | undefined
  return row ? toRecord(row) : null
}

export function getDataset(db: Db, id: string): DatasetRecord {
  const found = findDataset(db, id)
  if (!found) {
    throw new VeilboxError('VEILBOX_ERR_DATASET_NOT_FOUND', `no dataset "${id}"; GET /v1/datasets lists them`, { dataset: id })
  }
  return found
}

export function listDatasets(db: Db): DatasetRecord[] {
  const rows = stmt(db, 'SELECT spec, created_at, created_by FROM datasets ORDER BY id').all() as {
    spec: string
    created_at: string
    created_by: string
  }[]
  return rows.map(toRecord)
}

interface VersionRow {
  dataset_id: string
  version: number
  upload_id: number
  rows: number
  sha256: string
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
    createdAt: r.created_at,
    createdBy: r.created_by,
  }
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
