import type { Encryptor } from 'node-seal/implementation/encryptor.js'
import type { GaloisKeys } from 'node-seal/implementation/galois-keys.js'
import type { HeContext } from '../src/engine/he/context.js'
import { loadPublicKey } from '../src/engine/he/keys.js'
import type { KeyStore } from '../src/engine/he/keystore.js'

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

/** One batch of slots to encrypt under a context: what the data owner's values or squares become. */
export interface ReferenceBatch {
  readonly context: number
  readonly slots: Int32Array | BigInt64Array | BigUint64Array
}

/**
 * The reference the data owner's encryption is measured against: a bare
 * node-seal loop in one thread, with the secret key already loaded, that
 * encodes each full batch, encrypts it with the secret key (seeded, as
 * veilbox's owner does) and serializes it with zstd, as anyone would write
 * it to produce the same ciphertexts. No CSV, no checks, no output: the
 * batches are given as slot arrays. `run` returns the ciphertext bytes made.
 */
export class BareSymmetricEncryption {
  private constructor(
    private readonly contexts: readonly HeContext[],
    private readonly encryptors: readonly Encryptor[],
    private readonly owned: { delete(): void }[],
  ) {}

  static async open(keystore: KeyStore, dataset: string): Promise<BareSymmetricEncryption> {
    const profile = await keystore.profile(dataset)
    const owned: { delete(): void }[] = []
    const indices = profile.contexts.map((_, i) => i)
    const publicKeys = await Promise.all(indices.map((i) => keystore.publicKey(dataset, i)))
    const pairs = await keystore.withSecretKeys(dataset, indices, (keys) =>
      keys.map(({ ctx, secretKey }, i) => {
        const pk = loadPublicKey(ctx, publicKeys[i]!)
        owned.push(pk)
        const encryptor = ctx.seal.Encryptor(ctx.context, pk, secretKey)
        owned.push(encryptor)
        return { ctx, encryptor }
      }),
    )
    return new BareSymmetricEncryption(
      pairs.map((p) => p.ctx),
      pairs.map((p) => p.encryptor),
      owned,
    )
  }

  run(batches: readonly ReferenceBatch[]): number {
    let bytes = 0
    const plains = this.contexts.map((ctx) => ctx.seal.PlainText())
    try {
      for (const b of batches) {
        const ctx = this.contexts[b.context]!
        const plain = plains[b.context]!
        ctx.batchEncoder!.encode(b.slots, plain)
        const serializable = this.encryptors[b.context]!.encryptSymmetricSerializable(plain)
        bytes += serializable.saveArray(ctx.seal.ComprModeType.zstd).length
        serializable.delete()
      }
    } finally {
      for (const p of plains) p.delete()
    }
    return bytes
  }

  close(): void {
    for (const o of this.owned.reverse()) o.delete()
  }
}
