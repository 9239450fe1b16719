import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import type { Sql } from './sql.js'

/**
 * The service's receipt-signing key: Ed25519, made at first start and kept in
 * the data directory with mode 0600. Its public half is published
 * (GET /v1/receipts/keys) so anyone can check a receipt offline.
 */
export const RECEIPT_KEY_FILE = 'receipt-signing-key.pem'

export interface SigningKey {
  readonly keyId: string
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
  /** SubjectPublicKeyInfo, PEM. */
  readonly publicKeyPem: string
  readonly createdAt: string
}

/** A key id names a public key: the first 16 hex digits of SHA-256 over its DER form. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16)
}

export function loadOrCreateSigningKey(dataDir: string): SigningKey {
  const file = path.join(dataDir, RECEIPT_KEY_FILE)
  if (!fs.existsSync(file)) {
    const { privateKey } = generateKeyPairSync('ed25519')
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
    // Exclusive create: two processes starting together keep the first key.
    try {
      fs.writeFileSync(file, pem, { mode: 0o600, flag: 'wx' })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
  }
  return signingKeyOf(createPrivateKey(fs.readFileSync(file, 'utf8')), file, fs.statSync(file).mtime.toISOString())
}

/** The name the signing key is stored under in service_keys. */
const SIGNING_KEY_NAME = 'receipt-signing-key'

/**
 * The signing key every node of a cluster shares: kept in the database,
 * sealed by `box` (the store keeps bytes it cannot read). The first node to
 * start makes it; the others, and every later start, open it.
 */
export async function loadOrCreateStoredSigningKey(
  db: Sql,
  box: { seal(plain: Buffer): Buffer; open(sealed: Buffer): Buffer },
): Promise<SigningKey> {
  let row = await db.get<{ sealed: Buffer; created_at: string }>(
    'SELECT sealed, created_at FROM service_keys WHERE name = $1',
    [SIGNING_KEY_NAME],
  )
  if (row === undefined) {
    const { privateKey } = generateKeyPairSync('ed25519')
    const pem = Buffer.from(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string)
    // Two nodes starting together: the first insert stands, and both read it back.
    await db.run(
      'INSERT INTO service_keys (name, sealed, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING',
      [SIGNING_KEY_NAME, box.seal(pem), new Date().toISOString()],
    )
    row = (await db.get<{ sealed: Buffer; created_at: string }>(
      'SELECT sealed, created_at FROM service_keys WHERE name = $1',
      [SIGNING_KEY_NAME],
    ))!
  }
  return signingKeyOf(createPrivateKey(box.open(row.sealed).toString('utf8')), 'the stored signing key', row.created_at)
}

/** Seals the stored signing key again under another secret, in one statement (`veilbox secret rotate`). */
export async function resealStoredKeys(
  db: Sql,
  from: { open(sealed: Buffer): Buffer },
  to: { seal(plain: Buffer): Buffer },
): Promise<number> {
  return db.transaction(async (tx) => {
    const rows = await tx.all<{ name: string; sealed: Buffer }>(
      'SELECT name, sealed FROM service_keys ORDER BY name FOR UPDATE',
    )
    for (const r of rows)
      await tx.run('UPDATE service_keys SET sealed = $1 WHERE name = $2', [to.seal(from.open(r.sealed)), r.name])
    return rows.length
  })
}

function signingKeyOf(privateKey: KeyObject, where: string, createdAt: string): SigningKey {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`${where} does not hold an Ed25519 key`)
  const publicKey = createPublicKey(privateKey)
  return {
    keyId: keyIdOf(publicKey),
    privateKey,
    publicKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
    createdAt,
  }
}

/**
 * The service's signing key where this deployment keeps it: the key file in
 * the data directory (SQLite, one node), or the sealed key in the database
 * (PostgreSQL, shared by every node; `box` opens it).
 */
export async function serviceSigningKey(
  where: { dataDir: string; databaseUrl: string | null },
  db: Sql,
  box: () => { seal(plain: Buffer): Buffer; open(sealed: Buffer): Buffer },
): Promise<SigningKey> {
  return where.databaseUrl === null ? loadOrCreateSigningKey(where.dataDir) : loadOrCreateStoredSigningKey(db, box())
}
