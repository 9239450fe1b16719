/**
 * Sensitivities of the aggregates under add/remove of one privacy unit, who
 * may own up to m = maxRowsPerUnit rows. docs/dp.md derives each one.
 *
 * They are computed on what the kernels actually add (src/engine/exec):
 * values clamped to [lower, upper] and quantized to q = floor(x 2^-exp + 1/2)
 * units of 2^exp, squares re-quantized to units of 2^(2 exp + 31). Bounding
 * the quantized integers, not the real bounds, keeps the claim exact: the
 * quantized value of a bound can exceed the bound by half a unit.
 */
import { Rational, sqrtUp } from './rational.js'
import { finite, invalid, positive, positiveInteger, type Amount } from './validate.js'

const SQ_SHIFT = 31

export interface BoundsSpec {
  readonly maxRowsPerUnit: number
  readonly lower: number
  readonly upper: number
  /** The kernel's unit exponent (quantumFor); omit for unquantized real sums. */
  readonly exp?: number
}

function checkBounds(spec: BoundsSpec): { m: bigint; lower: number; upper: number } {
  const m = positiveInteger('maxRowsPerUnit', spec.maxRowsPerUnit)
  const lower = finite('lower', spec.lower)
  const upper = finite('upper', spec.upper)
  if (!(lower < upper)) throw invalid('upper', `greater than lower (${lower})`, upper)
  if (spec.exp !== undefined && !Number.isSafeInteger(spec.exp)) throw invalid('exp', 'an integer', spec.exp)
  return { m: BigInt(m), lower, upper }
}

/** COUNT(*) and COUNT(col): one unit adds or removes at most m rows. */
export function countSensitivity(maxRowsPerUnit: number): Rational {
  return Rational.of(BigInt(positiveInteger('maxRowsPerUnit', maxRowsPerUnit)))
}

/**
 * An upper bound on |q| for x in {lower, upper} as the kernel quantizes it:
 * floor(|v| + 1/2) with v = x 2^-exp, and 1 for 0 < |v| < 1/2 (the kernel's
 * floating add turns v = 1/2 - 2^-54 into 1). Quantization is monotone, so
 * the bound at the two ends bounds every clamped value.
 */
export function maxQuantized(lower: number, upper: number, exp: number): bigint {
  let best = 0n
  for (const x of [lower, upper]) {
    const v = Rational.fromNumber(x).abs().shift(-exp)
    let q = v.add(Rational.of(1n, 2n)).floor()
    if (q === 0n && v.isPositive()) q = 1n
    if (q > best) best = q
  }
  return best
}

/** Per-row bound of a clamped value, in value units. */
export function perRowBound(lower: number, upper: number, exp?: number): Rational {
  if (exp === undefined) {
    const a = Rational.fromNumber(lower).abs()
    const b = Rational.fromNumber(upper).abs()
    return a.gt(b) ? a : b
  }
  return Rational.dyadic(maxQuantized(lower, upper, exp), exp)
}

/** SUM(col) clamped to [lower, upper]: m * max(|lower|, |upper|) (L1). */
export function sumSensitivity(spec: BoundsSpec): Rational {
  const { m, lower, upper } = checkBounds(spec)
  return perRowBound(lower, upper, spec.exp).mul(Rational.of(m))
}

/**
 * Sum of squares (for VAR/STDDEV): m * max(lower^2, upper^2), computed on the
 * kernel's re-quantized squares s = floor(fl(q*q) 2^-31 + 1/2), which are
 * monotone in |q|.
 */
export function sumSquaresSensitivity(spec: BoundsSpec & { readonly exp: number }): Rational {
  const { m, lower, upper } = checkBounds(spec)
  const q = Number(maxQuantized(lower, upper, spec.exp))
  // The same double operations as the kernel (exact: q <= 2^31, 2^-31 scaling).
  const s = BigInt(Math.floor(q * q * 2 ** -SQ_SHIFT + 0.5))
  return Rational.dyadic(s * m, 2 * spec.exp + SQ_SHIFT)
}

/**
 * A histogram over bins (quantiles): each of a unit's m rows sits in one bin,
 * so the count vector moves by at most m in L1, and by at most m in L2 too,
 * because all m rows may fall in the same bin.
 */
export function histogramSensitivity(maxRowsPerUnit: number): { l1: Rational; l2: Rational } {
  const m = countSensitivity(maxRowsPerUnit)
  return { l1: m, l2: m }
}

/**
 * L2 sensitivity of a grouped aggregate (one value per group) when a unit
 * owns at most m rows, at most g of them in any one group (g = m when only
 * maxRowsPerUnit is enforced), each row moving its group's value by at most
 * c. The unit's change is a vector v with sum |v_i| <= m c and |v_i| <= g c;
 * sum v_i^2 is convex, so its maximum sits at a vertex: floor(m/g) groups at
 * g c and one at (m mod g) c. L2 = c sqrt(floor(m/g) g^2 + (m mod g)^2):
 * m c when g = m (all rows in one group), sqrt(m) c only when g = 1.
 * Returned as an exact rational upper bound of the square root.
 */
export function groupedL2Sensitivity(opts: {
  maxRowsPerUnit: number
  maxRowsPerGroup?: number
  perRow: Amount
}): Rational {
  const m = BigInt(positiveInteger('maxRowsPerUnit', opts.maxRowsPerUnit))
  const g = BigInt(
    opts.maxRowsPerGroup === undefined
      ? Number(m)
      : positiveInteger('maxRowsPerGroup', opts.maxRowsPerGroup, Number(m)),
  )
  const c = positive('perRow', opts.perRow, 'exact')
  const r = m % g
  const squares = (m / g) * g * g + r * r
  const root = isPerfectSquare(squares) ?? sqrtUp(Rational.of(squares), 40)
  return root.mul(c)
}

function isPerfectSquare(n: bigint): Rational | undefined {
  const r = BigInt(Math.round(Math.sqrt(Number(n))))
  for (const c of [r - 1n, r, r + 1n]) if (c >= 0n && c * c === n) return Rational.of(c)
  return undefined
}
