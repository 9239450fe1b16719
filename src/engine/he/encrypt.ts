import type { CipherText } from 'node-seal/implementation/cipher-text.js'
import type { Encryptor } from 'node-seal/implementation/encryptor.js'
import type { PlainText } from 'node-seal/implementation/plain-text.js'
import type { PublicKey } from 'node-seal/implementation/public-key.js'
import type { SecretKey } from 'node-seal/implementation/secret-key.js'
import type { VeilboxError } from '../../errors/index.js'
import { contextFor, type HeContext } from './context.js'
import { badArgument, heError, sealCall } from './he-error.js'
import { loadPublicKey } from './keys.js'
import type { KeyStore } from './keystore.js'
import { columnPlan, type HeColumnPlan, type HeProfile } from './profile.js'
import { SealScope } from './scope.js'
import type { EncryptedColumn, PublicMaterial } from './types.js'
import { mod, toUnits } from './units.js'

/**
 * Turns a column's values into ciphertexts, one per batch of `slots` rows.
 * Two ways, one format:
 *
 * - The data owner (`ColumnEncryptor.open`, with the custodian's key store):
 *   symmetric encryption with the secret key, before the data leaves the
 *   owner's domain. The owner holds the key anyway, it is about 1.3x faster
 *   than public-key encryption, and the seeded serialization
 *   (`encryptSymmetricSerializable`: the random half of the ciphertext is
 *   replaced by the seed that regenerates it) is half the size. SEAL's
 *   Encryptor insists on a valid public key even for symmetric use, so the
 *   public key is loaded as well.
 * - The compute service (`ColumnEncryptor.openPublic`, with the public
 *   material only): public-key encryption of a plaintext upload on arrival.
 *   The service never holds a secret key, so this is the only way it can
 *   encrypt; the ciphertexts are twice the size (no seed), and the service
 *   saw the plaintext in memory, which is why it is the weaker path.
 *
 * Packing. Row r goes to batch floor(r / slots), slot r mod slots. For BFV
 * the n slots form SEAL's 2 x n/2 matrix (slots 0..n/2-1 the first row, the
 * rest the second); which row a value lands in does not matter, because the
 * service only ever adds slot-wise and then sums all slots. The last batch is
 * padded with zeros, and the service masks it too. CKKS holds n/2 real slots.
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

export type EncryptionMode = 'symmetric' | 'public'

/** One batch of one column: a ciphertext per SUM context, and per square context (or null without variance). */
export interface EncryptedBatch {
  readonly values: readonly Uint8Array[]
  readonly squares: readonly Uint8Array[] | null
}

export class ColumnEncryptor {
  private closed = false

  private constructor(
    readonly profile: HeProfile,
    readonly mode: EncryptionMode,
    private readonly encryptors: ReadonlyMap<number, ContextEncryptor>,
    private readonly scope: SealScope,
  ) {}

  /**
   * Opens the data owner's encryptor for `dataset` with the keys in the
   * custodian's key store. The secret keys live in SEAL objects until
   * `close`; call it in a `finally`.
   */
  static async open(keystore: KeyStore, dataset: string): Promise<ColumnEncryptor> {
    const profile = await keystore.profile(dataset)
    const all = profile.contexts.map((_, i) => i)
    const publicKeys = await Promise.all(all.map((i) => keystore.publicKey(dataset, i)))
    const scope = new SealScope()
    try {
      const encryptors = await keystore.withSecretKeys(dataset, all, (keys) => {
        const map = new Map<number, ContextEncryptor>()
        keys.forEach(({ ctx, secretKey }, i) => {
          const pk: PublicKey = scope.add(loadPublicKey(ctx, publicKeys[i]!))
          // The Encryptor keeps its own copy of the secret key; the one
          // withSecretKeys loaded is deleted when this callback returns.
          const encryptor = scope.add(ctx.seal.Encryptor(ctx.context, pk, secretKey as SecretKey))
          map.set(i, { ctx, encryptor })
        })
        return map
      })
      return new ColumnEncryptor(profile, 'symmetric', encryptors, scope)
    } catch (e) {
      scope.close()
      throw e
    }
  }

  /**
   * Opens a public-key encryptor from the public material alone: what the
   * compute service uses to encrypt a plaintext upload on arrival. It can
   * encrypt, never decrypt.
   */
  static async openPublic(material: PublicMaterial): Promise<ColumnEncryptor> {
    const profile = material.profile
    const scope = new SealScope()
    try {
      const map = new Map<number, ContextEncryptor>()
      for (let i = 0; i < profile.contexts.length; i++) {
        const keys = material.contexts[i]
        if (keys === undefined)
          throw heError(
            'VEILBOX_ERR_HE_BAD_CIPHERTEXT',
            `the public material of dataset ${material.dataset} lacks context ${i}`,
          )
        const ctx = await contextFor(profile.contexts[i]!)
        const pk = scope.add(loadPublicKey(ctx, keys.publicKey))
        map.set(i, { ctx, encryptor: scope.add(ctx.seal.Encryptor(ctx.context, pk)) })
      }
      return new ColumnEncryptor(profile, 'public', map, scope)
    } catch (e) {
      scope.close()
      throw e
    }
  }

  close(): void {
    this.closed = true
    this.scope.close()
  }

  /** Rows per ciphertext of a column: the slot count of its context. */
  batchRows(column: string): number {
    const plan = columnPlan(this.profile, column)
    return this.encryptors.get(plan.sumContexts[0]!)!.ctx.slots
  }

  /**
   * Encrypts one batch of a column: `values` (1 to batchRows of them) are
   * rows firstRow, firstRow + 1, ...; firstRow names them in refusals.
   */
  encryptBatch(column: string, values: ArrayLike<number>, firstRow = 0): EncryptedBatch {
    if (this.closed) throw heError('VEILBOX_ERR_HE_BAD_ARGUMENT', 'the encryptor is closed')
    const plan = columnPlan(this.profile, column)
    const sumCtx = plan.sumContexts.map((i) => this.encryptors.get(i)!)
    const sqCtx = plan.squareContexts?.map((i) => this.encryptors.get(i)!) ?? null
    const slots = sumCtx[0]!.ctx.slots
    if (values.length < 1 || values.length > slots)
      throw badArgument(`a batch of column ${column} holds 1 to ${slots} values, got ${values.length}`)
    const scope = new SealScope()
    try {
      const seal = sumCtx[0]!.ctx.seal
      const plain = scope.add(seal.PlainText())
      const cipher = this.mode === 'public' ? scope.add(seal.CipherText()) : null
      const out = (ce: ContextEncryptor): Uint8Array => this.serialize(ce, plain, cipher)
      try {
        if (plan.scheme === 'bfv') {
          const units = batchUnits(plan, values, firstRow, slots)
          try {
            const valuesOut = sumCtx.map((ce) => encodeBfv(ce, plain, signedBatch(units, plainModulus(ce.ctx)), out))
            const squaresOut =
              sqCtx?.map((ce) => encodeBfv(ce, plain, squareResidues(units, plainModulus(ce.ctx)), out)) ?? null
            return { values: valuesOut, squares: squaresOut }
          } finally {
            units.units.fill(0)
            units.wide?.fill(0n)
          }
        }
        const reals = batchReals(plan, values, firstRow, slots)
        try {
          const valuesOut = [encodeCkks(sumCtx[0]!, plain, reals, out)]
          let squaresOut: Uint8Array[] | null = null
          if (sqCtx !== null) {
            for (let i = 0; i < reals.length; i++) reals[i] = reals[i]! * reals[i]!
            squaresOut = [encodeCkks(sqCtx[0]!, plain, reals, out)]
          }
          return { values: valuesOut, squares: squaresOut }
        } finally {
          reals.fill(0)
        }
      } finally {
        // The plaintext polynomial held the values: clear it before SEAL frees it.
        plain.setZero()
      }
    } finally {
      scope.close()
    }
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
    const slots = this.batchRows(column)
    const batches = Math.ceil(rows / slots)
    const valuesOut: Uint8Array[][] = plan.sumContexts.map(() => [])
    const squaresOut: Uint8Array[][] | null = plan.squareContexts === null ? null : plan.squareContexts.map(() => [])
    const isArray = ArrayBuffer.isView(values) || Array.isArray(values)
    for (let b = 0; b < batches; b++) {
      const start = b * slots
      const end = Math.min(rows, start + slots)
      const slice = isArray
        ? (values as unknown as { slice(a: number, b: number): ArrayLike<number> }).slice(start, end)
        : Array.from({ length: end - start }, (_, i) => values[start + i]!)
      const batch = this.encryptBatch(column, slice, start)
      batch.values.forEach((ct, i) => {
        valuesOut[i]!.push(ct)
      })
      batch.squares?.forEach((ct, i) => {
        squaresOut![i]!.push(ct)
      })
      onProgress?.(end, rows)
    }
    return { profileId: this.profile.id, column, rows, batchRows: slots, values: valuesOut, squares: squaresOut }
  }

  private serialize(ce: ContextEncryptor, plain: PlainText, cipher: CipherText | null): Uint8Array {
    const zstd = ce.ctx.seal.ComprModeType.zstd
    if (cipher === null) {
      const serializable = sealCall('VEILBOX_ERR_HE_SEAL_FAILURE', 'symmetric encryption failed', () =>
        ce.encryptor.encryptSymmetricSerializable(plain),
      )
      try {
        return serializable.saveArray(zstd)
      } finally {
        serializable.delete()
      }
    }
    sealCall('VEILBOX_ERR_HE_SEAL_FAILURE', 'public-key encryption failed', () => ce.encryptor.encrypt(plain, cipher))
    return cipher.saveArray(zstd)
  }
}

function badValue(plan: HeColumnPlan, row: number, detail: string): VeilboxError {
  return heError('VEILBOX_ERR_HE_BAD_VALUE', `column ${plan.name}, row ${row + 1}: ${detail}; nothing was encrypted`, {
    column: plan.name,
    row: row + 1,
  })
}

function checkValue(plan: HeColumnPlan, x: number, row: number): void {
  if (typeof x !== 'number' || !Number.isFinite(x)) throw badValue(plan, row, `${String(x)} is not a finite number`)
  if (plan.type === 'integer' && !Number.isInteger(x)) throw badValue(plan, row, `${x} is not a whole number`)
  if (x < plan.lower || x > plan.upper)
    throw badValue(plan, row, `${x} is outside the declared bounds [${plan.lower}, ${plan.upper}]`)
}

/**
 * Fixed-point units of a batch as doubles, zero-padded to `slots`, and the
 * largest |unit|; firstRow names rows in refusals. Units beyond 2^53 cannot
 * occur: the capacity rule keeps |x| * 10^scale below t/2 < 2^60, and such
 * columns take the exact BigInt path below (`wide`).
 */
interface BatchUnits {
  readonly units: Float64Array
  /** Units as BigInt, when some |unit| passes FAST_UNITS (doubles would not hold its square exactly). */
  readonly wide: bigint[] | null
  readonly maxAbs: number
}

/** |unit| up to 2^26: the unit, its square (< 2^52) and any sum of two are exact in a double. */
const FAST_UNITS = 2 ** 26
const SCALES = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000]

function batchUnits(plan: HeColumnPlan, values: ArrayLike<number>, firstRow: number, slots: number): BatchUnits {
  const units = new Float64Array(slots)
  const f = SCALES[plan.scale]
  let maxAbs = 0
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!
    checkValue(plan, x, firstRow + i)
    // toUnits' own fast path, without a BigInt per value: exact when the product is not near a half.
    const y = f === undefined ? Number.NaN : x * f
    const r = Math.round(y)
    const u = Math.abs(y) < 2 ** 40 && Math.abs(y - r) < 0.49 ? r : Number(toUnits(x, plan.scale))
    units[i] = u
    const a = u < 0 ? -u : u
    if (a > maxAbs) maxAbs = a
  }
  // Rare (units beyond 2^26): every unit again, exactly, as BigInt.
  const wide =
    maxAbs > FAST_UNITS
      ? Array.from({ length: slots }, (_, i) => (i < values.length ? toUnits(values[i]!, plan.scale) : 0n))
      : null
  return { units, wide, maxAbs }
}

function batchReals(plan: HeColumnPlan, values: ArrayLike<number>, firstRow: number, slots: number): Float64Array {
  const out = new Float64Array(slots)
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!
    checkValue(plan, x, firstRow + i)
    out[i] = x
  }
  return out
}

const I32_MAX = 2 ** 31 - 1
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

function plainModulus(ctx: HeContext): bigint {
  if (ctx.params.scheme !== 'bfv')
    throw heError('VEILBOX_ERR_HE_BAD_ARGUMENT', 'a BFV column is planned on a CKKS context')
  return ctx.params.plainModulus
}

/**
 * Values as SEAL's signed batch encoding takes them (negative x stands for
 * t + x). The capacity rule keeps |x| < t/2, so no reduction is needed (it is
 * checked all the same); an Int32Array is used when it can hold them, as it
 * converts faster than BigInt.
 */
function signedBatch(b: BatchUnits, t: bigint): Int32Array | BigInt64Array {
  const tooBig = (u: bigint) =>
    heError('VEILBOX_ERR_HE_CAPACITY_EXCEEDED', `a value of ${u} units does not fit under the plain modulus ${t}`)
  if (b.wide === null) {
    if (2n * BigInt(b.maxAbs) >= t) throw tooBig(BigInt(b.maxAbs))
    if (b.maxAbs <= I32_MAX) return Int32Array.from(b.units)
    return BigInt64Array.from(b.units, (u) => BigInt(u))
  }
  for (const u of b.wide) if (2n * (u < 0n ? -u : u) >= t) throw tooBig(u)
  return BigInt64Array.from(b.wide)
}

/**
 * x^2 mod t, as residues in [0, t): one CRT share of the square column. With
 * every |unit| within FAST_UNITS the square is an exact double below 2^52;
 * below t it is its own residue and goes into the array as two 32-bit halves,
 * with no BigInt per value.
 */
function squareResidues(b: BatchUnits, t: bigint): BigUint64Array {
  const n = b.units.length
  const out = new BigUint64Array(n)
  if (b.wide === null && LITTLE_ENDIAN && BigInt(b.maxAbs) * BigInt(b.maxAbs) < t) {
    const halves = new Uint32Array(out.buffer)
    for (let i = 0; i < n; i++) {
      const sq = b.units[i]! * b.units[i]!
      const lo = sq % 4294967296
      halves[2 * i] = lo
      halves[2 * i + 1] = (sq - lo) / 4294967296
    }
    return out
  }
  const wide = b.wide ?? Array.from(b.units, (u) => BigInt(u))
  for (let i = 0; i < n; i++) out[i] = mod(wide[i]! * wide[i]!, t)
  return out
}

function encodeBfv(
  ce: ContextEncryptor,
  plain: PlainText,
  batch: Int32Array | BigInt64Array | BigUint64Array,
  out: (ce: ContextEncryptor) => Uint8Array,
): Uint8Array {
  try {
    sealCall('VEILBOX_ERR_HE_SEAL_FAILURE', 'batch encoding failed', () => ce.ctx.batchEncoder!.encode(batch, plain))
  } finally {
    // The encoded values were plaintext: wipe the JS copy at once.
    if (batch instanceof Int32Array) batch.fill(0)
    else batch.fill(0n)
  }
  return out(ce)
}

function encodeCkks(
  ce: ContextEncryptor,
  plain: PlainText,
  batch: Float64Array,
  out: (ce: ContextEncryptor) => Uint8Array,
): Uint8Array {
  const { ctx } = ce
  const p = ctx.params
  if (p.scheme !== 'ckks') throw heError('VEILBOX_ERR_HE_BAD_ARGUMENT', 'a CKKS column is planned on a BFV context')
  sealCall('VEILBOX_ERR_HE_SEAL_FAILURE', 'CKKS encoding failed', () =>
    ctx.ckksEncoder!.encode(batch, 2 ** p.scaleBits, plain),
  )
  return out(ce)
}
