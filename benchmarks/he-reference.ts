import type { GaloisKeys } from 'node-seal/implementation/galois-keys.js'
import type { HeContext } from '../src/engine/he/context.js'

/**
 * The reference an encrypted SUM is measured against: what anyone would
 * write with node-seal. Load each BFV ciphertext of one column, add them up,
 * rotate-and-sum once (rows, then columns), and return the result saved.
 */
export function plainSealSum(
  ctx: HeContext,
  batches: readonly Uint8Array[],
  galois: GaloisKeys,
  degree: number,
): Uint8Array {
  const { seal, evaluator: ev } = ctx
  const loaded = seal.CipherText()
  const acc = seal.CipherText()
  const tmp = seal.CipherText()
  try {
    batches.forEach((bytes, b) => {
      ;(b === 0 ? acc : loaded).loadArray(ctx.context, bytes)
      if (b > 0) ev.add(acc, loaded, acc)
    })
    for (let s = 1; s < degree / 2; s *= 2) {
      ev.rotateRows(acc, s, galois, tmp)
      ev.add(acc, tmp, acc)
    }
    ev.rotateColumns(acc, galois, tmp)
    ev.add(acc, tmp, acc)
    return acc.saveArray(seal.ComprModeType.zstd)
  } finally {
    loaded.delete()
    acc.delete()
    tmp.delete()
  }
}
