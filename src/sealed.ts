import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import { VeilboxError } from './errors/index.js'

/**
 * Sealing for keys every node of a cluster must share but no database reader
 * may use: the receipt and audit-head signing key is stored in PostgreSQL
 * sealed under a secret each node is given (VEILBOX_SECRET_FILE or
 * VEILBOX_SECRET), never in the database. AES-256-GCM under a key derived
 * from the secret with HKDF-SHA256; the output reads `vbs1`, a 12-byte
 * nonce, the 16-byte tag and the ciphertext. docs/deploy.md says how to
 * rotate the secret (`veilbox secret rotate`).
 */

const MAGIC = Buffer.from('vbs1')

export interface Sealer {
  seal(plain: Buffer): Buffer
  /** The plaintext, or VEILBOX_ERR_CONFIG_SECRET_MISMATCH when the bytes were sealed under another secret (or altered). */
  open(sealed: Buffer): Buffer
}

/** The least a secret may hold: 32 bytes (a file of 64 hex digits, or any 32 characters or more). */
export const MIN_SECRET_BYTES = 32

export function sealerFromSecret(secret: Buffer): Sealer {
  if (secret.length < MIN_SECRET_BYTES) {
    throw new VeilboxError(
      'VEILBOX_ERR_CONFIG_INVALID',
      `the sealing secret holds ${secret.length} bytes; it needs at least ${MIN_SECRET_BYTES} (for example: openssl rand -hex 32 > secret)`,
      {
        problems: ['VEILBOX_SECRET_FILE: too short'],
      },
    )
  }
  const key = Buffer.from(hkdfSync('sha256', secret, Buffer.from('veilbox sealed service keys'), Buffer.from('v1'), 32))
  return {
    seal(plain) {
      const nonce = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', key, nonce)
      const body = Buffer.concat([cipher.update(plain), cipher.final()])
      return Buffer.concat([MAGIC, nonce, cipher.getAuthTag(), body])
    },
    open(sealed) {
      try {
        if (!sealed.subarray(0, 4).equals(MAGIC)) throw new Error('not sealed by veilbox')
        const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(4, 16))
        decipher.setAuthTag(sealed.subarray(16, 32))
        return Buffer.concat([decipher.update(sealed.subarray(32)), decipher.final()])
      } catch {
        throw new VeilboxError(
          'VEILBOX_ERR_CONFIG_SECRET_MISMATCH',
          "the service key stored in the database was sealed under another secret: give this node the cluster's VEILBOX_SECRET_FILE (after a rotation, the new one)",
        )
      }
    },
  }
}

/** The secret from a file (trailing whitespace dropped) or the variable's text. */
export function readSecret(source: { file?: string | null; value?: string | null }): Buffer | null {
  if (source.file) {
    let text: string
    try {
      text = fs.readFileSync(source.file, 'utf8')
    } catch (err) {
      throw new VeilboxError(
        'VEILBOX_ERR_CONFIG_INVALID',
        `cannot read the sealing secret ${source.file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
        {
          problems: ['VEILBOX_SECRET_FILE: unreadable'],
        },
      )
    }
    return Buffer.from(text.trimEnd(), 'utf8')
  }
  if (source.value) return Buffer.from(source.value, 'utf8')
  return null
}
