import type { Decryptor } from 'node-seal/implementation/decryptor.js'
import type { VeilboxError } from '../../errors/index.js'
import type { DatasetSpec } from '../../schema.js'
import type { HeContext } from './context.js'
import { heError, sealCall } from './he-error.js'
import type { KeyStore } from './keystore.js'
import { chooseProfile, type HeColumnPlan, type HeKeyOptions, type HeProfile } from './profile.js'
import { SealScope } from './scope.js'
import type {
  Custodian,
  DecryptRequest,
  DecryptResponse,
  DecryptedAggregate,
  EncryptedAggregate,
  PublicMaterial,
  ScaledValue,
} from './types.js'
import { crtCombine, toUnits } from './units.js'

/** Most aggregates one release may ask for: bounds the custodian's work per request. */
export const MAX_AGGREGATES_PER_REQUEST = 4096

function refused(detail: string, extra: Record<string, unknown> = {}): VeilboxError {
  return heError('VEILBOX_ERR_CUSTODIAN_REFUSED', detail, extra)
}

/**
 * The key holder: the one implementation of the custodian role (the
 * `Custodian` interface, types.ts) that holds a dataset's secret keys, in its
 * key store, and decrypts with them. It runs inside the compute service
 * (src/custodian/local.ts, the default) or in a separate `veilbox custodian`
 * process (src/custodian/server.ts), which the service reaches through a
 * client of the same interface.
 *
 * What the custodian learns from a release, and what it lets out:
 *   - it decrypts only result ciphertexts of rotate-and-sum, where every slot
 *     holds the same total. It checks that (all n slots equal for BFV, all
 *     within the error grid for CKKS) and refuses anything else, so a raw
 *     batch ciphertext (n rows of data) sent for "decryption" yields an
 *     error, not values. Of a valid result it reads slot 0 only.
 *   - it checks the value against what the public row count allows (rows *
 *     lower .. rows * upper), so a value no set of that many rows could add
 *     up to (a wrapped sum, or one over far more rows than claimed) is
 *     refused.
 *   - it returns exact values (BFV) or values already rounded to a coarse
 *     grid (CKKS; never the raw decryption, which can leak the key), without
 *     noise: the release step adds DP noise before anything leaves.
 *   - it does not know which rows a result covered; a service that lied about
 *     the mask could get a sum over rows of its choice (one row, even). That
 *     is why every release is DP-noised and charged, and why the service and
 *     not the custodian is trusted with the query plan.
 */
export class KeyHolder implements Custodian {
  constructor(private readonly keystore: KeyStore) {}

  async createKeys(dataset: string, spec: DatasetSpec, options: HeKeyOptions): Promise<HeProfile> {
    if (spec.id !== dataset)
      throw heError('VEILBOX_ERR_HE_BAD_ARGUMENT', `the spec is for dataset ${spec.id}, not ${dataset}`)
    const profile = chooseProfile(spec, options)
    await this.keystore.create(profile)
    return profile
  }

  publicMaterial(dataset: string): Promise<PublicMaterial> {
    return this.keystore.publicMaterial(dataset)
  }

  async decryptAggregates(request: DecryptRequest): Promise<DecryptResponse> {
    const profile = await this.keystore.profile(request.dataset)
    if (request.profileId !== profile.id) {
      throw refused(
        `the aggregates were computed under HE profile ${String(request.profileId).slice(0, 12)}, not dataset ${request.dataset}'s current ${profile.id.slice(0, 12)}`,
      )
    }
    if (typeof request.queryId !== 'string' || request.queryId.length === 0)
      throw refused('a release must name the admitted query it belongs to')
    const aggregates = request.aggregates
    if (!Array.isArray(aggregates) || aggregates.length === 0 || aggregates.length > MAX_AGGREGATES_PER_REQUEST) {
      throw refused(`a release carries 1 to ${MAX_AGGREGATES_PER_REQUEST} aggregates`)
    }
    // Everything is checked against the profile before a secret key is touched.
    const jobs = aggregates.map((a) => checkAggregate(profile, a))
    const needed = [...new Set(jobs.flatMap((j) => j.contexts))].sort((x, y) => x - y)
    return this.keystore.withSecretKeys(request.dataset, needed, (keys) => {
      const scope = new SealScope()
      try {
        const decryptors = new Map<number, { ctx: HeContext; decryptor: Decryptor }>()
        needed.forEach((c, i) => {
          const { ctx, secretKey } = keys[i]!
          decryptors.set(c, { ctx, decryptor: scope.add(ctx.seal.Decryptor(ctx.context, secretKey)) })
        })
        const values: DecryptedAggregate[] = jobs.map((job) => ({
          column: job.a.column,
          kind: job.a.kind,
          group: job.a.group,
          rows: job.a.rows,
          value: decryptOne(job, decryptors),
        }))
        return { queryId: request.queryId, values }
      } finally {
        scope.close()
      }
    })
  }
}

interface Job {
  readonly a: EncryptedAggregate
  readonly plan: HeColumnPlan
  readonly contexts: readonly number[]
}

function checkAggregate(profile: HeProfile, a: EncryptedAggregate): Job {
  if (a === null || typeof a !== 'object') throw refused('an aggregate must be an object')
  const plan = profile.columns.find((c) => c.name === a.column)
  if (plan === undefined) throw refused(`dataset ${profile.dataset} has no he column ${JSON.stringify(a.column)}`)
  const contexts = a.kind === 'sum' ? plan.sumContexts : a.kind === 'sumSquares' ? plan.squareContexts : undefined
  if (contexts === undefined) throw refused(`unknown aggregate kind ${JSON.stringify(a.kind)}`)
  if (contexts === null) throw refused(`column ${a.column} has no encrypted squares`)
  // 0 rows is an empty group's aggregate: decrypted like any other, so that what is released never shows which groups were empty.
  if (!Number.isSafeInteger(a.rows) || a.rows < 0 || a.rows > profile.maxRows) {
    throw refused(`an aggregate covers 0 to ${profile.maxRows} rows, got ${String(a.rows)}`)
  }
  if (!Number.isSafeInteger(a.group) || a.group < 0)
    throw refused(`group must be a whole number >= 0, got ${String(a.group)}`)
  if (
    !Array.isArray(a.ciphertexts) ||
    a.ciphertexts.length !== contexts.length ||
    !a.ciphertexts.every((c) => c instanceof Uint8Array)
  ) {
    throw refused(`a ${a.kind} of column ${a.column} is ${contexts.length} ciphertext(s)`)
  }
  return { a, plan, contexts }
}

function outOfRange(a: EncryptedAggregate): VeilboxError {
  return refused(
    `the ${a.kind} of ${a.column}, group ${a.group}, is not what ${a.rows} rows of values within the declared bounds can add up to; refusing to release it`,
    { column: a.column, group: a.group },
  )
}

function decryptOne(job: Job, decryptors: ReadonlyMap<number, { ctx: HeContext; decryptor: Decryptor }>): ScaledValue {
  const { a, plan, contexts } = job
  const squares = a.kind === 'sumSquares'
  const what = `${a.kind} of ${a.column}, group ${a.group}`
  if (plan.scheme === 'bfv') {
    const residues: bigint[] = []
    const moduli: bigint[] = []
    contexts.forEach((c, share) => {
      const { ctx, decryptor } = decryptors.get(c)!
      if (ctx.params.scheme !== 'bfv')
        throw heError('VEILBOX_ERR_HE_BAD_ARGUMENT', `context ${c} of a BFV column is not BFV`)
      residues.push(decryptSlot0Bfv(ctx, decryptor, a.ciphertexts[share]!, what))
      moduli.push(ctx.params.plainModulus)
    })
    const units = crtCombine(residues, moduli)
    // The count is exact, so the sum lies in [rows * lower, rows * upper].
    const R = BigInt(a.rows)
    const M = plan.maxAbsUnits
    const [lo, hi] = squares
      ? [0n, R * M * M]
      : [R * toUnits(plan.lower, plan.scale), R * toUnits(plan.upper, plan.scale)]
    if (units < lo || units > hi) throw outOfRange(a)
    return { units, base: 10, exponent: 0 - (squares ? 2 * plan.scale : plan.scale) }
  }
  const { ctx, decryptor } = decryptors.get(contexts[0]!)!
  const gridExp = squares ? plan.squareGridExp : plan.sumGridExp
  if (gridExp === null) throw heError('VEILBOX_ERR_HE_BAD_ARGUMENT', `CKKS column ${a.column} has no rounding grid`)
  const units = decryptSlot0Ckks(ctx, decryptor, a.ciphertexts[0]!, gridExp, what)
  const grid = 2 ** gridExp
  const v = Number(units) * grid
  const m = Math.max(Math.abs(plan.lower), Math.abs(plan.upper))
  const [lo, hi] = squares ? [0, a.rows * m * m] : [a.rows * plan.lower, a.rows * plan.upper]
  if (!(v >= lo - grid && v <= hi + grid)) throw outOfRange(a)
  return { units, base: 2, exponent: gridExp }
}

/**
 * BFV: decrypts, checks every slot holds the same residue (a rotate-and-sum
 * result), and returns slot 0 as a residue in [0, t). The decoded slots are
 * wiped before returning.
 */
function decryptSlot0Bfv(ctx: HeContext, decryptor: Decryptor, bytes: Uint8Array, what: string): bigint {
  const scope = new SealScope()
  try {
    const ct = scope.add(ctx.seal.CipherText())
    sealCall('VEILBOX_ERR_CUSTODIAN_REFUSED', `the ${what} is not a ciphertext of its context`, () =>
      ct.loadArray(ctx.context, bytes),
    )
    if (ct.size !== 2)
      throw refused(`the ${what} is a ciphertext of size ${ct.size}; a sum of fresh ciphertexts has size 2`)
    const budget = decryptor.invariantNoiseBudget(ct)
    if (budget <= 0)
      throw heError(
        'VEILBOX_ERR_HE_NOISE_BUDGET_EXHAUSTED',
        `the ${what} has no noise budget left; its decryption would be wrong, so nothing is released`,
      )
    const plain = scope.add(ctx.seal.PlainText())
    sealCall('VEILBOX_ERR_HE_SEAL_FAILURE', 'decryption failed', () => decryptor.decrypt(ct, plain))
    const slots = ctx.batchEncoder!.decodeBigInt(plain, false)
    try {
      const first = slots[0]!
      for (let i = 1; i < slots.length; i++) {
        if (slots[i] !== first)
          throw refused(
            `the ${what} is not a rotate-and-sum aggregate (its slots differ); only aggregates are decrypted`,
          )
      }
      return BigInt(first)
    } finally {
      slots.fill(0n)
    }
  } finally {
    scope.close()
  }
}

/**
 * CKKS: decrypts, checks every slot is within one grid step of slot 0, and
 * returns slot 0 rounded to the grid, as a count of grid steps. The raw
 * decoded values are wiped before returning: only the rounded value leaves.
 */
function decryptSlot0Ckks(
  ctx: HeContext,
  decryptor: Decryptor,
  bytes: Uint8Array,
  gridExp: number,
  what: string,
): bigint {
  const scope = new SealScope()
  try {
    const ct = scope.add(ctx.seal.CipherText())
    sealCall('VEILBOX_ERR_CUSTODIAN_REFUSED', `the ${what} is not a ciphertext of its context`, () =>
      ct.loadArray(ctx.context, bytes),
    )
    if (ct.size !== 2)
      throw refused(`the ${what} is a ciphertext of size ${ct.size}; a sum of fresh ciphertexts has size 2`)
    const plain = scope.add(ctx.seal.PlainText())
    sealCall('VEILBOX_ERR_HE_SEAL_FAILURE', 'decryption failed', () => decryptor.decrypt(ct, plain))
    const slots = ctx.ckksEncoder!.decode(plain)
    try {
      const grid = 2 ** gridExp
      const first = slots[0]!
      for (let i = 1; i < slots.length; i++) {
        if (!(Math.abs(slots[i]! - first) <= grid))
          throw refused(
            `the ${what} is not a rotate-and-sum aggregate (its slots differ); only aggregates are decrypted`,
          )
      }
      // Division by a power of two is exact, so this is round(first / 2^gridExp) exactly.
      return BigInt(Math.round(first / grid))
    } finally {
      slots.fill(0)
    }
  } finally {
    scope.close()
  }
}
