import type { BatchEncoder } from 'node-seal/implementation/batch-encoder.js'
import type { CKKSEncoder } from 'node-seal/implementation/ckks-encoder.js'
import type { Context } from 'node-seal/implementation/context.js'
import type { Evaluator } from 'node-seal/implementation/evaluator.js'
import type { ParmsIdType } from 'node-seal/implementation/parms-id-type.js'
import type { SEALLibrary } from 'node-seal/implementation/seal.js'
import { heError, sealCall } from './he-error.js'
import { MAX_COEFF_BITS_128, contextKey, slotCount, validateContextParams, type ContextParams } from './params.js'
import { withScope } from './scope.js'

/**
 * One SEAL per thread, one context per parameter set per thread.
 *
 * node-seal compiles and instantiates a 1.1 MB wasm module; doing that per
 * request would dominate small queries, so the load is a promise cached at
 * module level (each worker thread has its own module instance, hence its own
 * SEAL). Contexts precompute NTT tables and the modulus chain; they are built
 * once per parameter set and live as long as the thread, as do the evaluator
 * and encoder bound to them (both are stateless between calls).
 *
 * We load node-seal's `main` build: the Node UMD bundle of the "throws"
 * variant, which refuses to produce transparent ciphertexts (a multiplication
 * by an all-zero plaintext would otherwise yield a ciphertext that decrypts
 * without the key). Its typings describe the ES bundle's default export, so
 * the call signature is restated here.
 */
export type Seal = SEALLibrary

/**
 * Imported on first use, not with this module: node-seal's bundle carries its
 * wasm as text, and importing it cost each thread about 9 MB of heap (the
 * main thread and every sandbox worker), also in a service that never sees
 * an encrypted column.
 */
async function loadSealModule(): Promise<SEALLibrary> {
  const { default: sealModule } = await import('node-seal')
  return (sealModule as unknown as () => Promise<SEALLibrary>)()
}

let sealPromise: Promise<SEALLibrary> | null = null

export function loadSeal(): Promise<SEALLibrary> {
  sealPromise ??= loadSealModule().catch((e: unknown) => {
    sealPromise = null
    throw heError(
      'VEILBOX_ERR_HE_SEAL_FAILURE',
      `node-seal did not load: ${e instanceof Error ? e.message : String(e)}`,
      {},
      e,
    )
  })
  return sealPromise
}

export interface HeContext {
  readonly seal: SEALLibrary
  readonly params: ContextParams
  /** contextKey(params): what ciphertexts and keys are checked against. */
  readonly key: string
  readonly context: Context
  readonly evaluator: Evaluator
  /** BFV contexts only. */
  readonly batchEncoder: BatchEncoder | null
  /** CKKS contexts only. */
  readonly ckksEncoder: CKKSEncoder | null
  /** Rows per ciphertext. */
  readonly slots: number
  /** Parameters of fresh ciphertexts: where plaintext masks are moved into NTT form. */
  readonly firstParmsId: ParmsIdType
}

const contexts = new Map<string, Promise<HeContext>>()

/** The thread's context for `params`, built (and checked) on first use. */
export function contextFor(params: ContextParams): Promise<HeContext> {
  try {
    validateContextParams(params)
  } catch (e) {
    // Refusals arrive the same way as SEAL's: as a rejected promise.
    return Promise.reject(e as Error)
  }
  const key = contextKey(params)
  let entry = contexts.get(key)
  if (entry === undefined) {
    entry = loadSeal().then((seal) => buildContext(seal, params, key))
    // A failed build is not cached: the next call reports the failure again.
    entry.catch(() => contexts.delete(key))
    contexts.set(key, entry)
  }
  return entry
}

function buildContext(seal: SEALLibrary, params: ContextParams, key: string): HeContext {
  const context = withScope((scope) => {
    const n = params.polyModulusDegree
    const parms = scope.add(
      seal.EncryptionParameters(params.scheme === 'bfv' ? seal.SchemeType.bfv : seal.SchemeType.ckks),
    )
    const coeff = scope.add(
      sealCall('VEILBOX_ERR_HE_INVALID_PARAMETERS', 'SEAL found no coefficient primes', () =>
        seal.CoeffModulus.Create(n, Int32Array.from(params.coeffModulusBits)),
      ),
    )
    sealCall('VEILBOX_ERR_HE_INVALID_PARAMETERS', 'SEAL refused the parameters', () => {
      parms.setPolyModulusDegree(n)
      parms.setCoeffModulus(coeff)
      if (params.scheme === 'bfv') parms.setPlainModulus(scope.add(seal.Modulus(params.plainModulus)))
    })
    const ctx = sealCall('VEILBOX_ERR_HE_INVALID_PARAMETERS', 'SEAL refused the parameters', () =>
      seal.Context(parms, true, seal.SecurityLevel.tc128),
    )
    try {
      checkContext(seal, ctx, params)
    } catch (e) {
      ctx.delete()
      throw e
    }
    return ctx
  })
  const scheme = params.scheme
  return {
    seal,
    params,
    key,
    context,
    evaluator: seal.Evaluator(context),
    batchEncoder: scheme === 'bfv' ? seal.BatchEncoder(context) : null,
    ckksEncoder: scheme === 'ckks' ? seal.CKKSEncoder(context) : null,
    slots: slotCount(params),
    firstParmsId: context.firstParmsId,
  }
}

/**
 * SEAL's own verdict, read back: the parameters were accepted at tc128 with
 * the moduli we asked for. Our validator and SEAL's must agree; if they ever
 * do not, nothing is encrypted under the context.
 */
function checkContext(seal: SEALLibrary, ctx: Context, params: ContextParams): void {
  const n = params.polyModulusDegree
  withScope((scope) => {
    if (!ctx.parametersSet()) {
      throw heError(
        'VEILBOX_ERR_HE_INVALID_PARAMETERS',
        `SEAL did not accept the parameters (${contextKey(params)}); for BFV the usual cause is a plain modulus that equals a coefficient prime`,
      )
    }
    const data = scope.add(ctx.keyContextData)
    const qualifiers = scope.add(data.qualifiers)
    const level = enumValue(qualifiers.securityLevel)
    if (level !== enumValue(seal.SecurityLevel.tc128)) {
      throw heError('VEILBOX_ERR_HE_INSECURE_PARAMETERS', `SEAL reports security level ${String(level)}, not tc128`)
    }
    const bits = data.totalCoeffModulusBitCount
    if (bits > MAX_COEFF_BITS_128[n]) {
      throw heError(
        'VEILBOX_ERR_HE_INSECURE_PARAMETERS',
        `SEAL built a ${bits}-bit coefficient modulus at n = ${n}; at most ${MAX_COEFF_BITS_128[n]} is 128-bit secure`,
      )
    }
    const sealParms = scope.add(data.parms)
    const primes = sealParms.coeffModulus
    const got = Array.from(primes, (p) => p.toString(2).length)
    if (got.join(',') !== params.coeffModulusBits.join(',')) {
      throw heError(
        'VEILBOX_ERR_HE_INVALID_PARAMETERS',
        `SEAL built coefficient primes of ${got.join(',')} bits, not ${params.coeffModulusBits.join(',')}`,
      )
    }
    if (params.scheme === 'bfv') {
      if (!qualifiers.usingBatching) {
        throw heError(
          'VEILBOX_ERR_HE_INVALID_PARAMETERS',
          `SEAL cannot batch with plain modulus ${params.plainModulus} at n = ${n}`,
        )
      }
      const t = scope.add(sealParms.plainModulus).value
      if (t !== params.plainModulus) {
        throw heError('VEILBOX_ERR_HE_INVALID_PARAMETERS', `SEAL holds plain modulus ${t}, not ${params.plainModulus}`)
      }
    }
  })
}

/** Embind enums are objects with a numeric `value`; node-seal's typings do not say so. */
function enumValue(e: unknown): number {
  const v = (e as { value?: unknown } | null)?.value
  if (typeof v !== 'number') throw heError('VEILBOX_ERR_HE_SEAL_FAILURE', 'SEAL returned an enum without a value')
  return v
}
