import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import { canonicalJson } from '../store/audit.js'
import { keyIdOf } from '../store/receipt-keys.js'

/**
 * Signed receipts: every released answer carries one, so that a released
 * number can be checked later, offline, with only the published public key.
 * The signature (Ed25519) covers the canonical JSON of every other field; the
 * result hash covers what was released (columns, rows, intervals, confidence).
 */

export interface ReceiptBody {
  readonly queryId: string
  readonly dataset: string
  readonly version: number
  readonly datasetSha256: string
  readonly queryHash: string
  readonly resultHash: string
  readonly privacy: unknown
  readonly time: string
  readonly auditSeq: number
  readonly keyId: string
}

export interface Receipt extends ReceiptBody {
  /** Ed25519 over canonicalJson(body), base64. */
  readonly signature: string
}

export interface ReleasedResult {
  readonly columns: readonly string[]
  readonly rows: readonly (readonly unknown[])[]
  readonly intervals: readonly unknown[]
  readonly confidence: number
}

export function resultHash(r: ReleasedResult): string {
  return createHash('sha256')
    .update(canonicalJson({ columns: r.columns, rows: r.rows, intervals: r.intervals, confidence: r.confidence }))
    .digest('hex')
}

export function signReceipt(body: ReceiptBody, privateKey: KeyObject): Receipt {
  const signature = sign(null, Buffer.from(canonicalJson(body)), privateKey).toString('base64')
  return { ...body, signature }
}

export type ReceiptCheck = { readonly ok: true } | { readonly ok: false; readonly problem: string }

/**
 * Checks a receipt against a public key (PEM), and, when given, that an answer
 * is the one it was issued for.
 */
export function verifyReceipt(receipt: Receipt, publicKeyPem: string, answer?: ReleasedResult): ReceiptCheck {
  let key: KeyObject
  try {
    key = createPublicKey(publicKeyPem)
  } catch {
    return { ok: false, problem: 'the public key cannot be read (expected an Ed25519 public key in PEM)' }
  }
  if (keyIdOf(key) !== receipt.keyId) {
    return { ok: false, problem: `the receipt was signed with key ${receipt.keyId}, not with this key (${keyIdOf(key)})` }
  }
  const { signature, ...body } = receipt
  let good = false
  try {
    good = verify(null, Buffer.from(canonicalJson(body)), key, Buffer.from(String(signature), 'base64'))
  } catch {
    good = false
  }
  if (!good) return { ok: false, problem: 'the signature does not match the receipt: a field was changed or the receipt was not issued by this key' }
  if (answer !== undefined && resultHash(answer) !== receipt.resultHash) {
    return { ok: false, problem: 'the answer does not match the receipt: its columns, rows, intervals or confidence differ from what was released' }
  }
  return { ok: true }
}
