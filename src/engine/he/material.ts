import { createHash } from 'node:crypto'
import { VeilboxError } from '../../errors/index.js'
import type { DatasetSpec } from '../../schema.js'
import type { AuditActor } from '../../store/audit.js'
import type { Sql } from '../../store/sql.js'
import { findStoredHeKeys, insertHeKeys, storedContextKeys } from '../../store/he.js'
import { ParsedByText } from '../../store/parsed.js'
import { galoisSteps } from './keys.js'
import { profileFromJson, profileToJson, type HeProfile } from './profile.js'
import type { PublicMaterial } from './types.js'

/**
 * The compute service's side of HE keys: the public material a custodian
 * published for a dataset (profile, public keys, Galois keys), checked here
 * and kept in the service's own database (store/he.ts, as bytes and text).
 * There is no field here that could hold a secret key; the custodian keeps
 * those.
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
  if (profile.columns.length !== he.length)
    problems.push(`it has ${profile.columns.length} he columns, the dataset ${he.length}`)
  for (const c of he) {
    const p = profile.columns.find((x) => x.name === c.name)
    if (p === undefined) {
      problems.push(`it lacks column ${c.name}`)
      continue
    }
    if (
      p.type !== c.type ||
      p.lower !== c.lower ||
      p.upper !== c.upper ||
      (p.scheme === 'bfv' && p.scale !== (c.scale ?? 0))
    ) {
      problems.push(`its column ${c.name} is declared differently (type, bounds or scale)`)
    }
  }
  if (problems.length > 0) {
    throw new VeilboxError(
      'VEILBOX_ERR_HE_INVALID_PARAMETERS',
      `the custodian's HE profile does not fit dataset ${spec.id}: ${problems.join('; ')}`,
      { dataset: spec.id },
    )
  }
}

/** Stores the public material of a dataset, once, with its audit record, after checking it fits the dataset. */
export async function storeHeKeys(
  db: Sql,
  spec: DatasetSpec,
  material: PublicMaterial,
  actor: AuditActor,
  action: 'he.keys.create' | 'he.keys.import',
): Promise<HeKeysRecord> {
  checkProfileFitsSpec(material.profile, spec)
  const profile = material.profile
  if (material.contexts.length !== profile.contexts.length) {
    throw new VeilboxError(
      'VEILBOX_ERR_HE_INVALID_PARAMETERS',
      `the public material has keys for ${material.contexts.length} contexts; the profile has ${profile.contexts.length}`,
    )
  }
  material.contexts.forEach((c, i) => {
    if (c.galoisSteps.join(',') !== galoisSteps(profile.contexts[i]!).join(',')) {
      throw new VeilboxError(
        'VEILBOX_ERR_HE_INVALID_PARAMETERS',
        `the Galois keys of context ${i} are for other rotations than rotate-and-sum uses`,
      )
    }
  })
  const stored = await insertHeKeys(
    db,
    { dataset: spec.id, profileId: profile.id, profileJson: profileToJson(profile), contexts: material.contexts },
    actor,
    action,
    {
      profileId: profile.id,
      contexts: profile.contexts.length,
      maxRows: profile.maxRows,
    },
  )
  return {
    dataset: spec.id,
    profile,
    createdAt: stored.createdAt,
    createdBy: stored.createdBy,
    publicBytes: stored.publicBytes,
  }
}

/** Parsed and re-hashed whenever the text differs: a row edited by hand cannot pass for the custodian's profile. */
const profiles = new ParsedByText<HeProfile>(profileFromJson, 64)

export async function findHeKeys(db: Sql, dataset: string): Promise<HeKeysRecord | null> {
  const row = await findStoredHeKeys(db, dataset)
  if (!row) return null
  return {
    dataset,
    profile: profiles.get(row.profileJson),
    createdAt: row.createdAt,
    createdBy: row.createdBy,
    publicBytes: row.publicBytes,
  }
}

/** The dataset's profile, or HE_KEYS_MISSING. */
export async function heProfileOf(db: Sql, dataset: string): Promise<HeProfile> {
  const keys = await findHeKeys(db, dataset)
  if (keys === null) throw keysMissing(dataset)
  return keys.profile
}

/** Profile, public and Galois keys: what the service encrypts plaintext uploads with and its workers compute with. */
export async function heMaterial(db: Sql, dataset: string): Promise<PublicMaterial> {
  return { dataset, profile: await heProfileOf(db, dataset), contexts: await storedContextKeys(db, dataset) }
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
  readonly galois: readonly {
    readonly keys: Uint8Array
    readonly steps: readonly number[]
    readonly publicKey: Uint8Array
  }[]
  readonly bytes: number
}

export async function loadWorkerMaterial(db: Sql, dataset: string): Promise<HeWorkerMaterial> {
  const m = await heMaterial(db, dataset)
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
  const galois = m.contexts.map((c) => ({
    keys: share(c.galoisKeys),
    steps: c.galoisSteps,
    publicKey: share(c.publicKey),
  }))
  return { id: hash.digest('hex'), profileId: m.profile.id, profile: profileToJson(m.profile), galois, bytes: total }
}
