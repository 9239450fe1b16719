import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import { canonicalJson } from '../../store/audit.js'
import { keyIdOf } from '../../store/receipt-keys.js'

/**
 * Signed market documents (certificates, statements, settlements): Ed25519
 * with the service's receipt key, like receipts, so one published public key
 * checks them all offline. JSON documents carry `keyId` and `signature` over
 * the canonical JSON of every other field; CSV documents end with the line
 * `# signature,<keyId>,<base64>` over the bytes before it.
 */

export const DOCUMENT_KINDS = ['veilbox.certificate', 'veilbox.statement', 'veilbox.settlement'] as const
export type DocumentKind = (typeof DOCUMENT_KINDS)[number]

export interface Signer {
  readonly keyId: string
  readonly privateKey: KeyObject
}

export type Signed<T> = T & { readonly keyId: string; readonly signature: string }

export function signDocument<T extends { readonly kind: DocumentKind }>(body: T, signer: Signer): Signed<T> {
  const withKey = { ...body, keyId: signer.keyId }
  const signature = sign(null, Buffer.from(canonicalJson(withKey)), signer.privateKey).toString('base64')
  return { ...withKey, signature }
}

export type DocumentCheck =
  | { readonly ok: true; readonly kind: string }
  | { readonly ok: false; readonly problem: string }

function publicKey(pem: string): KeyObject | null {
  try {
    return createPublicKey(pem)
  } catch {
    return null
  }
}

/** Checks a signed JSON document against a public key (PEM). */
export function verifyDocument(doc: unknown, publicKeyPem: string): DocumentCheck {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    return { ok: false, problem: 'the document is not a JSON object' }
  const { signature, ...body } = doc as Record<string, unknown>
  if (typeof signature !== 'string' || typeof body.keyId !== 'string')
    return { ok: false, problem: 'the document has no keyId and signature: it was not signed by veilbox' }
  if (!DOCUMENT_KINDS.includes(body.kind as DocumentKind))
    return { ok: false, problem: `the document's kind is ${JSON.stringify(body.kind)}, not one veilbox signs` }
  const key = publicKey(publicKeyPem)
  if (key === null)
    return { ok: false, problem: 'the public key cannot be read (expected an Ed25519 public key in PEM)' }
  if (keyIdOf(key) !== body.keyId)
    return { ok: false, problem: `the document was signed with key ${body.keyId}, not with this key (${keyIdOf(key)})` }
  let good = false
  try {
    good = verify(null, Buffer.from(canonicalJson(body)), key, Buffer.from(signature, 'base64'))
  } catch {
    good = false
  }
  return good
    ? { ok: true, kind: String(body.kind) }
    : { ok: false, problem: 'the signature does not match: a field was changed, or another key signed it' }
}

// ---------------------------------------------------------------- CSV

/** One CSV field: quoted when it holds a comma, quote, newline, or starts with a character a spreadsheet would run. */
export function csvField(v: string | number | bigint | null): string {
  if (v === null) return ''
  const s = String(v)
  const risky = /^[=+\-@\t\r]/.test(s) && typeof v === 'string'
  if (risky || /[",\n\r]/.test(s)) return `"${(risky ? `'${s}` : s).replaceAll('"', '""')}"`
  return s
}

export function csvLines(rows: readonly (readonly (string | number | bigint | null)[])[]): string {
  return rows.map((r) => `${r.map(csvField).join(',')}\n`).join('')
}

const SIGNATURE_LINE = /\n# signature,([0-9a-f]+),([A-Za-z0-9+/=]+)\n?$/

export function signCsv(csv: string, signer: Signer): string {
  const signature = sign(null, Buffer.from(csv), signer.privateKey).toString('base64')
  return `${csv}# signature,${signer.keyId},${signature}\n`
}

/** Checks a signed CSV document against a public key (PEM). */
export function verifyCsv(text: string, publicKeyPem: string): DocumentCheck {
  const m = SIGNATURE_LINE.exec(text)
  if (m === null) return { ok: false, problem: 'the CSV does not end with a "# signature,<keyId>,<base64>" line' }
  const body = text.slice(0, m.index + 1)
  const key = publicKey(publicKeyPem)
  if (key === null)
    return { ok: false, problem: 'the public key cannot be read (expected an Ed25519 public key in PEM)' }
  if (keyIdOf(key) !== m[1]) return { ok: false, problem: `the CSV was signed with key ${m[1]}, not with this key` }
  let good = false
  try {
    good = verify(null, Buffer.from(body), key, Buffer.from(m[2]!, 'base64'))
  } catch {
    good = false
  }
  const kind = /^# (veilbox\.[a-z]+)/.exec(body)?.[1] ?? 'csv'
  return good
    ? { ok: true, kind }
    : { ok: false, problem: 'the signature does not match: a byte of the CSV was changed, or another key signed it' }
}
