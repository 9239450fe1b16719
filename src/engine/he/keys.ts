import type { GaloisKeys } from 'node-seal/implementation/galois-keys.js'
import type { PublicKey } from 'node-seal/implementation/public-key.js'
import type { SecretKey } from 'node-seal/implementation/secret-key.js'
import { contextFor, type HeContext } from './context.js'
import { heError, sealCall } from './he-error.js'
import type { ContextParams } from './params.js'
import { withScope } from './scope.js'

/**
 * Key generation and (de)serialization for one context. Only keystore.ts and
 * the data owner's encryptor ever hold the secret key bytes this returns.
 */

/**
 * The rotations rotate-and-sum performs, and so the only Galois keys made
 * (each is about 1.2 MB compressed at n = 8192; a full set has twice as many).
 * BFV slots form a 2 x n/2 matrix: rows rotate by 1, 2, 4, ..., n/4 within
 * each half, then step 0 (SEAL's code for the column rotation) swaps the
 * halves. CKKS has n/2 slots in one row: steps 1, 2, ..., n/4.
 */
export function galoisSteps(params: ContextParams): number[] {
  const half = params.polyModulusDegree / 2
  const steps: number[] = []
  for (let s = 1; s < half; s *= 2) steps.push(s)
  if (params.scheme === 'bfv') steps.push(0)
  return steps
}

export interface GeneratedContextKeys {
  /** Compressed serialization of the secret key: never leaves the custodian's key store. */
  readonly secretKey: Uint8Array
  readonly publicKey: Uint8Array
  readonly galoisKeys: Uint8Array
  readonly galoisSteps: readonly number[]
}

/**
 * Fresh keys for one context. Public and Galois keys are made "serializable"
 * (seeded: half of each key is regenerated from a seed on load), which halves
 * their size; all three are zstd-compressed.
 */
export async function generateContextKeys(params: ContextParams): Promise<GeneratedContextKeys> {
  const ctx = await contextFor(params)
  const { seal } = ctx
  const steps = galoisSteps(params)
  return withScope((scope) => {
    const gen = scope.add(
      sealCall('VEILBOX_ERR_HE_SEAL_FAILURE', 'key generation failed', () => seal.KeyGenerator(ctx.context)),
    )
    const sk = scope.add(gen.secretKey())
    const pk = scope.add(gen.createPublicKeySerializable())
    const gk = scope.add(gen.createGaloisKeysSerializable(Int32Array.from(steps)))
    const zstd = seal.ComprModeType.zstd
    return {
      secretKey: sk.saveArray(zstd),
      publicKey: pk.saveArray(zstd),
      galoisKeys: gk.saveArray(zstd),
      galoisSteps: steps,
    }
  })
}

/** A SEAL secret key from its bytes; the caller deletes it. */
export function loadSecretKey(ctx: HeContext, bytes: Uint8Array): SecretKey {
  const sk = ctx.seal.SecretKey()
  try {
    sealCall('VEILBOX_ERR_CUSTODIAN_KEYSTORE_CORRUPT', 'the secret key does not load for its context', () =>
      sk.loadArray(ctx.context, bytes),
    )
    return sk
  } catch (e) {
    sk.delete()
    throw e
  }
}

export function loadPublicKey(ctx: HeContext, bytes: Uint8Array): PublicKey {
  const pk = ctx.seal.PublicKey()
  try {
    sealCall('VEILBOX_ERR_HE_BAD_CIPHERTEXT', 'the public key does not load for its context', () =>
      pk.loadArray(ctx.context, bytes),
    )
    return pk
  } catch (e) {
    pk.delete()
    throw e
  }
}

export function loadGaloisKeys(ctx: HeContext, bytes: Uint8Array, steps: readonly number[]): GaloisKeys {
  const gk = ctx.seal.GaloisKeys()
  try {
    sealCall('VEILBOX_ERR_HE_BAD_CIPHERTEXT', 'the Galois keys do not load for their context', () =>
      gk.loadArray(ctx.context, bytes),
    )
    const want = galoisSteps(ctx.params)
    if (steps.join(',') !== want.join(',') || gk.size !== want.length) {
      throw heError(
        'VEILBOX_ERR_HE_BAD_CIPHERTEXT',
        `Galois keys hold ${gk.size} rotations for steps [${steps.join(', ')}]; rotate-and-sum needs exactly [${want.join(', ')}]`,
      )
    }
    return gk
  } catch (e) {
    gk.delete()
    throw e
  }
}
