import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import { canonicalJson } from '../store/audit.js'
import { keyIdOf } from '../store/receipt-keys.js'

/**
 * Signed receipts: every released answer carries one, so that a released
 * number can be checked later, offline, with only the published public key.
 * The signature (Ed25519) covers the canonical JSON of every other field; the
 * result hash covers what was released (columns, rows, intervals, confidence).
 *
 * A receipt names nothing that counts other principals' activity: its release
 * record by an opaque random id (`auditRecord`), never by its position in the
 * chain, and its dataset version by a salted commitment, never by the content
 * hash of the rows (docs/privacy-model.md). Inclusion is provable: the
 * release record carries receiptDigest(body), so an auditor with the chain
 * finds the record by its id and compares (checkReceiptInChain).
 */

export interface ReceiptBody {
  readonly queryId: string
  readonly dataset: string
  readonly version: number
  /** The version's salted commitment (store/fingerprint.ts): ties the answer to exactly one version, reveals nothing of its rows. */
  readonly datasetCommitment: string
  /** A join's other datasets, each with the version read and its commitment; absent for one dataset. */
  readonly joined?: readonly {
    readonly dataset: string
    readonly version: number
    readonly datasetCommitment: string
  }[]
  /** The public tables a join read, each with its version and commitment: never charged; absent when none. */
  readonly publicTables?: readonly {
    readonly dataset: string
    readonly version: number
    readonly datasetCommitment: string
  }[]
  readonly queryHash: string
  /** The approved template the answer ran and its parameters (issue 24); absent for ad-hoc queries. */
  readonly template?: { readonly id: string; readonly params: Readonly<Record<string, string | number>> }
  readonly resultHash: string
  readonly privacy: unknown
  readonly time: string
  /** The id of the query.release audit record, whose detail.receipt is receiptDigest(this body). */
  readonly auditRecord: string
  readonly keyId: string
}

/** sha256 of the canonical JSON of a receipt's signed fields (the signature left out): what its release record carries. */
export function receiptDigest(receipt: ReceiptBody | Receipt): string {
  const { signature: _signature, ...body } = receipt as Receipt
  return createHash('sha256').update(canonicalJson(body)).digest('hex')
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
  return signReceiptWithDigest(body, privateKey).receipt
}

/** signReceipt, with receiptDigest(body) from the same canonical JSON (a release needs both; serialized once). */
export function signReceiptWithDigest(body: ReceiptBody, privateKey: KeyObject): { receipt: Receipt; digest: string } {
  const text = Buffer.from(canonicalJson(body))
  const signature = sign(null, text, privateKey).toString('base64')
  return { receipt: { ...body, signature }, digest: createHash('sha256').update(text).digest('hex') }
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
    return {
      ok: false,
      problem: `the receipt was signed with key ${receipt.keyId}, not with this key (${keyIdOf(key)})`,
    }
  }
  const { signature, ...body } = receipt
  let good = false
  try {
    good = verify(null, Buffer.from(canonicalJson(body)), key, Buffer.from(String(signature), 'base64'))
  } catch {
    good = false
  }
  if (!good)
    return {
      ok: false,
      problem:
        'the signature does not match the receipt: a field was changed or the receipt was not issued by this key',
    }
  if (answer !== undefined && resultHash(answer) !== receipt.resultHash) {
    return {
      ok: false,
      problem:
        'the answer does not match the receipt: its columns, rows, intervals or confidence differ from what was released',
    }
  }
  return { ok: true }
}

/** What an auditor needs of the chain to place a receipt: the record it names, as stored. */
export interface ReleaseRecordView {
  readonly id?: string
  readonly action: string
  readonly dataset: string | null
  readonly version: number | null
  readonly queryHash: string | null
  readonly detail: Readonly<Record<string, unknown>> | null
}

/**
 * Whether a receipt is the one its release record was written for: the record
 * it names by id is a query.release of the same query, dataset, version and
 * canonical query, and carries the receipt's digest. Together with a verified
 * chain this proves the answer was released and charged, without the receipt
 * naming a position in the chain.
 */
export function checkReceiptInChain(receipt: Receipt, record: ReleaseRecordView | null): ReceiptCheck {
  if (record === null) return { ok: false, problem: `no audit record ${String(receipt.auditRecord)} in the chain` }
  if (record.action !== 'query.release')
    return {
      ok: false,
      problem: `audit record ${String(receipt.auditRecord)} is a ${record.action}, not a query.release`,
    }
  const d = record.detail ?? {}
  if (
    d.queryId !== receipt.queryId ||
    record.dataset !== receipt.dataset ||
    record.version !== receipt.version ||
    record.queryHash !== receipt.queryHash
  ) {
    return {
      ok: false,
      problem: 'the release record names another query, dataset, version or canonical query than the receipt',
    }
  }
  if (d.receipt !== receiptDigest(receipt))
    return {
      ok: false,
      problem:
        "the release record's receipt digest does not match: a field of the receipt differs from what was released",
    }
  return { ok: true }
}
