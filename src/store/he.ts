import { VeilboxError } from '../errors/index.js'
import { appendAudit, type AuditActor } from './audit.js'
import type { Sql } from './sql.js'

/**
 * HE public material as the store keeps it: a profile's JSON text and id, and
 * per SEAL context the public key, the Galois keys and their steps, as bytes.
 * The store does not read them (engine/he/material.ts does); there is no
 * column, table or function here that could hold a secret key.
 */

export interface StoredHeKeys {
  readonly dataset: string
  readonly profileId: string
  /** The profile's canonical JSON, as the engine wrote it. */
  readonly profileJson: string
  readonly createdAt: string
  readonly createdBy: string
  /** Bytes of public and Galois keys. */
  readonly publicBytes: number
}

export interface StoredContextKeys {
  readonly publicKey: Uint8Array
  readonly galoisKeys: Uint8Array
  readonly galoisSteps: readonly number[]
}

/** Stores a dataset's public material once, with its audit record; a second time is refused. */
export async function insertHeKeys(
  db: Sql,
  input: { dataset: string; profileId: string; profileJson: string; contexts: readonly StoredContextKeys[] },
  actor: AuditActor,
  action: 'he.keys.create' | 'he.keys.import',
  detail: Readonly<Record<string, unknown>>,
): Promise<StoredHeKeys> {
  const createdAt = new Date().toISOString()
  const publicBytes = input.contexts.reduce((n, c) => n + c.publicKey.length + c.galoisKeys.length, 0)
  await db.transaction(async (db) => {
    if (await db.get('SELECT 1 FROM he_keys WHERE dataset_id = $1', [input.dataset])) {
      throw new VeilboxError(
        'VEILBOX_ERR_CUSTODIAN_KEYS_EXIST',
        `dataset ${input.dataset} has HE keys already; they are never replaced, because its ciphertexts depend on them`,
        {
          dataset: input.dataset,
        },
      )
    }
    await db.run(
      'INSERT INTO he_keys (dataset_id, profile_id, profile, created_at, created_by) VALUES ($1, $2, $3, $4, $5)',
      [input.dataset, input.profileId, input.profileJson, createdAt, actor.principal],
    )
    for (const [i, c] of input.contexts.entries()) {
      await db.run(
        'INSERT INTO he_public_keys (dataset_id, context, public_key, galois_keys, galois_steps) VALUES ($1, $2, $3, $4, $5)',
        [input.dataset, i, Buffer.from(c.publicKey), Buffer.from(c.galoisKeys), JSON.stringify(c.galoisSteps)],
      )
    }
    await appendAudit(db, { actor, action, outcome: 'ok', dataset: input.dataset, detail: { ...detail, publicBytes } })
  })
  return {
    dataset: input.dataset,
    profileId: input.profileId,
    profileJson: input.profileJson,
    createdAt,
    createdBy: actor.principal,
    publicBytes,
  }
}

export async function findStoredHeKeys(db: Sql, dataset: string): Promise<StoredHeKeys | null> {
  const row = await db.get<{ profile_id: string; profile: string; created_at: string; created_by: string }>(
    'SELECT profile_id, profile, created_at, created_by FROM he_keys WHERE dataset_id = $1',
    [dataset],
  )
  if (!row) return null
  const bytes =
    (await db.value<number>(
      'SELECT COALESCE(SUM(length(public_key) + length(galois_keys)), 0) AS n FROM he_public_keys WHERE dataset_id = $1',
      [dataset],
    )) ?? 0
  return {
    dataset,
    profileId: row.profile_id,
    profileJson: row.profile,
    createdAt: row.created_at,
    createdBy: row.created_by,
    publicBytes: bytes,
  }
}

/** Per context, in order. */
export async function storedContextKeys(db: Sql, dataset: string): Promise<StoredContextKeys[]> {
  const rows = await db.all<{ context: number; public_key: Buffer; galois_keys: Buffer; galois_steps: string }>(
    'SELECT context, public_key, galois_keys, galois_steps FROM he_public_keys WHERE dataset_id = $1 ORDER BY context',
    [dataset],
  )
  return rows.map((r) => ({
    publicKey: new Uint8Array(r.public_key),
    galoisKeys: new Uint8Array(r.galois_keys),
    galoisSteps: JSON.parse(r.galois_steps) as number[],
  }))
}

/** How an upload's he columns were encrypted, or null for an upload without he columns. */
export async function uploadEncryption(
  db: Sql,
  uploadId: number,
): Promise<{ profileId: string; encryptedBy: 'owner' | 'service' } | null> {
  const row = await db.get<{ profile_id: string; encrypted_by: 'owner' | 'service' }>(
    'SELECT profile_id, encrypted_by FROM he_uploads WHERE upload_id = $1',
    [uploadId],
  )
  return row ? { profileId: row.profile_id, encryptedBy: row.encrypted_by } : null
}
