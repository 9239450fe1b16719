import type { Encryptor } from 'node-seal/implementation/encryptor.js'
import type { PlainText } from 'node-seal/implementation/plain-text.js'
import type { PublicKey } from 'node-seal/implementation/public-key.js'
import type { SecretKey } from 'node-seal/implementation/secret-key.js'
import { VeilboxError } from '../../errors/index.js'
import type { HeContext } from './context.js'
import { heError, sealCall } from './errors.js'
import { loadPublicKey } from './keys.js'
import type { KeyStore } from './keystore.js'
import { columnPlan, type HeColumnPlan, type HeProfile } from './profile.js'
import { SealScope } from './scope.js'
import type { EncryptedColumn } from './types.js'
import { mod, toUnits } from './units.js'

/**
 * The data owner's side: turns a column's values into ciphertexts, one per
 * batch of `slots` rows, before the data leaves the owner's domain.
 *
 * Packing. Row r goes to batch floor(r / slots), slot r mod slots. For BFV
 * the n slots form SEAL's 2 x n/2 matrix (slots 0..n/2-1 the first row, the
 * rest the second); which row a value lands in does not matter, because the
 * service only ever adds slot-wise and then sums all slots. The last batch is
 * padded with zeros, and the service masks it too. CKKS holds n/2 real slots.
 *
 * Encryption is symmetric, with the secret key: the owner holds it anyway,
 * it is about 3x faster than public-key encryption, and the seeded
 * serialization (`encryptSymmetricSerializable`: the random half of the
 * ciphertext is replaced by the seed that regenerates it) is half the size.
 * SEAL's Encryptor insists on a valid public key even for symmetric use, so
 * the public key is loaded as well.
 *
 * Values are checked against the declaration: finite, whole for integer
 * columns, within [lower, upper]. A value outside would break the capacity
 * argument that lets BFV sums not wrap, so it is refused, never clamped, as
 * ingest refuses it. Fixed-point values are round(x * 10^scale) (units.ts).
 */

interface ContextEncryptor {
  readonly ctx: HeContext
  readonly encryptor: Encryptor
}

export type Progress = (rowsDone: number, rowsTotal: number) => void

export class ColumnEncryptor {
  private closed = false

  private constructor(
    readonly profile: HeProfile,
    private readonly encryptors: ReadonlyMap<number, ContextEncryptor>,
    private readonly scope: SealScope,
  ) {}

  /**
   * Opens an encryptor for `dataset` with the keys in the custodian's key
   * store. The secret keys live in SEAL objects until `close`; call it in a
   * `finally`.
   */
  static async open(keystore: KeyStore, dataset: string): Promise<ColumnEncryptor> {
    const profile = await keystore.profile(dataset)
    const material = await keystore.publicMaterial(dataset)
    const all = profile.contexts.map((_, i) => i)
    const scope = new SealScope()
    try {
      const encryptors = await keystore.withSecretKeys(dataset, all, (keys) => {
        const map = new Map<number, ContextEncryptor>()
        keys.forEach(({ ctx, secretKey }, i) => {
          const pk: PublicKey = scope.add(loadPublicKey(ctx, material.contexts[i]!.publicKey))
          // The Encryptor keeps its own copy of the secret key; the one
          // withSecretKeys loaded is deleted when this callback returns.
          const encryptor = scope.add(ctx.seal.Encryptor(ctx.context, pk, secretKey as SecretKey))
          map.set(i, { ctx, encryptor })
        })
        return map
      })
      return new ColumnEncryptor(profile, encryptors, scope)
    } catch (e) {
      scope.close()
      throw e
    }
  }

  close(): void {
    this.closed = true
    this.scope.close()
  }

  /** Encrypts one column; values[r] is row r. */
  encryptColumn(column: string, values: ArrayLike<number>, onProgress?: Progress): EncryptedColumn {
    if (this.closed) throw heError('VEILBOX_ERR_HE_BAD_ARGUMENT', 'the encryptor is closed')
    const plan = columnPlan(this.profile, column)
    const rows = values.length
    if (rows < 1 || rows > this.profile.maxRows) {
      throw heError(
        'VEILBOX_ERR_HE_CAPACITY_EXCEEDED',
        `column ${column} has ${rows} rows; its HE keys were made for 1 to ${this.profile.maxRows} rows (sums beyond that could wrap); ask the custodian for keys with a larger maxRows`,
        { column, rows, maxRows: this.profile.maxRows },
      )
    }
    const sumCtx = plan.sumContexts.map((i) => this.encryptors.get(i)!)
    const sqCtx = plan.squareContexts?.map((i) => this.encryptors.get(i)!) ?? null
    const slots = sumCtx[0]!.ctx.slots
    const batches = Math.ceil(rows / slots)
    const valuesOut: Uint8Array[][] = sumCtx.map(() => [])
    const squaresOut: Uint8Array[][] | null = sqCtx === null ? null : sqCtx.map(() => [])
    const scope = new SealScope()
    try {
      const plain = scope.add(sumCtx[0]!.ctx.seal.PlainText())
      for (let b = 0; b < batches; b++) {
        const start = b * slots
        const end = Math.min(rows, start + slots)
        if (plan.scheme === 'bfv') {
          const units = batchUnits(plan, values, start, end, slots)
          sumCtx.forEach((ce, i) => valuesOut[i]!.push(encryptBfv(ce, plain, signedBatch(units, plainModulus(ce.ctx)))))
          sqCtx?.forEach((ce, i) => squaresOut![i]!.push(encryptBfv(ce, plain, squareResidues(units, plainModulus(ce.ctx)))))
        } else {
          const reals = batchReals(plan, values, start, end, slots)
          valuesOut[0]!.push(encryptCkks(sumCtx[0]!, plain, reals))
          if (sqCtx !== null) {
            for (let i = 0; i < reals.length; i++) reals[i] = reals[i]! * reals[i]!
            squaresOut![0]!.push(encryptCkks(sqCtx[0]!, plain, reals))
          }
        }
        onProgress?.(end, rows)
      }
    } finally {
      scope.close()
    }
    return { profileId: this.profile.id, column, rows, batchRows: slots, values: valuesOut, squares: squaresOut }
  }
}

function badValue(plan: HeColumnPlan, row: number, detail: string): VeilboxError {
  return heError('VEILBOX_ERR_HE_BAD_VALUE', `column ${plan.name}, row ${row + 1}: ${detail}; nothing was encrypted`, { column: plan.name, row: row + 1 })
}

function checkValue(plan: HeColumnPlan, x: number, row: number): void {
  if (typeof x !== 'number' || !Number.isFinite(x)) throw badValue(plan, row, `${String(x)} is not a finite number`)
  if (plan.type === 'integer' && !Number.isInteger(x)) throw badValue(plan, row, `${x} is not a whole number`)
  if (x < plan.lower || x > plan.upper) throw badValue(plan, row, `${x} is outside the declared bounds [${plan.lower}, ${plan.upper}]`)
}

/** Fixed-point units of rows [start, end), zero-padded to `slots`. */
function batchUnits(plan: HeColumnPlan, values: ArrayLike<number>, start: number, end: number, slots: number): bigint[] {
  const out = new Array<bigint>(slots).fill(0n)
  for (let r = start; r < end; r++) {
    const x = values[r]!
    checkValue(plan, x, r)
    out[r - start] = toUnits(x, plan.scale)
  }
  return out
}

function batchReals(plan: HeColumnPlan, values: ArrayLike<number>, start: number, end: number, slots: number): Float64Array {
  const out = new Float64Array(slots)
  for (let r = start; r < end; r++) {
    const x = values[r]!
    checkValue(plan, x, r)
    out[r - start] = x
  }
  return out
}

const I32_MAX = 2n ** 31n - 1n

function plainModulus(ctx: HeContext): bigint {
  if (ctx.params.scheme !== 'bfv') throw heError('VEILBOX_ERR_HE_BAD_ARGUMENT', 'a BFV column is planned on a CKKS context')
  return ctx.params.plainModulus
}

/**
 * Values as SEAL's signed batch encoding takes them (negative x stands for
 * t + x). The capacity rule keeps |x| < t/2, so no reduction is needed; an
 * Int32Array is used when it can hold them, as it converts faster than BigInt.
 */
function signedBatch(units: readonly bigint[], t: bigint): Int32Array | BigInt64Array {
  let fitsI32 = true
  for (const u of units) {
    if (u > I32_MAX || u < -I32_MAX) fitsI32 = false
    if (2n * (u < 0n ? -u : u) >= t) throw heError('VEILBOX_ERR_HE_CAPACITY_EXCEEDED', `a value of ${u} units does not fit under the plain modulus ${t}`)
  }
  return fitsI32 ? Int32Array.from(units, Number) : BigInt64Array.from(units)
}

/** x^2 mod t, as residues in [0, t): one CRT share of the square column. */
function squareResidues(units: readonly bigint[], t: bigint): BigUint64Array {
  const out = new BigUint64Array(units.length)
  for (let i = 0; i < units.length; i++) out[i] = mod(units[i]! * units[i]!, t)
  return out
}

function encryptBfv(ce: ContextEncryptor, plain: PlainText, batch: Int32Array | BigInt64Array | BigUint64Array): Uint8Array {
  sealCall('VEILBOX_ERR_HE_SEAL_FAILURE', 'batch encoding failed', () => ce.ctx.batchEncoder!.encode(batch, plain))
  return serializeSymmetric(ce, plain)
}

function encryptCkks(ce: ContextEncryptor, plain: PlainText, batch: Float64Array): Uint8Array {
  const { ctx } = ce
  const p = ctx.params
  if (p.scheme !== 'ckks') throw heError('VEILBOX_ERR_HE_BAD_ARGUMENT', 'a CKKS column is planned on a BFV context')
  sealCall('VEILBOX_ERR_HE_SEAL_FAILURE', 'CKKS encoding failed', () => ctx.ckksEncoder!.encode(batch, 2 ** p.scaleBits, plain))
  return serializeSymmetric(ce, plain)
}

function serializeSymmetric(ce: ContextEncryptor, plain: PlainText): Uint8Array {
  const serializable = sealCall('VEILBOX_ERR_HE_SEAL_FAILURE', 'symmetric encryption failed', () => ce.encryptor.encryptSymmetricSerializable(plain))
  try {
    return serializable.saveArray(ce.ctx.seal.ComprModeType.zstd)
  } finally {
    serializable.delete()
  }
}

