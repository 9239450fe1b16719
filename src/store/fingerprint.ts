import { createHmac, randomBytes } from 'node:crypto'

/**
 * A dataset version's commitment: what analysts, answers and receipts carry
 * instead of its content hash. The content hash (sha256 over the version's
 * rows, ingest/fingerprint.ts) is a deterministic function of private rows:
 * an analyst who knows every row but one could recover the missing row's
 * values offline by hashing candidates. The commitment is HMAC-SHA256 keyed
 * with a random 32-byte salt drawn per version (node:crypto) over the content
 * hash in hex. It hides the hash (the salt is secret; two uploads of identical
 * rows get unrelated commitments) and binds to it: the operator opens it to an
 * auditor by handing over the salt and the hash, and the auditor recomputes it.
 */

export const COMMITMENT_ALGORITHM = 'HMAC-SHA256(salt, sha256-hex)'

export function newSalt(): Buffer {
  return randomBytes(32)
}

export function versionCommitment(salt: Uint8Array, sha256Hex: string): string {
  return createHmac('sha256', salt).update(sha256Hex, 'utf8').digest('hex')
}
