import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { VeilboxError } from '../errors/index.js'
import { appendAudit, type AuditActor } from './audit.js'
import { newPrincipalId } from './migrations.js'
import type { Sql } from './sql.js'

export const ROLES = ['operator', 'analyst', 'custodian', 'owner'] as const
export type Role = (typeof ROLES)[number]

/**
 * Who a key speaks for. `id` is stable and is what grants, answers and rate
 * limits belong to; `name` is the label people use. A name revoked and issued
 * again is a new principal (a new id); rotating a key keeps the principal.
 */
export interface Principal {
  readonly id: string
  readonly name: string
  readonly role: Role
  readonly keyId: string
}

export interface KeyInfo {
  readonly keyId: string
  readonly principalId: string
  readonly name: string
  readonly role: Role
  readonly createdAt: string
  readonly createdBy: string
}

/**
 * A key reads `vbx_<keyId>_<secret>`. The key id is public (it names the key in
 * logs and lists); only SHA-256 of the whole key is stored, and the presented
 * key's hash is compared with it in constant time after a lookup by key id, so
 * the comparison time says nothing about how much of the secret matched.
 */
const KEY_PATTERN = /^vbx_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/

function hashKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest()
}

export const SYSTEM_ACTOR: AuditActor = { principal: 'system', role: 'system' }

function newKey(): { keyId: string; key: string } {
  const keyId = randomBytes(6).toString('hex')
  return { keyId, key: `vbx_${keyId}_${randomBytes(32).toString('base64url')}` }
}

export interface CreatedKey {
  readonly key: string
  readonly keyId: string
  readonly principalId: string
  readonly name: string
  readonly role: Role
}

/**
 * A key for a new principal named `name`. A name whose key was revoked can be
 * issued again, but that makes a new principal: nothing of the old one's
 * (grants, answers, rate-limit bucket) goes with the name. To give the same
 * principal a new key, rotate it (rotateKey).
 */
export async function createKey(db: Sql, input: { name: string; role: Role }, actor: AuditActor): Promise<CreatedKey> {
  const { keyId, key } = newKey()
  const principalId = newPrincipalId()
  const now = new Date().toISOString()
  await db.transaction(async (db) => {
    const taken = await db.get('SELECT 1 FROM api_keys WHERE name = $1 AND revoked_at IS NULL', [input.name])
    if (taken) {
      throw new VeilboxError(
        'VEILBOX_ERR_KEY_NAME_TAKEN',
        `an active key named "${input.name}" exists; rotate it (POST /v1/keys/${input.name}/rotate), revoke it first (DELETE /v1/keys/${input.name}) or choose another name`,
        { name: input.name },
      )
    }
    await db.run('INSERT INTO principals (id, name, role, created_at, created_by) VALUES ($1, $2, $3, $4, $5)', [
      principalId,
      input.name,
      input.role,
      now,
      actor.principal,
    ])
    // Two nodes creating the same name at once: the unique index on active names refuses the second, whole.
    await db.run(
      'INSERT INTO api_keys (key_id, principal_id, name, role, key_hash, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [keyId, principalId, input.name, input.role, hashKey(key), now, actor.principal],
    )
    await appendAudit(db, {
      actor,
      action: 'key.create',
      outcome: 'ok',
      detail: { name: input.name, role: input.role, keyId, principal: principalId },
    })
  })
  return { key, keyId, principalId, name: input.name, role: input.role }
}

/** A new key for the principal that holds the active key `name` (same id, role, grants and answers); the old key is revoked in the same transaction. */
export async function rotateKey(db: Sql, name: string, actor: AuditActor): Promise<CreatedKey> {
  const { keyId, key } = newKey()
  return db.transaction(async (db) => {
    const row = await db.get<{ key_id: string; principal_id: string; role: Role }>(
      'SELECT key_id, principal_id, role FROM api_keys WHERE name = $1 AND revoked_at IS NULL FOR UPDATE',
      [name],
    )
    if (!row) throw new VeilboxError('VEILBOX_ERR_KEY_NOT_FOUND', `no active key named "${name}" to rotate`, { name })
    const now = new Date().toISOString()
    await db.run('UPDATE api_keys SET revoked_at = $1 WHERE key_id = $2', [now, row.key_id])
    await db.run(
      'INSERT INTO api_keys (key_id, principal_id, name, role, key_hash, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [keyId, row.principal_id, name, row.role, hashKey(key), now, actor.principal],
    )
    await appendAudit(db, {
      actor,
      action: 'key.rotate',
      outcome: 'ok',
      detail: { name, role: row.role, keyId, previous: row.key_id, principal: row.principal_id },
    })
    return { key, keyId, principalId: row.principal_id, name, role: row.role }
  })
}

export async function authenticate(db: Sql, presented: string): Promise<Principal | null> {
  const m = KEY_PATTERN.exec(presented)
  if (!m) return null
  const row = await db.get<{ key_id: string; principal_id: string; name: string; role: Role; key_hash: Buffer }>(
    'SELECT key_id, principal_id, name, role, key_hash FROM api_keys WHERE key_id = $1 AND revoked_at IS NULL',
    [m[1]!],
  )
  if (!row) return null
  return timingSafeEqual(hashKey(presented), row.key_hash)
    ? { id: row.principal_id, name: row.name, role: row.role, keyId: row.key_id }
    : null
}

type KeyRow = { key_id: string; principal_id: string; name: string; role: Role; created_at: string; created_by: string }
const keyInfo = (r: KeyRow): KeyInfo => ({
  keyId: r.key_id,
  principalId: r.principal_id,
  name: r.name,
  role: r.role,
  createdAt: r.created_at,
  createdBy: r.created_by,
})

export async function listKeys(db: Sql): Promise<KeyInfo[]> {
  const rows = await db.all<KeyRow>(
    'SELECT key_id, principal_id, name, role, created_at, created_by FROM api_keys WHERE revoked_at IS NULL ORDER BY name',
  )
  return rows.map(keyInfo)
}

export async function revokeKey(db: Sql, name: string, actor: AuditActor): Promise<KeyInfo> {
  return db.transaction(async (db) => {
    const row = await db.get<KeyRow>(
      'SELECT key_id, principal_id, name, role, created_at, created_by FROM api_keys WHERE name = $1 AND revoked_at IS NULL FOR UPDATE',
      [name],
    )
    if (!row) throw new VeilboxError('VEILBOX_ERR_KEY_NOT_FOUND', `no active key named "${name}"`, { name })
    await db.run('UPDATE api_keys SET revoked_at = $1 WHERE key_id = $2', [new Date().toISOString(), row.key_id])
    await appendAudit(db, {
      actor,
      action: 'key.revoke',
      outcome: 'ok',
      detail: { name, role: row.role, keyId: row.key_id, principal: row.principal_id },
    })
    return keyInfo(row)
  })
}

export async function countKeys(db: Sql, role?: Role): Promise<number> {
  return (
    (await db.value<number>(
      'SELECT COUNT(*) AS n FROM api_keys WHERE revoked_at IS NULL AND ($1::text IS NULL OR role = $1)',
      [role ?? null],
    )) ?? 0
  )
}
