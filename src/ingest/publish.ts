import type { AuditActor } from '../store/audit.js'
import { newSalt, versionCommitment } from '../store/fingerprint.js'
import type { Sql } from '../store/sql.js'
import { commitVersion } from '../store/uploads.js'

export interface IngestResult {
  readonly version: number
  readonly rows: number
  readonly sha256: string
  readonly commitment: string
}

export interface StagedSummary {
  readonly rows: number
  readonly sha256: string
  /** Coded columns' dictionaries as JSON text. */
  readonly dictionaries: readonly { column: string; json: string }[]
  readonly encryption: { profileId: string; encryptedBy: 'owner' | 'service' } | null
  readonly actor: AuditActor
}

/**
 * Makes a staged upload the dataset's next version, with its audit record,
 * in one transaction: a salted commitment to the fingerprint is what the
 * version publishes (fingerprint.ts).
 */
export async function publishVersion(
  db: Sql,
  dataset: string,
  uploadId: number,
  s: StagedSummary,
): Promise<IngestResult> {
  const salt = newSalt()
  const commitment = versionCommitment(salt, s.sha256)
  const version = await commitVersion(db, {
    dataset,
    uploadId,
    rows: s.rows,
    sha256: s.sha256,
    salt,
    commitment,
    dictionaries: s.dictionaries,
    encryption: s.encryption,
    actor: s.actor,
    detail: s.encryption === null ? {} : { encryptedBy: s.encryption.encryptedBy, profileId: s.encryption.profileId },
  })
  return { version, rows: s.rows, sha256: s.sha256, commitment }
}
