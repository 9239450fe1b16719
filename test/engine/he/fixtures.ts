import { mulberry32 } from '../../../src/engine/mulberry32.js'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { DatasetSpec } from '../../../src/schema.js'
import { KeyStore } from '../../../src/engine/he/keystore.js'
import { toUnits } from '../../../src/engine/he/units.js'
import type { ScaledValue } from '../../../src/engine/he/types.js'

/**
 * Test data for the HE tests. The PRNG is mulberry32, seeded: test data must
 * be reproducible, and nothing here is privacy noise.
 */
export const rng = mulberry32

export function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'veilbox-he-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

export async function keyStore(t: { teardown(fn: () => void): void }): Promise<KeyStore> {
  return KeyStore.open(path.join(tempDir(t), 'keys'))
}

/** A dataset with a privacy unit and the given columns. */
export function spec(id: string, columns: DatasetSpec['columns']): DatasetSpec {
  return {
    id,
    title: id,
    classification: 'internal',
    privacyUnit: 'pid',
    maxRowsPerUnit: 1,
    columns: [{ name: 'pid', type: 'id', protection: 'public' }, ...columns],
  }
}

export interface PlainGroup {
  count: number
  /** In fixed-point units. */
  sum: bigint
  sumSquares: bigint
  /** As doubles, for CKKS. */
  sumF: number
  sumSquaresF: number
}

/** The plaintext aggregates the encrypted ones must equal. */
export function plainAggregates(
  values: readonly number[],
  scale: number,
  selection: Uint8Array | null,
  codes: ArrayLike<number> | null,
  groups: number,
): PlainGroup[] {
  const out = Array.from({ length: groups }, () => ({ count: 0, sum: 0n, sumSquares: 0n, sumF: 0, sumSquaresF: 0 }))
  values.forEach((x, r) => {
    if (selection !== null && selection[r] === 0) return
    const g = out[codes === null ? 0 : codes[r]!]!
    const u = toUnits(x, scale)
    g.count++
    g.sum += u
    g.sumSquares += u * u
    g.sumF += x
    g.sumSquaresF += x * x
  })
  return out
}

/** An exact value as a fraction num / den (den > 0). */
export function fraction(v: ScaledValue): { num: bigint; den: bigint } {
  const p = BigInt(v.base) ** BigInt(Math.abs(v.exponent))
  return v.exponent >= 0 ? { num: v.units * p, den: 1n } : { num: v.units, den: p }
}

export function toNumber(v: ScaledValue): number {
  return Number(v.units) * v.base ** v.exponent
}

/** The slots of one ciphertext, decrypted with the key store's secret key: signed (values) or as residues in [0, t) (squares). */
export async function decryptSlots(
  keystore: KeyStore,
  dataset: string,
  context: number,
  bytes: Uint8Array,
  signed: boolean,
): Promise<bigint[]> {
  return keystore.withSecretKeys(dataset, [context], ([k]) => {
    const { ctx, secretKey } = k!
    const decryptor = ctx.seal.Decryptor(ctx.context, secretKey)
    const ct = ctx.seal.CipherText()
    const pt = ctx.seal.PlainText()
    try {
      ct.loadArray(ctx.context, bytes)
      decryptor.decrypt(ct, pt)
      return Array.from(ctx.batchEncoder!.decodeBigInt(pt, signed), (x) => BigInt(x))
    } finally {
      pt.delete()
      ct.delete()
      decryptor.delete()
    }
  })
}
