import { createHash } from 'node:crypto'
import type { Level } from '../../schema.js'
import { canonicalJson, type AuditActor } from '../../store/audit.js'
import { getDataset, getVersion } from '../../store/datasets.js'
import { findCertificate, storeCertificate } from '../../store/market.js'
import type { Sql } from '../../store/sql.js'
import { recordLevels } from './dataset.js'
import { signDocument, type Signed, type Signer } from './documents.js'
import { datasetLevel } from './policy.js'

/**
 * Registration certificates (docs/market.md): evidence that a version of a
 * dataset was registered, by whom it is held, at which levels, signed with
 * the service's key. A certificate names the version's commitment, never its
 * content hash, which stays with the owner and the operator.
 */
export interface CertificateBody {
  readonly kind: 'veilbox.certificate'
  readonly dataset: string
  readonly title: string
  readonly version: number
  readonly owner: { readonly id: string; readonly name: string } | null
  readonly level: Level
  readonly levels: Readonly<Record<string, Level>>
  readonly commitment: string
  readonly rows: number
  readonly registeredAt: string
  readonly issuedAt: string
}

export type Certificate = Signed<CertificateBody>

/**
 * The version's certificate: issued once, right after the version commits
 * (and by the first read, should a crash fall between the two), then read
 * back as issued. Levels and owner are those at issue.
 */
export async function certificate(
  db: Sql,
  signer: Signer,
  dataset: string,
  version: number,
  actor: AuditActor,
  now: Date = new Date(),
): Promise<Certificate> {
  const existing = await findCertificate(db, dataset, version)
  if (existing !== null) return JSON.parse(existing) as Certificate
  const record = await getDataset(db, dataset)
  const v = await getVersion(db, dataset, version)
  const levels = recordLevels(record)
  const signed = signDocument<CertificateBody>(
    {
      kind: 'veilbox.certificate',
      dataset,
      title: record.spec.title,
      version,
      owner: record.owner,
      level: datasetLevel(record.spec, levels),
      levels,
      commitment: v.commitment,
      rows: v.rows,
      registeredAt: v.createdAt,
      issuedAt: now.toISOString(),
    },
    signer,
  )
  const digest = createHash('sha256').update(canonicalJson(signed)).digest('hex')
  const stored = await storeCertificate(db, dataset, version, JSON.stringify(signed), actor, {
    certificate: digest,
    keyId: signer.keyId,
  })
  return JSON.parse(stored) as Certificate
}
