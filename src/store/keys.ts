import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { VeilboxError } from '../errors/index.js'
import { appendAudit, type AuditActor } from './audit.js'
import { immediate, type Db } from './db.js'
import { stmt } from './statements.js'

export const ROLES = ['operator', 'analyst', 'custodian'] as const
export type Role = (typeof ROLES)[number]

export interface Principal {
  readonly name: string
  readonly role: Role
  readonly keyId: string
}

export interface KeyInfo {
  readonly keyId: string
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

export function createKey(
  db: Db,
  input: { name: string; role: Role },
  actor: AuditActor,
): { key: string; keyId: string; name: string; role: Role } {
  const keyId = randomBytes(6).toString('hex')
  const key = `vbx_${keyId}_${randomBytes(32).toString('base64url')}`
  immediate(db, () => {
    const taken = stmt(db, 'SELECT 1 FROM api_keys WHERE name = ? AND revoked_at IS NULL').get(input.name)
    if (taken) {
      throw new VeilboxError(
        'VEILBOX_ERR_KEY_NAME_TAKEN',
        `an active key named "${input.name}" exists; revoke it first (DELETE /v1/keys/${input.name}) or choose another name`,
        { name: input.name },
      )
    }
    stmt(db, 
      'INSERT INTO api_keys (key_id, name, role, key_hash, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)',
    ).run(keyId, input.name, input.role, hashKey(key), new Date().toISOString(), actor.principal)
    appendAudit(db, { actor, action: 'key.create', outcome: 'ok', detail: { name: input.name, role: input.role, keyId } })
  })
  return { key, keyId, name: input.name, role: input.role }
}

export function authenticate(db: Db, presented: string): Principal | null {
  const m = KEY_PATTERN.exec(presented)
  if (!m) return null
  const row = stmt(db, 'SELECT key_id, name, role, key_hash FROM api_keys WHERE key_id = ? AND revoked_at IS NULL')
    .get(m[1]) as { key_id: string; name: string; role: Role; key_hash: Buffer } | undefined
  if (!row) return null
  return timingSafeEqual(hashKey(presented), row.key_hash) ? { name: row.name, role: row.role, keyId: row.key_id } : null
}

export function listKeys(db: Db): KeyInfo[] {
  const rows = stmt(db, 'SELECT key_id, name, role, created_at, created_by FROM api_keys WHERE revoked_at IS NULL ORDER BY name')
    .all() as { key_id: string; name: string; role: Role; created_at: string; created_by: string }[]
  return rows.map((r) => ({ keyId: r.key_id, name: r.name, role: r.role, createdAt: r.created_at, createdBy: r.created_by }))
}

export function revokeKey(db: Db, name: string, actor: AuditActor): KeyInfo {
  return immediate(db, () => {
    const row = stmt(db, 'SELECT key_id, name, role, created_at, created_by FROM api_keys WHERE name = ? AND revoked_at IS NULL')
      .get(name) as { key_id: string; name: string; role: Role; created_at: string; created_by: string } | undefined
    if (!row) throw new VeilboxError('VEILBOX_ERR_KEY_NOT_FOUND', `no active key named "${name}"`, { name })
    stmt(db, 'UPDATE api_keys SET revoked_at = ? WHERE key_id = ?').run(new Date().toISOString(), row.key_id)
    appendAudit(db, { actor, action: 'key.revoke', outcome: 'ok', detail: { name, role: row.role, keyId: row.key_id } })
    return { keyId: row.key_id, name: row.name, role: row.role, createdAt: row.created_at, createdBy: row.created_by }
  })
}

export function countKeys(db: Db, role?: Role): number {
  const row = (
    role === undefined
      ? stmt(db, 'SELECT COUNT(*) AS n FROM api_keys WHERE revoked_at IS NULL').get()
      : stmt(db, 'SELECT COUNT(*) AS n FROM api_keys WHERE revoked_at IS NULL AND role = ?').get(role)
  ) as { n: number }
  return row.n
}
