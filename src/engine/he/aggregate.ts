import type { CipherText } from 'node-seal/implementation/cipher-text.js'
import type { GaloisKeys } from 'node-seal/implementation/galois-keys.js'
import type { CodeArray, Grouping, Selection } from '../exec/types.js'
import { contextFor, type HeContext } from './context.js'
import { badArgument, heError, sealCall } from './errors.js'
import { loadGaloisKeys } from './keys.js'
import { slotCount } from './params.js'
import { CKKS_MAX_ABS_SUM_BITS, columnPlan, type HeColumnPlan, type HeProfile } from './profile.js'
import { SealScope } from './scope.js'
import type { AggregateKind, EncryptedAggregate, EncryptedAggregateResult, EncryptedColumn, PublicMaterial } from './types.js'

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
 * What it costs, and why it is done this way (BFV, n = 8192, per batch):
 *   - loading a seeded ciphertext: about 2 ms. Unavoidable.
 *   - a batch whose rows are all selected and all in one group is added as it
 *     is (0.1 ms): no mask. This is the plain SUM without WHERE, and it does
 *     exactly what a bare load-add loop does.
 *   - a batch with no selected row for a group is skipped for that group; a
 *     batch with none at all is not even loaded.
 *   - otherwise the batch is moved into NTT form once (2 ms) and each group's
 *     mask multiplies it there (mask NTT 1 ms + product 1 ms), instead of
 *     `multiply_plain` in coefficient form (6 ms, which converts both
 *     operands to NTT and back on every call); accumulators stay in NTT form
 *     and go back once per group at the end.
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

/** Galois keys of a profile's contexts, loaded once (per worker) and reused across queries. */
export class EvaluationKeys {
  private constructor(
    readonly profile: HeProfile,
    private readonly galois: readonly GaloisKeys[],
  ) {}

  static async open(material: PublicMaterial): Promise<EvaluationKeys> {
    const scope = new SealScope()
    try {
      const galois: GaloisKeys[] = []
      for (let i = 0; i < material.profile.contexts.length; i++) {
        const ctx = await contextFor(material.profile.contexts[i]!)
        const keys = material.contexts[i]
        if (keys === undefined) throw heError('VEILBOX_ERR_HE_BAD_CIPHERTEXT', `public material of dataset ${material.dataset} lacks context ${i}`)
        galois.push(scope.add(loadGaloisKeys(ctx, keys.galoisKeys, keys.galoisSteps)))
      }
      return new EvaluationKeys(material.profile, galois)
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

  delete(): void {
    for (const gk of this.galois) gk.delete()
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
    throw heError('VEILBOX_ERR_HE_BAD_CIPHERTEXT', `column ${column.column} was encrypted under HE profile ${column.profileId.slice(0, 12)}, not the dataset's ${profile.id.slice(0, 12)}; re-encrypt it with the current keys`)
  }
  const plan = columnPlan(profile, column.column)
  const rows = column.rows
  if (!Number.isSafeInteger(rows) || rows < 1) throw badArgument(`rows must be a positive whole number, got ${String(rows)}`)
  const slots = slotCount(profile.contexts[plan.sumContexts[0]!]!)
  if (column.batchRows !== slots) throw heError('VEILBOX_ERR_HE_BAD_CIPHERTEXT', `column ${column.column} packs ${column.batchRows} rows per ciphertext; its context holds ${slots}`)
  const batches = Math.ceil(rows / slots)
  const checkStream = (what: string, data: readonly (readonly Uint8Array[])[] | null, contexts: readonly number[]): void => {
    if (data === null || data.length !== contexts.length || data.some((d) => d.length !== batches)) {
      throw heError('VEILBOX_ERR_HE_BAD_CIPHERTEXT', `column ${column.column} needs ${contexts.length} x ${batches} ${what} ciphertexts for ${rows} rows`)
    }
  }
  checkStream('value', column.values, plan.sumContexts)
  if (squares) {
    if (plan.squareContexts === null) {
      throw heError('VEILBOX_ERR_HE_UNSUPPORTED_COLUMN', `column ${column.column}: its HE keys were made without variance, so no encrypted squares exist; VAR and STDDEV need keys created with variance`, { column: column.column })
    }
    checkStream('square', column.squares, plan.squareContexts)
  }
  if (selection !== null && (!(selection instanceof Uint8Array) || selection.length !== rows)) {
    throw badArgument(`the selection must be a Uint8Array of ${rows} bytes, got ${selection instanceof Uint8Array ? selection.length : typeof selection}`)
  }
  let groups = 1
  if (grouping !== null) {
    groups = grouping.count
    if (!Number.isSafeInteger(groups) || groups < 1) throw badArgument(`grouping.count must be a positive whole number, got ${String(groups)}`)
    if (groups > MAX_HE_GROUPS) {
      capacity(`GROUP BY over an encrypted column can have at most ${MAX_HE_GROUPS} groups (each needs its own accumulator and rotate-and-sum), got ${groups}`, { groups })
    }
    if (grouping.codes.length !== rows) throw badArgument(`group codes must have one entry per row (${rows}), got ${grouping.codes.length}`)
  }
  const counts = new Array<number>(groups).fill(0)
  const codes = grouping?.codes ?? null
  if (codes === null && selection === null) counts[0] = rows
  else {
    for (let r = 0; r < rows; r++) {
      const g = codes === null ? 0 : codes[r]!
      if (codes !== null && !(g < groups)) throw badArgument(`group code ${g} at row ${r} is not below the group count ${groups}`)
      if (selection === null || selection[r] !== 0) counts[g]!++
    }
  }
  const most = counts.reduce((a, b) => Math.max(a, b), 0)
  checkCapacity(profile, plan, most, squares)
  if (rows > profile.maxRows) {
    capacity(`column ${column.column} has ${rows} rows; its HE parameters were chosen for at most ${profile.maxRows} (the noise budget and the capacity rule assume it)`, { rows, maxRows: profile.maxRows })
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
        `column ${plan.name}: SUM over ${rows} rows of values up to ${M} units could reach rows * max|x| = ${R * M}, which is >= t/2 = ${t / 2n} for the plain modulus t = ${t}; the encrypted sum would wrap. Lower the row count or create keys with a larger maxRows.`,
        { column: plan.name, rows, bound: String(R * M), halfModulus: String(t / 2n) },
      )
    }
    if (squares && plan.squareContexts !== null) {
      const P = plan.squareContexts.reduce((a, i) => a * bfvModulus(profile, i), 1n)
      if (2n * R * M * M >= P) {
        capacity(
          `column ${plan.name}: the sum of squares over ${rows} rows could reach rows * max|x|^2 = ${R * M * M}, which is >= P/2 for the CRT modulus P = ${P}; it would wrap.`,
          { column: plan.name, rows, bound: String(R * M * M), halfModulus: String(P / 2n) },
        )
      }
    }
  } else {
    const m = Math.max(Math.abs(plan.lower), Math.abs(plan.upper))
    const limit = 2 ** CKKS_MAX_ABS_SUM_BITS
    if (rows * m >= limit || (squares && rows * m * m >= limit)) {
      capacity(`column ${plan.name}: a CKKS sum over ${rows} rows could reach 2^${CKKS_MAX_ABS_SUM_BITS}, beyond what its modulus holds`, { column: plan.name, rows })
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
  const addStream = (kind: AggregateKind, contexts: readonly number[], data: readonly (readonly Uint8Array[])[]): void => {
    contexts.forEach((c, share) => {
      const list = byContext.get(c) ?? []
      list.push({ kind, share, data: data[share]! })
      byContext.set(c, list)
    })
  }
  addStream('sum', plan.sumContexts, column.values)
  if (squares) addStream('sumSquares', plan.squareContexts!, column.squares!)

  const results = new Map<string, (Uint8Array | null)[]>()
  for (const [c, streams] of byContext) {
    const ctx = await contextFor(profile.contexts[c]!)
    const out = sealCall('VEILBOX_ERR_HE_SEAL_FAILURE', 'encrypted aggregation failed', () =>
      sumContext(ctx, keys.galoisKeys(c), streams, column.rows, selection, grouping?.codes ?? null, groups),
    )
    streams.forEach((s, i) => results.set(`${s.kind}:${s.share}`, out[i]!))
  }

  const collect = (kind: AggregateKind, contexts: readonly number[]): (EncryptedAggregate | null)[] =>
    counts.map((rows, group) => {
      if (rows === 0) return null
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
 * rotate-and-sum and serialized. out[stream][group] is null for a group with
 * no selected row.
 */
function sumContext(
  ctx: HeContext,
  galois: GaloisKeys,
  streams: readonly Stream[],
  rows: number,
  selection: Selection | null,
  codes: CodeArray | null,
  groups: number,
): (Uint8Array | null)[][] {
  const { seal, evaluator: ev, slots } = ctx
  const bfv = ctx.params.scheme === 'bfv'
  const scope = new SealScope()
  try {
    const loaded = streams.map(() => scope.add(seal.CipherText()))
    const ntt = streams.map(() => scope.add(seal.CipherText()))
    const product = scope.add(seal.CipherText())
    const maskPlain = scope.add(seal.PlainText())
    const maskNtt = scope.add(seal.PlainText())
    // masked[s][g]: BFV in NTT form, CKKS at scale^2; whole[s][g]: BFV batches added unmasked.
    const masked: (CipherText | null)[][] = streams.map(() => new Array<CipherText | null>(groups).fill(null))
    const whole: (CipherText | null)[][] = streams.map(() => new Array<CipherText | null>(groups).fill(null))
    const accumulate = (acc: (CipherText | null)[], g: number, x: CipherText): void => {
      const a = acc[g]
      if (a === null) acc[g] = scope.add(x.clone())
      else ev.add(a, x, a)
    }
    const maskU32 = bfv ? new Uint32Array(slots) : null
    const maskF64 = bfv ? null : new Float64Array(slots)
    const maskScale = ctx.params.scheme === 'ckks' ? 2 ** ctx.params.scaleBits : 0
    const inBatch = new Int32Array(groups)
    const batches = Math.ceil(rows / slots)

    for (let b = 0; b < batches; b++) {
      const start = b * slots
      const end = Math.min(rows, start + slots)
      inBatch.fill(0)
      if (selection === null && codes === null) inBatch[0] = end - start
      else {
        for (let r = start; r < end; r++) {
          if (selection === null || selection[r] !== 0) inBatch[codes === null ? 0 : codes[r]!]!++
        }
      }
      if (inBatch.every((c) => c === 0)) continue
      streams.forEach((s, i) => {
        sealCall('VEILBOX_ERR_HE_BAD_CIPHERTEXT', `batch ${b} of the ${s.kind === 'sum' ? 'value' : 'square'} column does not load under its context`, () =>
          loaded[i]!.loadArray(ctx.context, s.data[b]!),
        )
        if (loaded[i]!.size !== 2) throw heError('VEILBOX_ERR_HE_BAD_CIPHERTEXT', `batch ${b} is a ciphertext of size ${loaded[i]!.size}, not a fresh encryption`)
      })
      let inNtt = false
      for (let g = 0; g < groups; g++) {
        const n = inBatch[g]!
        if (n === 0) continue
        if (bfv && n === slots) {
          streams.forEach((_, i) => accumulate(whole[i]!, g, loaded[i]!))
          continue
        }
        if (bfv) {
          if (!inNtt) {
            streams.forEach((_, i) => ev.cipherTransformToNtt(loaded[i]!, ntt[i]!))
            inNtt = true
          }
          maskU32!.fill(0)
          for (let r = start; r < end; r++) {
            if ((selection === null || selection[r] !== 0) && (codes === null || codes[r] === g)) maskU32![r - start] = 1
          }
          ctx.batchEncoder!.encode(maskU32!, maskPlain)
          ev.plainTransformToNtt(maskPlain, ctx.firstParmsId, maskNtt)
        } else {
          maskF64!.fill(0)
          for (let r = start; r < end; r++) {
            if ((selection === null || selection[r] !== 0) && (codes === null || codes[r] === g)) maskF64![r - start] = 1
          }
          ctx.ckksEncoder!.encode(maskF64!, maskScale, maskNtt)
        }
        streams.forEach((_, i) => {
          ev.multiplyPlain(bfv ? ntt[i]! : loaded[i]!, maskNtt, product)
          accumulate(masked[i]!, g, product)
        })
      }
    }

    const rotated = scope.add(seal.CipherText())
    return streams.map((_, i) =>
      Array.from({ length: groups }, (_, g) => {
        let total = masked[i]![g]!
        if (total !== null) {
          if (bfv) ev.cipherTransformFromNtt(total, total)
          else ev.rescaleToNext(total, total)
        }
        const w = whole[i]![g]!
        if (w !== null) {
          if (total === null) total = w
          else ev.add(total, w, total)
        }
        if (total === null) return null
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
