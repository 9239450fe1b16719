import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

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
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16)
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
  const privateKey = createPrivateKey(fs.readFileSync(file, 'utf8'))
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`${file} does not hold an Ed25519 key`)
  const publicKey = createPublicKey(privateKey)
  return {
    keyId: keyIdOf(publicKey),
    privateKey,
    publicKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
    createdAt: fs.statSync(file).mtime.toISOString(),
  }
}
