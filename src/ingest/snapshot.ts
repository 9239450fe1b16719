import type { SnapshotRequest, SourceService } from '../engine/pushdown/source.js'
import type { AuditActor } from '../store/audit.js'
import { getDataset, getVersion, markSnapshotChanged } from '../store/datasets.js'
import { newSalt, versionCommitment } from '../store/fingerprint.js'
import type { Sql } from '../store/sql.js'
import { commitVersion, discardUpload, startUpload } from '../store/uploads.js'

export interface SnapshotResult {
  readonly version: number
  readonly rows: number
  readonly sha256: string
  readonly commitment: string
  readonly snapshot: Readonly<Record<string, unknown>>
}

/**
 * A sourced dataset's next version: the snapshot checked and measured at the
 * source (engine/pushdown/source.ts), then committed with its audit record in
 * one transaction, as an upload's version is. The version's upload holds no
 * chunk: the rows stay at the source.
 */
export async function registerSnapshot(
  db: Sql,
  sources: SourceService,
  datasetId: string,
  request: SnapshotRequest,
  actor: AuditActor,
): Promise<SnapshotResult> {
  const { spec } = await getDataset(db, datasetId)
  const taken = await sources.takeSnapshot(spec, request)
  const salt = newSalt()
  const commitment = versionCommitment(salt, taken.sha256)
  const uploadId = await startUpload(db, datasetId)
  try {
    const version = await commitVersion(db, {
      dataset: datasetId,
      uploadId,
      rows: taken.rows,
      sha256: taken.sha256,
      salt,
      commitment,
      dictionaries: [],
      encryption: null,
      actor,
      detail: { snapshot: taken.describe },
      source: { snapshot: taken.snapshot, checksum: taken.checksum },
    })
    return { version, rows: taken.rows, sha256: taken.sha256, commitment, snapshot: taken.describe }
  } catch (err) {
    await discardUpload(db, uploadId)
    throw err
  }
}

/**
 * A sourced version read again whole and compared with its registration;
 * a mismatch is recorded (queries on the version are refused from then on).
 */
export async function verifySnapshot(
  db: Sql,
  sources: SourceService,
  datasetId: string,
  version: number,
  actor: AuditActor,
): Promise<{ version: number; matches: boolean; rows: number; registeredRows: number }> {
  const { spec } = await getDataset(db, datasetId)
  const v = await getVersion(db, datasetId, version)
  const result = await sources.verify(spec, v)
  if (!result.matches)
    await markSnapshotChanged(db, datasetId, version, actor, {
      rows: result.rows,
      registeredRows: v.rows,
      checksum: result.checksum,
    })
  return { version, matches: result.matches, rows: result.rows, registeredRows: v.rows }
}
