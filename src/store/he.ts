import { createHash } from 'node:crypto'
import { VeilboxError } from '../errors/index.js'
import { galoisSteps } from '../engine/he/keys.js'
import { profileFromJson, profileToJson, type HeProfile } from '../engine/he/profile.js'
import type { PublicMaterial } from '../engine/he/types.js'
import type { DatasetSpec } from '../schema.js'
import { appendAudit, type AuditActor } from './audit.js'
import { immediate, type Db } from './db.js'
import { stmt } from './statements.js'
import { ParsedByText } from './parsed.js'

/**
 * The compute service's side of HE keys: the public material a custodian
 * published for a dataset (profile, public keys, Galois keys), kept in the
 * service's own database. There is no column, table or function here that
 * could hold a secret key; the custodian keeps those.
 */

export interface HeKeysRecord {
  readonly dataset: string
  readonly profile: HeProfile
  readonly createdAt: string
  readonly createdBy: string
  /** Bytes of public and Galois keys. */
  readonly publicBytes: number
}

function keysMissing(dataset: string): VeilboxError {
  return new VeilboxError(
    'VEILBOX_ERR_HE_KEYS_MISSING',
    `dataset ${dataset} has encrypted (he) columns but no HE keys yet; a custodian creates them with POST /v1/datasets/${dataset}/he/keys`,
    { dataset },
  )
}

/**
 * A profile a custodian returned must be for this dataset's he columns as
 * declared: same names, types, bounds and scales. Otherwise the capacity rule
 * and the sensitivities would be computed for another column.
 */
export function checkProfileFitsSpec(profile: HeProfile, spec: DatasetSpec): void {
  const he = spec.columns.filter((c) => c.protection === 'he')
  const problems: string[] = []
  if (profile.dataset !== spec.id) problems.push(`it is for dataset ${profile.dataset}`)
  if (profile.columns.length !== he.length) problems.push(`it has ${profile.columns.length} he columns, the dataset ${he.length}`)
  for (const c of he) {
    const p = profile.columns.find((x) => x.name === c.name)
    if (p === undefined) {
      problems.push(`it lacks column ${c.name}`)
      continue
    }
    if (p.type !== c.type || p.lower !== c.lower || p.upper !== c.upper || (p.scheme === 'bfv' && p.scale !== (c.scale ?? 0))) {
      problems.push(`its column ${c.name} is declared differently (type, bounds or scale)`)
    }
  }
  if (problems.length > 0) {
    throw new VeilboxError('VEILBOX_ERR_HE_INVALID_PARAMETERS', `the custodian's HE profile does not fit dataset ${spec.id}: ${problems.join('; ')}`, { dataset: spec.id })
  }
}

/** Stores the public material of a dataset, once, with its audit record. */
export function storeHeKeys(db: Db, spec: DatasetSpec, material: PublicMaterial, actor: AuditActor, action: 'he.keys.create' | 'he.keys.import'): HeKeysRecord {
  checkProfileFitsSpec(material.profile, spec)
  const profile = material.profile
  if (material.contexts.length !== profile.contexts.length) {
    throw new VeilboxError('VEILBOX_ERR_HE_INVALID_PARAMETERS', `the public material has keys for ${material.contexts.length} contexts; the profile has ${profile.contexts.length}`)
  }
  material.contexts.forEach((c, i) => {
    if (c.galoisSteps.join(',') !== galoisSteps(profile.contexts[i]!).join(',')) {
      throw new VeilboxError('VEILBOX_ERR_HE_INVALID_PARAMETERS', `the Galois keys of context ${i} are for other rotations than rotate-and-sum uses`)
    }
  })
  const createdAt = new Date().toISOString()
  const publicBytes = material.contexts.reduce((n, c) => n + c.publicKey.length + c.galoisKeys.length, 0)
  immediate(db, () => {
    if (stmt(db, 'SELECT 1 FROM he_keys WHERE dataset_id = ?').get(spec.id)) {
      throw new VeilboxError('VEILBOX_ERR_CUSTODIAN_KEYS_EXIST', `dataset ${spec.id} has HE keys already; they are never replaced, because its ciphertexts depend on them`, { dataset: spec.id })
    }
    stmt(db, 'INSERT INTO he_keys (dataset_id, profile_id, profile, created_at, created_by) VALUES (?, ?, ?, ?, ?)').run(
      spec.id,
      profile.id,
      profileToJson(profile),
      createdAt,
      actor.principal,
    )
    const insert = stmt(db, 'INSERT INTO he_public_keys (dataset_id, context, public_key, galois_keys, galois_steps) VALUES (?, ?, ?, ?, ?)')
    material.contexts.forEach((c, i) => insert.run(spec.id, i, Buffer.from(c.publicKey), Buffer.from(c.galoisKeys), JSON.stringify(c.galoisSteps)))
    appendAudit(db, { actor, action, outcome: 'ok', dataset: spec.id, detail: { profileId: profile.id, contexts: profile.contexts.length, maxRows: profile.maxRows, publicBytes } })
  })
  return { dataset: spec.id, profile, createdAt, createdBy: actor.principal, publicBytes }
}

/** Parsed and re-hashed whenever the text differs: a row edited by hand cannot pass for the custodian's profile. */
const profiles = new ParsedByText<HeProfile>(profileFromJson, 64)

export function findHeKeys(db: Db, dataset: string): HeKeysRecord | null {
  const row = stmt(db, 'SELECT profile, created_at, created_by FROM he_keys WHERE dataset_id = ?').get(dataset) as
    | { profile: string; created_at: string; created_by: string }
    | undefined
  if (!row) return null
  const bytes = stmt(db, 'SELECT COALESCE(SUM(length(public_key) + length(galois_keys)), 0) AS n FROM he_public_keys WHERE dataset_id = ?', 'pluck').get(dataset) as number
  return { dataset, profile: profiles.get(row.profile), createdAt: row.created_at, createdBy: row.created_by, publicBytes: bytes }
}

/** The dataset's profile, or HE_KEYS_MISSING. */
export function heProfileOf(db: Db, dataset: string): HeProfile {
  const keys = findHeKeys(db, dataset)
  if (keys === null) throw keysMissing(dataset)
  return keys.profile
}

/** Profile, public and Galois keys: what the service encrypts plaintext uploads with and its workers compute with. */
export function heMaterial(db: Db, dataset: string): PublicMaterial {
  const profile = heProfileOf(db, dataset)
  const rows = stmt(db, 'SELECT context, public_key, galois_keys, galois_steps FROM he_public_keys WHERE dataset_id = ? ORDER BY context').all(dataset) as {
    context: number
    public_key: Buffer
    galois_keys: Buffer
    galois_steps: string
  }[]
  return {
    dataset,
    profile,
    contexts: rows.map((r) => ({ publicKey: new Uint8Array(r.public_key), galoisKeys: new Uint8Array(r.galois_keys), galoisSteps: JSON.parse(r.galois_steps) as number[] })),
  }
}

/**
 * What a sandbox worker needs to compute on a profile's ciphertexts: the
 * profile (re-validated in the worker), the Galois keys and the public keys
 * (for the fresh encryption of zero every aggregate gets), in shared memory
 * so that posting them to a worker per task copies nothing. `id` names the
 * exact key material (profile and key bytes), which is what workers cache
 * their loaded keys by.
 */
export interface HeWorkerMaterial {
  readonly id: string
  readonly profileId: string
  readonly profile: string
  readonly galois: readonly { readonly keys: Uint8Array; readonly steps: readonly number[]; readonly publicKey: Uint8Array }[]
  readonly bytes: number
}

export function loadWorkerMaterial(db: Db, dataset: string): HeWorkerMaterial {
  const m = heMaterial(db, dataset)
  const total = m.contexts.reduce((n, c) => n + c.galoisKeys.length + c.publicKey.length, 0)
  const sab = new SharedArrayBuffer(Math.max(1, total))
  const hash = createHash('sha256').update(m.profile.id)
  let offset = 0
  const share = (bytes: Uint8Array): Uint8Array => {
    const view = new Uint8Array(sab, offset, bytes.length)
    view.set(bytes)
    hash.update(bytes)
    offset += bytes.length
    return view
  }
  const galois = m.contexts.map((c) => ({ keys: share(c.galoisKeys), steps: c.galoisSteps, publicKey: share(c.publicKey) }))
  return { id: hash.digest('hex'), profileId: m.profile.id, profile: profileToJson(m.profile), galois, bytes: total }
}

/** How an upload's he columns were encrypted, or null for an upload without he columns. */
export function uploadEncryption(db: Db, uploadId: number): { profileId: string; encryptedBy: 'owner' | 'service' } | null {
  const row = stmt(db, 'SELECT profile_id, encrypted_by FROM he_uploads WHERE upload_id = ?').get(uploadId) as
    | { profile_id: string; encrypted_by: 'owner' | 'service' }
    | undefined
  return row ? { profileId: row.profile_id, encryptedBy: row.encrypted_by } : null
}
