// Long on purpose: the HE profile is one decision (parameters, encodings and the capacity rule that keeps
// BFV sums from wrapping) read by the custodian, the encryptor and the planner alike; split, the capacity
// rule would sit apart from the encodings it constrains.
import { createHash } from 'node:crypto'
import { z } from 'zod'
import type { ColumnSpec, DatasetSpec } from '../../schema.js'
import { heError } from './he-error.js'
import {
  BFV_COEFF_BITS,
  CKKS_COEFF_BITS,
  CKKS_SCALE_BITS,
  POLY_DEGREES,
  bitLength,
  contextKey,
  maxPlainBits,
  minPlainBits,
  validateContextParams,
  type ContextParams,
  type PolyDegree,
} from './params.js'
import { batchingPrimes, coefficientPrimes } from './primes.js'
import { toUnits } from './units.js'

/**
 * A dataset's HE profile: which SEAL contexts its `he` columns use and how
 * each column is encoded. Chosen once, when the custodian creates the keys
 * (keys are bound to the parameters), from nothing but the declared schema
 * and the declared row capacity, so it is public: the compute service and
 * the data owner's encryptor both read it.
 *
 * Capacity rule (PRIVACY-NOTES §3). BFV sums wrap silently modulo the plain
 * modulus t. Every value is within [lower, upper], so |x| <= M units; a SUM
 * over at most R rows stays below R * M, and a sum of squares below R * M^2.
 * We need R * M < t/2 (t odd, so the centred residue is the sum itself).
 *
 * SUM uses one batching prime: the smallest size that holds R * M, so the
 * noise budget keeps the most margin. If even the largest prime usable at n
 * (see maxPlainBits) cannot hold it, the profile is refused.
 *
 * Sums of squares (for VAR/STDDEV) need about twice the bits. Rather than a
 * second, bigger t (there is none above 60 bits, and a bigger t costs noise
 * on every ciphertext), the square column is split by the Chinese remainder
 * theorem over coprime batching primes t_1 = t, t_2: the data owner encrypts
 * x^2 mod t_i under each, the service sums each independently, and the
 * custodian recombines the residues after decryption. When R * M^2 fits under
 * t/2 (t is then sized for it, up to the noise limit), one prime does and the
 * squares share the SUM's context and keys; two always suffice, since each
 * prime exceeds 2 * R * M. The data
 * owner uploads x^2 encrypted rather than the service squaring ciphertexts:
 * a ciphertext square plus relinearization costs several times an add per
 * batch on every query, needs relinearization keys, and eats noise budget;
 * uploading x^2 costs one more encryption per batch, once.
 *
 * CKKS columns (real values, no fixed-point scale) share one CKKS context.
 * Their sums must stay below 2^52 in absolute value (the chain keeps about 2^59
 * after the rescale; the rest is margin), and their decryptions are rounded to
 * a grid 2^gridExp chosen from public quantities only, well above CKKS's own
 * error, before anyone but the custodian sees them.
 */

export const MAX_HE_ROWS = 1 << 24
/** Primes of a CRT-split sum of squares: two always suffice (see the loop in chooseProfile). */
export const MAX_CRT_PRIMES = 2
export const CKKS_MAX_ABS_SUM_BITS = 52

export interface HeKeyOptions {
  /** Most rows a version of the dataset (hence any aggregate) may have. */
  readonly maxRows: number
  /** BFV ring degree (slots per ciphertext); default 8192. */
  readonly polyModulusDegree?: PolyDegree
  /** Number columns to compute with CKKS instead of BFV fixed point. */
  readonly ckksColumns?: readonly string[]
  /** Also encrypt x^2 so that VAR and STDDEV can be answered; default true. */
  readonly variance?: boolean
}

export interface HeColumnPlan {
  readonly name: string
  readonly scheme: 'bfv' | 'ckks'
  readonly type: 'integer' | 'number'
  /** Decimal places of the fixed-point encoding: units are round(x * 10^scale). 0 for CKKS. */
  readonly scale: number
  readonly lower: number
  readonly upper: number
  /** max(|lower|, |upper|) in units (BFV) or in value (CKKS, where units are values). */
  readonly maxAbsUnits: bigint
  /** Indices into `contexts`: one for SUM. */
  readonly sumContexts: readonly number[]
  /** Indices into `contexts` of the CRT primes of the square column, or null without variance. */
  readonly squareContexts: readonly number[] | null
  /** CKKS only: decrypted sums are rounded to multiples of 2^sumGridExp (squares: 2^squareGridExp). */
  readonly sumGridExp: number | null
  readonly squareGridExp: number | null
}

export interface HeProfile {
  readonly format: 1
  readonly dataset: string
  readonly maxRows: number
  readonly contexts: readonly ContextParams[]
  readonly columns: readonly HeColumnPlan[]
  /** sha256 of the canonical JSON of everything above: what keys and ciphertexts are bound to. */
  readonly id: string
}

function unsupported(col: string, detail: string): never {
  throw heError('VEILBOX_ERR_HE_UNSUPPORTED_COLUMN', `column ${col}: ${detail}`, { column: col })
}

function capacity(detail: string, extra: Record<string, unknown>): never {
  throw heError('VEILBOX_ERR_HE_CAPACITY_EXCEEDED', detail, extra)
}

const bigAbs = (x: bigint): bigint => (x < 0n ? -x : x)

/** Bits b such that every b-bit prime t has bound < t/2 (t >= 2^(b-1) > 2 * bound). */
function bitsToHold(bound: bigint): number {
  return bitLength(bound) + 2
}

function checkColumn(col: ColumnSpec, ckks: boolean): void {
  if (col.protection !== 'he') unsupported(col.name, `it is ${col.protection}, not he`)
  if (col.type !== 'integer' && col.type !== 'number')
    unsupported(col.name, `only integer and number columns can be encrypted, not ${col.type}`)
  if (col.nullable) {
    unsupported(
      col.name,
      'he columns cannot be nullable: which rows are empty would have to travel in plaintext beside the ciphertexts, and COUNT(column) would reveal it; declare the column non-nullable and fill or drop empty rows before encrypting',
    )
  }
  if (col.lower === undefined || col.upper === undefined)
    unsupported(col.name, 'he columns need declared lower and upper bounds')
  if (ckks) {
    if (col.type !== 'number')
      unsupported(col.name, 'CKKS is for real-valued number columns; integer columns use exact BFV')
    if (col.scale !== undefined)
      unsupported(col.name, 'a CKKS column takes real values and has no fixed-point scale; drop "scale" or use BFV')
  }
}

/**
 * The profile for a dataset's `he` columns, or a refusal that says which
 * column cannot fit and what to change.
 */
export function chooseProfile(spec: DatasetSpec, options: HeKeyOptions): HeProfile {
  const maxRows = options.maxRows
  if (!Number.isSafeInteger(maxRows) || maxRows < 1 || maxRows > MAX_HE_ROWS) {
    throw heError(
      'VEILBOX_ERR_HE_INVALID_PARAMETERS',
      `maxRows must be a whole number from 1 to ${MAX_HE_ROWS}, got ${String(maxRows)}`,
    )
  }
  const n = options.polyModulusDegree ?? 8192
  if (!(POLY_DEGREES as readonly number[]).includes(n)) {
    throw heError(
      'VEILBOX_ERR_HE_INSECURE_PARAMETERS',
      `poly modulus degree must be one of ${POLY_DEGREES.join(', ')}, got ${String(n)}`,
    )
  }
  const variance = options.variance ?? true
  const ckksNames = new Set(options.ckksColumns ?? [])
  const heColumns = spec.columns.filter((c) => c.protection === 'he')
  for (const name of ckksNames) {
    if (!heColumns.some((c) => c.name === name)) unsupported(name, 'named for CKKS but not an he column of the dataset')
  }
  if (heColumns.length === 0) {
    throw heError(
      'VEILBOX_ERR_HE_UNSUPPORTED_COLUMN',
      `dataset ${spec.id} has no he column; there is nothing to create HE keys for`,
    )
  }
  for (const c of heColumns) checkColumn(c, ckksNames.has(c.name))

  const batches = Math.ceil(maxRows / n)
  const maxBits = maxPlainBits(n, batches)
  const R = BigInt(maxRows)

  // BFV: first the one prime size every column's SUM fits under, then how
  // many CRT primes each column's squares need at that size.
  const bfv = heColumns
    .filter((c) => !ckksNames.has(c.name))
    .map((c) => {
      const scale = c.scale ?? 0
      const M = [toUnits(c.lower!, scale), toUnits(c.upper!, scale)].map(bigAbs).reduce((a, b) => (a > b ? a : b))
      return { col: c, scale, M, sumBound: R * M, squareBound: R * M * M }
    })
  let bits = minPlainBits(n)
  for (const b of bfv) {
    const need = bitsToHold(b.sumBound)
    if (need > maxBits) {
      const hint = n === 4096 ? ' or a larger poly modulus degree (8192 allows 60-bit plain moduli)' : ''
      capacity(
        `column ${b.col.name}: SUM over up to ${maxRows} rows of values up to ${b.M} units (|x| * 10^${b.scale}) could reach rows * max|x| = ${b.sumBound}, ` +
          `which is >= t/2 for every plain modulus usable at n = ${n} (at most ${maxBits} bits, t/2 < 2^${maxBits - 1}); the sum would wrap silently. ` +
          `Lower maxRows, narrow the bounds, use a smaller scale${hint}.`,
        {
          column: b.col.name,
          rows: maxRows,
          maxAbsUnits: String(b.M),
          bound: String(b.sumBound),
          maxPlainBits: maxBits,
        },
      )
    }
    bits = Math.max(bits, need)
    if (variance) bits = Math.max(bits, Math.min(bitsToHold(b.squareBound), maxBits))
  }
  // SEAL picks coefficient primes by the same rule: never reuse one as t.
  const coeffPrimes = new Set(coefficientPrimes(n, BFV_COEFF_BITS[n]))
  const primes = bfv.length > 0 ? batchingPrimes(n, bits, MAX_CRT_PRIMES, coeffPrimes) : []
  const contexts: ContextParams[] = []
  const plans: HeColumnPlan[] = []
  let primesUsed = bfv.length > 0 ? 1 : 0
  const squarePrimes = new Map<string, number>()
  for (const b of bfv) {
    if (!variance) continue
    let k = 0
    let P = 1n
    while (k < primes.length && 2n * b.squareBound >= P) P *= primes[k++]!
    // Two primes always suffice: each is above 2 * R * M (the SUM fits), so
    // their product exceeds 4 * (R * M)^2 >= 4 * R * M^2.
    if (2n * b.squareBound >= P)
      throw heError(
        'VEILBOX_ERR_HE_INVALID_PARAMETERS',
        `column ${b.col.name}: two CRT primes do not hold its squares; the SUM bound should have refused it`,
      )
    squarePrimes.set(b.col.name, k)
    primesUsed = Math.max(primesUsed, k)
  }
  for (let i = 0; i < primesUsed; i++) {
    contexts.push({
      scheme: 'bfv',
      polyModulusDegree: n,
      coeffModulusBits: BFV_COEFF_BITS[n],
      plainModulus: primes[i]!,
      security: 'tc128',
    })
  }
  for (const b of bfv) {
    const k = squarePrimes.get(b.col.name)
    plans.push({
      name: b.col.name,
      scheme: 'bfv',
      type: b.col.type as 'integer' | 'number',
      scale: b.scale,
      lower: b.col.lower!,
      upper: b.col.upper!,
      maxAbsUnits: b.M,
      sumContexts: [0],
      squareContexts: k === undefined ? null : Array.from({ length: k }, (_, i) => i),
      sumGridExp: null,
      squareGridExp: null,
    })
  }

  const ckksCols = heColumns.filter((c) => ckksNames.has(c.name))
  if (ckksCols.length > 0) {
    const ckksN = Math.max(n, 8192) as PolyDegree
    const index = contexts.length
    contexts.push({
      scheme: 'ckks',
      polyModulusDegree: ckksN,
      coeffModulusBits: CKKS_COEFF_BITS,
      scaleBits: CKKS_SCALE_BITS,
      security: 'tc128',
    })
    for (const c of ckksCols) {
      const M = Math.max(Math.abs(c.lower!), Math.abs(c.upper!))
      const limit = 2 ** CKKS_MAX_ABS_SUM_BITS
      if (maxRows * M >= limit || (variance && maxRows * M * M >= limit)) {
        const what = maxRows * M >= limit ? `rows * max|x| = ${maxRows * M}` : `rows * max|x|^2 = ${maxRows * M * M}`
        capacity(
          `column ${c.name}: a CKKS ${maxRows * M >= limit ? 'sum' : 'sum of squares'} could reach ${what}, at least 2^${CKKS_MAX_ABS_SUM_BITS}, beyond what the CKKS modulus holds after rescaling. Lower maxRows, narrow the bounds, or leave out variance.`,
          { column: c.name, rows: maxRows },
        )
      }
      plans.push({
        name: c.name,
        scheme: 'ckks',
        type: 'number',
        scale: 0,
        lower: c.lower!,
        upper: c.upper!,
        maxAbsUnits: BigInt(Math.ceil(M)),
        sumContexts: [index],
        squareContexts: variance ? [index] : null,
        sumGridExp: ckksGridExp(maxRows, M, ckksN),
        squareGridExp: variance ? ckksGridExp(maxRows, M * M, ckksN) : null,
      })
    }
  }
  for (const p of contexts) validateContextParams(p)
  const body = { format: 1 as const, dataset: spec.id, maxRows, contexts, columns: plans }
  return { ...body, id: profileHash(body) }
}

/**
 * The rounding grid of a CKKS sum, from public quantities only. CKKS adds an
 * error of about |x| * 2^-40 (encoding and rescale, relative) plus 2^-33
 * (encryption noise, absolute) per slot it touches; measured errors stay
 * below 2^-33 per row at |x| <= 1000. We bound the worst case linearly over
 * every slot a sum can touch, with 2^2 to spare each way: 2^gridExp >= 16 *
 * (slots touched) * (M * 2^-38 + 2^-28). Rounding to that grid removes the
 * noise-dependent low bits that let a raw CKKS decryption leak the key (Li and
 * Micciancio 2021) while keeping far more precision than DP noise leaves.
 */
export function ckksGridExp(maxRows: number, maxAbs: number, n: number): number {
  const slots = n / 2
  const touched = Math.ceil(maxRows / slots) * slots
  const bound = touched * (maxAbs * 2 ** -38 + 2 ** -28)
  return Math.ceil(Math.log2(bound)) + 4
}

export function columnPlan(profile: HeProfile, name: string): HeColumnPlan {
  const plan = profile.columns.find((c) => c.name === name)
  if (plan === undefined) {
    throw heError(
      'VEILBOX_ERR_HE_BAD_ARGUMENT',
      `dataset ${profile.dataset} has no he column ${JSON.stringify(name)} in its HE profile`,
    )
  }
  return plan
}

// Canonical JSON: bigints as decimal strings, object keys sorted, so the
// hash does not depend on how an object was built or parsed.
function canonical(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (Array.isArray(value)) return value.map(canonical)
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return Object.fromEntries(entries.map(([k, v]) => [k, canonical(v)]))
  }
  return value
}

function profileHash(body: Omit<HeProfile, 'id'>): string {
  const text = JSON.stringify(
    canonical({
      format: body.format,
      dataset: body.dataset,
      maxRows: body.maxRows,
      contexts: body.contexts.map(contextKey),
      columns: body.columns,
    }),
  )
  return createHash('sha256').update(text).digest('hex')
}

export function profileToJson(profile: HeProfile): string {
  return JSON.stringify(canonical(profile), null, 2)
}

const bigintText = z
  .string()
  .regex(/^-?\d{1,80}$/)
  .transform((s) => BigInt(s))
const degree = z.union(
  POLY_DEGREES.map((d) => z.literal(d)) as [
    z.ZodLiteral<4096>,
    z.ZodLiteral<8192>,
    z.ZodLiteral<16384>,
    z.ZodLiteral<32768>,
  ],
)
const contextSchema = z.discriminatedUnion('scheme', [
  z.strictObject({
    scheme: z.literal('bfv'),
    polyModulusDegree: degree,
    coeffModulusBits: z.array(z.number().int()).min(2).max(32),
    plainModulus: bigintText,
    security: z.literal('tc128'),
  }),
  z.strictObject({
    scheme: z.literal('ckks'),
    polyModulusDegree: degree,
    coeffModulusBits: z.array(z.number().int()).min(2).max(32),
    scaleBits: z.number().int(),
    security: z.literal('tc128'),
  }),
])
const indices = z.array(z.number().int().min(0)).min(1).max(MAX_CRT_PRIMES)
const profileSchema = z.strictObject({
  format: z.literal(1),
  dataset: z.string().min(1),
  maxRows: z.number().int().min(1).max(MAX_HE_ROWS),
  contexts: z
    .array(contextSchema)
    .min(1)
    .max(MAX_CRT_PRIMES + 1),
  columns: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        scheme: z.enum(['bfv', 'ckks']),
        type: z.enum(['integer', 'number']),
        scale: z.number().int().min(0).max(6),
        lower: z.number(),
        upper: z.number(),
        maxAbsUnits: bigintText,
        sumContexts: indices,
        squareContexts: indices.nullable(),
        sumGridExp: z.number().int().nullable(),
        squareGridExp: z.number().int().nullable(),
      }),
    )
    .min(1),
  id: z.string().regex(/^[0-9a-f]{64}$/),
})

/**
 * Reads a stored or received profile and checks that it is intact (its hash)
 * and secure (every context passes validation); anything else is refused, as
 * a profile decides which keys and parameters get used.
 */
export function profileFromJson(text: string): HeProfile {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (e) {
    throw heError('VEILBOX_ERR_HE_INVALID_PARAMETERS', 'the HE profile is not valid JSON', {}, e)
  }
  const parsed = profileSchema.safeParse(raw)
  if (!parsed.success) {
    throw heError(
      'VEILBOX_ERR_HE_INVALID_PARAMETERS',
      `the HE profile is malformed: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    )
  }
  const p = parsed.data as HeProfile
  for (const c of p.contexts) validateContextParams(c)
  for (const c of p.columns) {
    for (const i of [...c.sumContexts, ...(c.squareContexts ?? [])]) {
      if (i >= p.contexts.length)
        throw heError('VEILBOX_ERR_HE_INVALID_PARAMETERS', `column ${c.name} names context ${i}, which does not exist`)
    }
  }
  const { id, ...body } = p
  if (profileHash(body) !== id)
    throw heError(
      'VEILBOX_ERR_HE_INVALID_PARAMETERS',
      'the HE profile does not match its id: it was altered or damaged',
    )
  return p
}
