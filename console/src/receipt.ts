import type { Answer, ReceiptKey } from './types.js'

/**
 * Checks an answer's receipt in the browser, with the published public key:
 * the same check as `veilbox receipt verify` (src/engine/receipts.ts), so an
 * analyst sees at once that the numbers on screen are the ones veilbox signed.
 */

/** JSON with object keys sorted at every depth, as the server signs it (src/store/audit.ts canonicalJson). */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
}

export type ReceiptCheck = 'valid' | 'unknownKey' | 'badSignature' | 'badResult' | 'unsupported'

function bytesOf(base64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(base64)
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out
}

function hex(buf: ArrayBuffer): string {
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

export async function checkReceipt(answer: Answer, keys: readonly ReceiptKey[]): Promise<ReceiptCheck> {
  const { signature, ...body } = answer.receipt
  const key = keys.find((k) => k.keyId === body.keyId)
  if (!key) return 'unknownKey'
  // WebCrypto exists only in secure contexts (https, or http on localhost); elsewhere the CLI checks receipts.
  const subtle = globalThis.crypto?.subtle
  if (!subtle) return 'unsupported'
  try {
    const der = bytesOf(key.publicKey.replace(/-----(BEGIN|END) PUBLIC KEY-----/g, '').replace(/\s+/g, ''))
    const publicKey = await subtle.importKey('spki', der, { name: 'Ed25519' }, false, ['verify'])
    const good = await subtle.verify(
      { name: 'Ed25519' },
      publicKey,
      bytesOf(signature),
      new TextEncoder().encode(canonicalJson(body)),
    )
    if (!good) return 'badSignature'
  } catch {
    // A browser without Ed25519 in WebCrypto (before 2025): say so instead of failing the check.
    return 'unsupported'
  }
  const released = canonicalJson({
    columns: answer.columns,
    rows: answer.rows,
    intervals: answer.intervals,
    confidence: answer.confidence,
  })
  const digest = hex(await subtle.digest('SHA-256', new TextEncoder().encode(released)))
  return digest === answer.receipt.resultHash ? 'valid' : 'badResult'
}

/** The answer as CSV: one row per released row, each aggregate followed by its interval's bounds. */
export function answerCsv(answer: Answer): string {
  const isAggregate = answer.columns.map((_, i) => answer.intervals.some((row) => row[i] !== null))
  const header: string[] = []
  answer.columns.forEach((c, i) => {
    header.push(c)
    if (isAggregate[i]) header.push(`${c}_lo`, `${c}_hi`)
  })
  const cell = (v: unknown) => {
    if (v === null || v === undefined) return ''
    const s = String(v)
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
  }
  const lines = [header.map(cell).join(',')]
  answer.rows.forEach((row, r) => {
    const out: unknown[] = []
    row.forEach((v, i) => {
      out.push(v)
      if (isAggregate[i]) {
        const iv = answer.intervals[r]?.[i] ?? null
        out.push(iv?.[0] ?? null, iv?.[1] ?? null)
      }
    })
    lines.push(out.map(cell).join(','))
  })
  return `${lines.join('\r\n')}\r\n`
}
