// Long on purpose: encrypted aggregation is constant in shape (every batch, every group, always), and the
// BFV and CKKS paths share that schedule; split, the constant-shape argument would span files.
import type { CipherText } from 'node-seal/implementation/cipher-text.js'
import type { Encryptor } from 'node-seal/implementation/encryptor.js'
import type { GaloisKeys } from 'node-seal/implementation/galois-keys.js'
import type { CodeArray, Grouping, Selection } from '../exec/types.js'
import { contextFor, type HeContext } from './context.js'
import { badArgument, heError, sealCall } from './he-error.js'
import { loadGaloisKeys, loadPublicKey } from './keys.js'
import { slotCount } from './params.js'
import { CKKS_MAX_ABS_SUM_BITS, columnPlan, type HeColumnPlan, type HeProfile } from './profile.js'
import { SealScope } from './scope.js'
import type {
  AggregateKind,
  EncryptedAggregate,
  EncryptedAggregateResult,
  EncryptedColumn,
  PublicMaterial,
} from './types.js'

/**
 * Encrypted SUM (and sum of squares) per group, on the compute service. It
 * needs only public material: Galois keys for the rotations, never a secret
 * key, so it can run in a sandbox worker.
 *
 * Per batch of rows and per group g, the batch ciphertext is multiplied by a
 * plaintext 0/1 mask (row selected, i.e. WHERE and contribution bound, and in
 * group g) and added into the group's accumulator. Only at the end is each
 * accumulator reduced by rotate-and-sum, once per group, so that every slot
 * holds the group total and the custodian learns nothing but that total.
 *
 * Constant shape. What the service does, and so how long it takes, depends
 * only on public facts: the plan (columns, groups, whether there is a
 * selection at all) and the version's batch count (its row count rounded up
 * to a ciphertext batch, which docs/privacy-model.md declares public). It
 * never depends on which rows are selected or in which group they fall: every
 * batch is loaded, every group's mask is built and multiplied in for every
 * batch (a mask of zeros included), every group is reduced by rotate-and-sum
 * and sent for decryption, empty or not. An earlier version skipped empty
 * batches and groups and added fully selected batches unmasked; the response
 * time then told an analyst whether a selection was empty, for no privacy
 * cost (Haeberlen et al., "Differential Privacy Under Fire", 2011).
 *
 * The one path without masks is a task with no selection and no grouping at
 * all (a fact of the plan): each batch is then added as it is.
 *
 * What it costs (BFV, n = 8192, per batch):
 *   - loading a seeded ciphertext: about 2 ms;
 *   - moving it into NTT form once (2 ms), then per group a mask encoded and
 *     moved to NTT (1 ms) and a pointwise product (1 ms), instead of
 *     `multiply_plain` in coefficient form (6 ms, which converts both operands
 *     to NTT and back on every call); accumulators stay in NTT form and go
 *     back once per group at the end;
 *   - rotate-and-sum: log2(n/2) row rotations + 1 column rotation per group
 *     (about 140 ms), independent of the row count.
 * CKKS ciphertexts are always in NTT form, so every batch is masked
 * (a pointwise product); the sums are rescaled once per group at the end.
 *
 * Every SEAL object is created in a scope and deleted in `finally`; loads,
 * products and rotations write into reused destination objects.
 */

/** Each group needs its own accumulators (about 1 MB each at n = 8192) and its own rotate-and-sum. */
export const MAX_HE_GROUPS = 256

/**
 * A profile's evaluation material, loaded once (per worker) and reused across
 * queries: per context the Galois keys for rotate-and-sum, and an encryptor
 * under the public key for the fresh encryption of zero that every masked
 * aggregate gets (see sumContext). Neither can decrypt anything.
 */
export class EvaluationKeys {
  private constructor(
    readonly profile: HeProfile,
    private readonly galois: readonly GaloisKeys[],
    private readonly encryptors: readonly Encryptor[],
    private readonly scope: SealScope,
  ) {}

  static async open(material: PublicMaterial): Promise<EvaluationKeys> {
    const scope = new SealScope()
    try {
      const galois: GaloisKeys[] = []
      const encryptors: Encryptor[] = []
      for (let i = 0; i < material.profile.contexts.length; i++) {
        const ctx = await contextFor(material.profile.contexts[i]!)
        const keys = material.contexts[i]
        if (keys === undefined)
          throw heError(
            'VEILBOX_ERR_HE_BAD_CIPHERTEXT',
            `public material of dataset ${material.dataset} lacks context ${i}`,
          )
        galois.push(scope.add(loadGaloisKeys(ctx, keys.galoisKeys, keys.galoisSteps)))
        const pk = scope.add(loadPublicKey(ctx, keys.publicKey))
        encryptors.push(
          scope.add(
            sealCall('VEILBOX_ERR_HE_BAD_CIPHERTEXT', 'the public key does not make an encryptor', () =>
              ctx.seal.Encryptor(ctx.context, pk),
            ),
          ),
        )
      }
      return new EvaluationKeys(material.profile, galois, encryptors, scope)
    } catch (e) {
      scope.close()
      throw e
    }
  }

  galoisKeys(contextIndex: number): GaloisKeys {
    const gk = this.galois[contextIndex]
    if (gk === undefined) throw badArgument(`no Galois keys for context ${contextIndex}`)
    return gk
  }

  encryptor(contextIndex: number): Encryptor {
    const e = this.encryptors[contextIndex]
    if (e === undefined) throw badArgument(`no public key for context ${contextIndex}`)
    return e
  }

  delete(): void {
    this.scope.close()
  }
}

export interface EncryptedAggregateRequest {
  readonly keys: EvaluationKeys
  readonly column: EncryptedColumn
  /** WHERE and contribution bound, one byte per row (any non-zero byte selects); null selects every row. */
  readonly selection: Selection | null
  /** Group code per row; null for one group of all rows. */
  readonly grouping: Grouping | null
  /** Also sum the squares (VAR, STDDEV). */
  readonly squares: boolean
}

export interface AggregatePlan {
  readonly plan: HeColumnPlan
  readonly groups: number
  /** Selected rows per group. */
  readonly counts: readonly number[]
  readonly batches: number
}

function capacity(detail: string, extra: Record<string, unknown>): never {
  throw heError('VEILBOX_ERR_HE_CAPACITY_EXCEEDED', detail, extra)
}

/**
 * Checks a request before any SEAL work: shapes, the profile the ciphertexts
 * belong to, and that no group's sum can wrap (rows * max|x| < t/2, and
 * rows * max|x|^2 < P/2 for the CRT product P of the square column).
 */
export function planEncryptedAggregate(
  profile: HeProfile,
  column: EncryptedColumn,
  selection: Selection | null,
  grouping: Grouping | null,
  squares: boolean,
): AggregatePlan {
  if (column.profileId !== profile.id) {
    throw heError(
      'VEILBOX_ERR_HE_BAD_CIPHERTEXT',
      `column ${column.column} was encrypted under HE profile ${column.profileId.slice(0, 12)}, not the dataset's ${profile.id.slice(0, 12)}; re-encrypt it with the current keys`,
    )
  }
  const plan = columnPlan(profile, column.column)
  const rows = column.rows
  if (!Number.isSafeInteger(rows) || rows < 1)
    throw badArgument(`rows must be a positive whole number, got ${String(rows)}`)
  const slots = slotCount(profile.contexts[plan.sumContexts[0]!]!)
  if (column.batchRows !== slots)
    throw heError(
      'VEILBOX_ERR_HE_BAD_CIPHERTEXT',
      `column ${column.column} packs ${column.batchRows} rows per ciphertext; its context holds ${slots}`,
    )
  const batches = Math.ceil(rows / slots)
  const checkStream = (
    what: string,
    data: readonly (readonly Uint8Array[])[] | null,
    contexts: readonly number[],
  ): void => {
    if (data === null || data.length !== contexts.length || data.some((d) => d.length !== batches)) {
      throw heError(
        'VEILBOX_ERR_HE_BAD_CIPHERTEXT',
        `column ${column.column} needs ${contexts.length} x ${batches} ${what} ciphertexts for ${rows} rows`,
      )
    }
  }
  checkStream('value', column.values, plan.sumContexts)
  if (squares) {
    if (plan.squareContexts === null) {
      throw heError(
        'VEILBOX_ERR_HE_UNSUPPORTED_COLUMN',
        `column ${column.column}: its HE keys were made without variance, so no encrypted squares exist; VAR and STDDEV need keys created with variance`,
        { column: column.column },
      )
    }
    checkStream('square', column.squares, plan.squareContexts)
  }
  if (selection !== null && (!(selection instanceof Uint8Array) || selection.length !== rows)) {
    throw badArgument(
      `the selection must be a Uint8Array of ${rows} bytes, got ${selection instanceof Uint8Array ? selection.length : typeof selection}`,
    )
  }
  let groups = 1
  if (grouping !== null) {
    groups = grouping.count
    if (!Number.isSafeInteger(groups) || groups < 1)
      throw badArgument(`grouping.count must be a positive whole number, got ${String(groups)}`)
    if (groups > MAX_HE_GROUPS) {
      capacity(
        `GROUP BY over an encrypted column can have at most ${MAX_HE_GROUPS} groups (each needs its own accumulator and rotate-and-sum), got ${groups}`,
        { groups },
      )
    }
    if (grouping.codes.length !== rows)
      throw badArgument(`group codes must have one entry per row (${rows}), got ${grouping.codes.length}`)
  }
  if (rows > profile.maxRows) {
    capacity(
      `column ${column.column} holds more rows than its HE parameters were chosen for (at most ${profile.maxRows}: the noise budget and the capacity rule assume it)`,
      { maxRows: profile.maxRows },
    )
  }
  // Whether a sum can wrap is judged on public facts only (every row of the
  // column in one group), never on how many rows the selection kept: a
  // refusal that depended on the selection would tell whether rows matched.
  checkCapacity(profile, plan, profile.maxRows, squares)
  const counts = new Array<number>(groups).fill(0)
  const codes = grouping?.codes ?? null
  if (codes === null && selection === null) counts[0] = rows
  else {
    for (let r = 0; r < rows; r++) {
      const g = codes === null ? 0 : codes[r]!
      if (codes !== null && !(g < groups))
        throw badArgument(`group code ${g} at row ${r} is not below the group count ${groups}`)
      if (selection === null || selection[r] !== 0) counts[g]!++
    }
  }
  return { plan, groups, counts, batches }
}

function checkCapacity(profile: HeProfile, plan: HeColumnPlan, rows: number, squares: boolean): void {
  const R = BigInt(rows)
  const M = plan.maxAbsUnits
  if (plan.scheme === 'bfv') {
    const t = bfvModulus(profile, plan.sumContexts[0]!)
    if (2n * R * M >= t) {
      capacity(
        `column ${plan.name}: SUM over ${rows} rows (the keys' maxRows) of values up to ${M} units could reach ${R * M}, which is >= t/2 = ${t / 2n} for the plain modulus t = ${t}; the encrypted sum could wrap. Create keys with a smaller maxRows or a larger plain modulus.`,
        { column: plan.name, maxRows: rows, bound: String(R * M), halfModulus: String(t / 2n) },
      )
    }
    if (squares && plan.squareContexts !== null) {
      const P = plan.squareContexts.reduce((a, i) => a * bfvModulus(profile, i), 1n)
      if (2n * R * M * M >= P) {
        capacity(
          `column ${plan.name}: the sum of squares over ${rows} rows (the keys' maxRows) could reach ${R * M * M}, which is >= P/2 for the CRT modulus P = ${P}; it could wrap.`,
          { column: plan.name, maxRows: rows, bound: String(R * M * M), halfModulus: String(P / 2n) },
        )
      }
    }
  } else {
    const m = Math.max(Math.abs(plan.lower), Math.abs(plan.upper))
    const limit = 2 ** CKKS_MAX_ABS_SUM_BITS
    if (rows * m >= limit || (squares && rows * m * m >= limit)) {
      capacity(
        `column ${plan.name}: a CKKS sum over ${rows} rows (the keys' maxRows) could reach 2^${CKKS_MAX_ABS_SUM_BITS}, beyond what its modulus holds`,
        { column: plan.name, maxRows: rows },
      )
    }
  }
}

function bfvModulus(profile: HeProfile, i: number): bigint {
  const p = profile.contexts[i]!
  if (p.scheme !== 'bfv') throw badArgument(`context ${i} is not BFV`)
  return p.plainModulus
}

interface Stream {
  readonly kind: AggregateKind
  /** Position among the kind's contexts (CRT index). */
  readonly share: number
  readonly data: readonly Uint8Array[]
}

/** Runs the encrypted aggregate. Refuses (planEncryptedAggregate) before any SEAL work. */
export async function aggregateEncrypted(req: EncryptedAggregateRequest): Promise<EncryptedAggregateResult> {
  const { keys, column, selection, grouping, squares } = req
  const profile = keys.profile
  const { plan, groups, counts } = planEncryptedAggregate(profile, column, selection, grouping, squares)

  // Streams that share a context (SUM and squares when one prime holds both)
  // are processed together, so each group's mask is encoded once per batch.
  const byContext = new Map<number, Stream[]>()
  const addStream = (
    kind: AggregateKind,
    contexts: readonly number[],
    data: readonly (readonly Uint8Array[])[],
  ): void => {
    contexts.forEach((c, share) => {
      const list = byContext.get(c) ?? []
      list.push({ kind, share, data: data[share]! })
      byContext.set(c, list)
    })
  }
  addStream('sum', plan.sumContexts, column.values)
  if (squares) addStream('sumSquares', plan.squareContexts!, column.squares!)

  const results = new Map<string, Uint8Array[]>()
  for (const [c, streams] of byContext) {
    const ctx = await contextFor(profile.contexts[c]!)
    const out = sealCall('VEILBOX_ERR_HE_SEAL_FAILURE', 'encrypted aggregation failed', () =>
      sumContext(
        ctx,
        keys.galoisKeys(c),
        keys.encryptor(c),
        streams,
        column.rows,
        selection,
        grouping?.codes ?? null,
        groups,
      ),
    )
    streams.forEach((s, i) => {
      results.set(`${s.kind}:${s.share}`, out[i]!)
    })
  }

  // Every group, empty or not: the custodian decrypts (and the audit chain records) the same number of aggregates whatever the selection.
  const collect = (kind: AggregateKind, contexts: readonly number[]): EncryptedAggregate[] =>
    counts.map((rows, group) => {
      const ciphertexts = contexts.map((_, share) => results.get(`${kind}:${share}`)![group]!)
      return { column: column.column, kind, group, rows, ciphertexts }
    })
  return {
    profileId: profile.id,
    column: column.column,
    counts,
    sums: collect('sum', plan.sumContexts),
    sumSquares: squares ? collect('sumSquares', plan.squareContexts!) : null,
  }
}

/**
 * The masked sums of every stream of one context, per group, reduced by
 * rotate-and-sum and serialized: out[stream][group]. The sequence of SEAL
 * operations depends only on the batch count, the group count and whether
 * there is a selection or grouping at all (see the top of the file).
 *
 * SEAL refuses to produce a ciphertext that encrypts zero without any
 * randomness (a "transparent" one, which a product with a mask of zeros is),
 * so masks are never zero: with m the 0/1 mask and B the plain sum of every
 * batch, BFV accumulates A = sum of x * (m + 1) and releases A - B; CKKS
 * accumulates A = sum of x * (m - 1/2) and releases A + B / 2 (no growth in
 * magnitude, so no extra headroom is needed). A fresh public-key encryption
 * of zero is added to every group's result first, so that it is a proper
 * ciphertext whatever the masks were (and re-randomized besides).
 */
function sumContext(
  ctx: HeContext,
  galois: GaloisKeys,
  encryptor: Encryptor,
  streams: readonly Stream[],
  rows: number,
  selection: Selection | null,
  codes: CodeArray | null,
  groups: number,
): Uint8Array[][] {
  const { seal, evaluator: ev, slots } = ctx
  const bfv = ctx.params.scheme === 'bfv'
  const unmasked = selection === null && codes === null
  const scope = new SealScope()
  try {
    const loaded = streams.map(() => scope.add(seal.CipherText()))
    const ntt = streams.map(() => scope.add(seal.CipherText()))
    const product = scope.add(seal.CipherText())
    const maskPlain = scope.add(seal.PlainText())
    const maskNtt = scope.add(seal.PlainText())
    // acc[s][g]: the masked sums (BFV in NTT form, CKKS at scale^2); base[s]: the plain sum of every batch.
    const acc: CipherText[][] = streams.map(() => [])
    const base: CipherText[] = []
    const accumulate = (into: CipherText[], g: number, x: CipherText, first: boolean): void => {
      if (first) into[g] = scope.add(x.clone())
      else ev.add(into[g]!, x, into[g]!)
    }
    const maskU32 = bfv ? new Uint32Array(slots) : null
    const maskF64 = bfv ? null : new Float64Array(slots)
    const maskScale = ctx.params.scheme === 'ckks' ? 2 ** ctx.params.scaleBits : 0
    const batches = Math.ceil(rows / slots)

    for (let b = 0; b < batches; b++) {
      const start = b * slots
      const end = Math.min(rows, start + slots)
      streams.forEach((s, i) => {
        sealCall(
          'VEILBOX_ERR_HE_BAD_CIPHERTEXT',
          `batch ${b} of the ${s.kind === 'sum' ? 'value' : 'square'} column does not load under its context`,
          () => loaded[i]!.loadArray(ctx.context, s.data[b]!),
        )
        if (loaded[i]!.size !== 2)
          throw heError(
            'VEILBOX_ERR_HE_BAD_CIPHERTEXT',
            `batch ${b} is a ciphertext of size ${loaded[i]!.size}, not a fresh encryption`,
          )
      })
      if (unmasked) {
        streams.forEach((_, i) => {
          accumulate(acc[i]!, 0, loaded[i]!, b === 0)
        })
        continue
      }
      if (bfv)
        streams.forEach((_, i) => {
          ev.cipherTransformToNtt(loaded[i]!, ntt[i]!)
        })
      streams.forEach((_, i) => {
        accumulate(base, i, bfv ? ntt[i]! : loaded[i]!, b === 0)
      })
      // The last batch's slots past the final row hold no row (their mask value multiplies zeros).
      for (let g = 0; g < groups; g++) {
        // Branch-free: every group's mask is built, encoded and multiplied in, for every batch.
        if (bfv) {
          for (let r = start; r < end; r++) {
            maskU32![r - start] =
              1 +
              ((selection === null ? 1 : (selection[r]! + 255) >> 8) & (codes === null ? 1 : Number(codes[r] === g)))
          }
          if (end - start < slots) maskU32!.fill(1, end - start)
          ctx.batchEncoder!.encode(maskU32!, maskPlain)
          ev.plainTransformToNtt(maskPlain, ctx.firstParmsId, maskNtt)
        } else {
          for (let r = start; r < end; r++) {
            maskF64![r - start] =
              ((selection === null ? 1 : (selection[r]! + 255) >> 8) & (codes === null ? 1 : Number(codes[r] === g))) -
              0.5
          }
          if (end - start < slots) maskF64!.fill(-0.5, end - start)
          ctx.ckksEncoder!.encode(maskF64!, maskScale, maskNtt)
        }
        streams.forEach((_, i) => {
          ev.multiplyPlain(bfv ? ntt[i]! : loaded[i]!, maskNtt, product)
          accumulate(acc[i]!, g, product, b === 0)
        })
      }
    }

    if (!unmasked) {
      // Undo the masks' offset: BFV subtracts B (in NTT form); CKKS adds B * 1/2, at the products' scale.
      const zero = scope.add(seal.CipherText())
      const zeroPlain = scope.add(seal.PlainText())
      if (bfv) {
        ctx.batchEncoder!.encode(new Uint32Array(slots), zeroPlain)
        encryptor.encrypt(zeroPlain, zero)
        ev.cipherTransformToNtt(zero, zero)
      } else {
        const scale = acc[0]![0]!.scale
        ctx.ckksEncoder!.encode(new Float64Array(slots), scale, zeroPlain)
        encryptor.encrypt(zeroPlain, zero)
        ctx.ckksEncoder!.encode(new Float64Array(slots).fill(0.5), maskScale, maskNtt)
        streams.forEach((_, i) => {
          ev.multiplyPlain(base[i]!, maskNtt, base[i]!)
        })
      }
      streams.forEach((_, i) => {
        for (let g = 0; g < groups; g++) {
          const total = acc[i]![g]!
          ev.add(total, zero, total)
          if (bfv) ev.sub(total, base[i]!, total)
          else ev.add(total, base[i]!, total)
        }
      })
    }

    const rotated = scope.add(seal.CipherText())
    return streams.map((_, i) =>
      Array.from({ length: unmasked ? 1 : groups }, (_, g) => {
        const total = acc[i]![g]!
        if (!unmasked) {
          if (bfv) ev.cipherTransformFromNtt(total, total)
          else ev.rescaleToNext(total, total)
        }
        rotateAndSum(ctx, galois, total, rotated)
        return total.saveArray(seal.ComprModeType.zstd)
      }),
    )
  } finally {
    scope.close()
  }
}

/**
 * Leaves the sum of all slots of `ct` in every slot. BFV: rotating each row
 * of the 2 x n/2 matrix by 1, 2, ..., n/4 and adding sums each row into all
 * its slots; one column rotation swaps the rows, and adding gives the total.
 * CKKS: the same over its single row of n/2 slots.
 */
export function rotateAndSum(ctx: HeContext, galois: GaloisKeys, ct: CipherText, tmp: CipherText): void {
  const ev = ctx.evaluator
  const half = ctx.params.polyModulusDegree / 2
  const rows = ctx.params.scheme === 'bfv'
  for (let step = 1; step < (rows ? half : ctx.slots); step *= 2) {
    if (rows) ev.rotateRows(ct, step, galois, tmp)
    else ev.rotateVector(ct, step, galois, tmp)
    ev.add(ct, tmp, ct)
  }
  if (rows) {
    ev.rotateColumns(ct, galois, tmp)
    ev.add(ct, tmp, ct)
  }
}
