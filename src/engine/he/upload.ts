import { createHash } from 'node:crypto'
import type { CipherText } from 'node-seal/implementation/cipher-text.js'
import { z } from 'zod'
import { identifierSchema } from '../../schema.js'
import { contextFor, type HeContext } from './context.js'
import { heError, sealCall } from './he-error.js'
import { slotCount } from './params.js'
import { columnPlan, type HeProfile } from './profile.js'

/**
 * The encrypted upload: what the data owner's `veilbox encrypt` writes and
 * `POST /v1/datasets/{id}/versions` reads with content type
 * `application/vnd.veilbox.encrypted+ndjson`. One JSON value per line:
 *
 *   {"format":"veilbox-encrypted/1","dataset":"d","profileId":"<64 hex>","columns":["pid","city"],"he":["amount"]}
 *   ["p1","north"]                                    a row: its plain cells as CSV text, in header order
 *   {"column":"amount","kind":"values","context":0,"batch":0,"data":"<base64>"}
 *   {"end":true,"rows":2}
 *
 * - the header comes first; `columns` are the plain (public and dp) columns
 *   in the order the row arrays hold them, `he` the encrypted ones;
 * - rows keep the owner's text exactly (the service checks each cell with the
 *   same rules as a CSV upload; "" is null);
 * - a ciphertext line is batch `batch` (rows batch * batchRows ...) of one
 *   column's values or squares under profile context `context`, as SEAL's
 *   compressed serialization; lines may come in any order, each exactly once;
 * - the end line carries the row count. A file cut short has none, and is
 *   refused: nothing is stored unless the whole file arrived.
 *
 * The fingerprint (a version's `sha256`) covers what the service stores:
 * SHA-256 over each row's plain values as the JSON array of the typed values
 * in schema order, one line each (exactly the CSV fingerprint with the he
 * cells left out), followed by one line per ciphertext,
 * "<column>\t<kind>\t<context>\t<batch>\t<sha256 of its bytes>", for he
 * columns in schema order, values before squares, contexts in the column's
 * plan order, batches ascending. `HeFingerprint` builds it; both upload paths
 * use it. The owner's writer is src/owner/writer.ts.
 */

export const ENCRYPTED_CONTENT_TYPE = 'application/vnd.veilbox.encrypted+ndjson'
export const ENCRYPTED_FORMAT = 'veilbox-encrypted/1'
/** A seeded ciphertext at n = 8192 is about 216 KB, an unseeded one 430 KB; n = 32768 four times that. */
export const MAX_CIPHERTEXT_BYTES = 8 * 1024 * 1024
export const CIPHERTEXT_KINDS = ['values', 'squares'] as const
export type CiphertextKind = (typeof CIPHERTEXT_KINDS)[number]

const hex64 = z.string().regex(/^[0-9a-f]{64}$/)

export const uploadHeaderSchema = z.strictObject({
  format: z.literal(ENCRYPTED_FORMAT),
  dataset: identifierSchema,
  profileId: hex64,
  columns: z.array(identifierSchema).max(256),
  he: z.array(identifierSchema).min(1).max(256),
})
export type UploadHeader = z.infer<typeof uploadHeaderSchema>

export const cipherLineSchema = z.strictObject({
  column: identifierSchema,
  kind: z.enum(CIPHERTEXT_KINDS),
  context: z.number().int().min(0).max(16),
  batch: z
    .number()
    .int()
    .min(0)
    .max(1 << 24),
  // Checked as base64 where it is decoded (src/ingest/cipher-checks.ts): a regex over 290 KB per line cost more than the decoding.
  data: z
    .string()
    .min(4)
    .max(Math.ceil(MAX_CIPHERTEXT_BYTES / 3) * 4),
})
export type CipherLine = z.infer<typeof cipherLineSchema>

export const endLineSchema = z.strictObject({ end: z.literal(true), rows: z.number().int().min(1) })

/** The profile contexts of a column's values or squares, in plan order. */
export function kindContexts(profile: HeProfile, column: string, kind: CiphertextKind): readonly number[] {
  const plan = columnPlan(profile, column)
  return kind === 'values' ? plan.sumContexts : (plan.squareContexts ?? [])
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/**
 * The version fingerprint of a dataset with he columns (see the file
 * comment): rows as they arrive, ciphertext digests in canonical order at the end.
 */
export class HeFingerprint {
  private readonly hash = createHash('sha256')
  private readonly digests = new Map<string, string>()
  /** Row lines not yet hashed: one update per 64 K characters, not two per row. */
  private pending = ''

  constructor(
    private readonly profile: HeProfile | null,
    /** The he columns in schema order (none without a profile). */
    private readonly heColumns: readonly string[],
  ) {}

  /** One row's plain values, typed, in schema order. */
  row(plainValues: readonly unknown[]): void {
    this.pending += `${JSON.stringify(plainValues)}\n`
    if (this.pending.length >= 65_536) {
      this.hash.update(this.pending)
      this.pending = ''
    }
  }

  ciphertext(column: string, kind: CiphertextKind, context: number, batch: number, bytes: Uint8Array): void {
    this.digests.set(`${column}\t${kind}\t${context}\t${batch}`, sha256Hex(bytes))
  }

  /** Adds every ciphertext line, in canonical order, and returns the hex digest. */
  digest(batchesOf: (column: string) => number): string {
    this.hash.update(this.pending)
    this.pending = ''
    for (const column of this.heColumns) {
      for (const kind of CIPHERTEXT_KINDS) {
        for (const context of kindContexts(this.profile!, column, kind)) {
          for (let b = 0; b < batchesOf(column); b++) {
            const key = `${column}\t${kind}\t${context}\t${b}`
            const d = this.digests.get(key)
            if (d === undefined)
              throw heError('VEILBOX_ERR_HE_BAD_ARGUMENT', `no digest for ciphertext ${key.replace(/\t/g, ' ')}`)
            this.hash.update(`${key}\t${d}\n`)
          }
        }
      }
    }
    return this.hash.digest('hex')
  }
}

/** Rows per ciphertext of a column: the slot count of its SUM context. */
export function columnBatchRows(profile: HeProfile, column: string): number {
  return slotCount(profile.contexts[columnPlan(profile, column).sumContexts[0]!]!)
}

/**
 * Checks, before anything is stored, that a received ciphertext is a fresh
 * encryption under its context: it loads, has two polynomials, sits at the
 * top of the modulus chain, is in the form its scheme encrypts to (BFV
 * coefficient form, CKKS NTT form) and is not transparent (a ciphertext that
 * decrypts without the key). A batch that passes can be summed; whether it
 * holds values within the declared bounds only its author knows, which is why
 * the custodian range-checks every aggregate before it releases it.
 */
export class CiphertextChecker {
  private constructor(
    private readonly contexts: readonly HeContext[],
    private readonly scratch: CipherText,
  ) {}

  static async open(profile: HeProfile): Promise<CiphertextChecker> {
    const contexts: HeContext[] = []
    for (const p of profile.contexts) contexts.push(await contextFor(p))
    return new CiphertextChecker(contexts, contexts[0]!.seal.CipherText())
  }

  check(context: number, bytes: Uint8Array, what: string): void {
    const ctx = this.contexts[context]
    if (ctx === undefined)
      throw heError('VEILBOX_ERR_HE_BAD_CIPHERTEXT', `${what}: the HE profile has no context ${context}`)
    const ct = this.scratch
    sealCall('VEILBOX_ERR_HE_BAD_CIPHERTEXT', `${what} does not load as a ciphertext of its context`, () =>
      ct.loadArray(ctx.context, bytes),
    )
    const dataPrimes = ctx.params.coeffModulusBits.length - 1
    const problem =
      ct.size !== 2
        ? `it has ${ct.size} polynomials, not 2`
        : ct.coeffModulusSize !== dataPrimes
          ? 'it is not at the top of the modulus chain (not a fresh encryption)'
          : ct.isNttForm !== (ctx.params.scheme === 'ckks')
            ? 'it is not in the form a fresh encryption has'
            : ct.isTransparent
              ? 'it is transparent (it would decrypt without the key)'
              : null
    if (problem !== null) throw heError('VEILBOX_ERR_HE_BAD_CIPHERTEXT', `${what}: ${problem}`)
  }

  close(): void {
    this.scratch.delete()
  }
}
