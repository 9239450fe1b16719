import { badArgument } from './contract.js'
import { Q_BITS, SQ_SHIFT, type Quantum } from './types.js'

/**
 * Power-of-two quantization: the one place where a column's real values become
 * the integers that kernels add. Every kernel (this TypeScript one and the C++
 * one) must produce the same integers bit for bit, so each step below is either
 * exact or a single IEEE-754 binary64 operation, correctly rounded to nearest
 * even, which every conforming implementation computes identically.
 *
 * Why each step is reproducible (x a non-null value, [lower, upper] the bounds,
 * M = max(|lower|, |upper|), scale = 2^-exp with M * scale <= 2^31):
 *
 * 1. Clamp: c = min(max(x, lower), upper). min/max pick one of their operands,
 *    so no rounding can happen. NaN propagates (the store never holds NaN; a
 *    stray one poisons the partial sum and the kernel refuses it at fold time);
 *    in C++ that is std::min(std::max(x, lower), upper) with x first, since
 *    std::max(a, b) returns a when the comparison is false. The sign of a zero
 *    may differ between min/max flavours, which cannot matter: +0 and -0
 *    quantize alike.
 * 2. Scale: v = c * scale. Multiplying by a power of two only changes the
 *    exponent, so it is exact unless the result overflows or falls below the
 *    normal range. It cannot overflow: |c| <= M and M * scale <= 2^31. It can be
 *    subnormal only when |v| < 2^-1022, and then step 3 gives 0 whatever bits
 *    underflow dropped (flush-to-zero included).
 * 3. Round: q = floor(fl(v + 0.5)). The addition is the only rounded step, and
 *    for |v| <= 2^31 its rounding moves the floor at exactly one point.
 *    Rounding is monotone and integers (up to 2^53) are doubles, so the floor
 *    can move only if s = v + 0.5 lies just below an integer n and rounds up
 *    onto it: n - s at most half the spacing of doubles below n.
 *    - v <= -0.5: s is a multiple of ulp(v) no larger in magnitude than v,
 *      hence a double: exact. -0.5 < v < 0: s is in (0, 0.5), floor 0 either way.
 *    - v >= 0.5: n - s is a positive multiple of ulp(v), and the spacing near
 *      s is at most 2 ulp(v), so rounding up needs a tie with s in the binade
 *      above v's, i.e. s less than 0.5 past a power of two >= 1 and within
 *      ulp(v) <= 2^-21 of the next integer: impossible.
 *    - 0 <= v < 0.5: s is in [0.5, 1) and rounds up to 1 only from 1 - 2^-54, a
 *      tie that goes to even; that is v = 0.5 - 2^-54 = 0.49999999999999994.
 *    So q is round-half-up of v, except that 0.49999999999999994 units quantize
 *    to 1, not 0. Both kernels compute the same expression, so they agree on
 *    that point too; quantum.test.ts pins it and probes the near-ties.
 *    |v| <= 2^31 gives |q| <= 2^31: q does NOT fit an int32 (2^31 is one past
 *    INT32_MAX); C++ keeps it in a double or an int64.
 * 4. Square: s = floor(fl(fl(q * q) * 2^-31) + 0.5). q * q is a double product,
 *    rounded to 53 bits once |q| > 2^26.5; that rounding is part of the
 *    definition. C++ must compute it as a double product too, not as an exact
 *    int64 product, or it will disagree on large |q| (quantum.test.ts pins
 *    q = 2145272597). The scaling by 2^-31 is exact (q * q is 0 or >= 1), and
 *    the +0.5 cannot move the floor: by step 3 only 0.5 - 2^-54 could, and
 *    q * q * 2^-31 is a multiple of 2^-31. s <= 2^31.
 * 5. Sum: partials are plain double additions of integers of magnitude <= 2^31.
 *    The kernel scans in blocks of FOLD_ROWS = 2^21 rows; one block adds at
 *    most 2^21 * 2^31 = 2^52 to any partial. After each block, every partial
 *    whose magnitude is above FOLD_LIMIT = 2^52 is folded into its BigInt total
 *    and reset (all of them after the last block). So a partial starts each
 *    block at <= 2^52 and every intermediate of it is an integer of magnitude
 *    <= 2^53, which a double holds exactly: every addition is exact, and the
 *    order of additions (vector lanes, unrolling) cannot matter. Sums are
 *    exact integers, so any other exact scheme (int64 accumulators in C++)
 *    gives the same totals; with rows < 2^32 a total stays below 2^63, so an
 *    int64 total cannot overflow either.
 *
 * The C++ kernel must be compiled with -ffp-contract=off (no fused multiply-add:
 * fma(c, scale, 0.5) or fma(q, q, ...) would skip a rounding the definition
 * makes) and without -ffast-math or -ffinite-math-only (which license
 * reassociation and assume NaN away). Flush-to-zero is harmless (step 2).
 */

/** Rows per block between fold checks of the double partials; see step 5 above. */
export const FOLD_ROWS = 2 ** 21

/** A partial above this magnitude is folded before the next block; see step 5 above. */
export const FOLD_LIMIT = 2 ** 52

/** The largest |q| and the largest square unit: 2^31. */
export const Q_MAX = 2 ** Q_BITS

/** exp is bounded so that 2^-exp and 2^exp are finite normal doubles. */
export const MIN_EXP = -1022
export const MAX_EXP = 1022

const pow2Bits = new DataView(new ArrayBuffer(8))

/**
 * 2^k for an integer k with a normal result, built from its bit pattern so that
 * no library pow (whose accuracy the spec does not promise) is involved.
 */
export function pow2(k: number): number {
  if (!Number.isInteger(k) || k < -1022 || k > 1023) {
    throw badArgument(`pow2 needs an integer exponent in [-1022, 1023], got ${k}`)
  }
  pow2Bits.setBigUint64(0, BigInt(k + 1023) << 52n)
  return pow2Bits.getFloat64(0)
}

/** The exponent e with 2^e <= m < 2^(e+1), exact for any finite m > 0. */
function floorLog2(m: number): number {
  let e = Math.floor(Math.log2(m))
  // log2 may be off by one near powers of two; pow2 of exact exponents corrects it.
  while (e > -1074 && powAny(e) > m) e--
  while (e < 1023 && powAny(e + 1) <= m) e++
  return e
}

/** 2^k for any integer k: Infinity above the double range, 0 below it, subnormals exact. */
function powAny(k: number): number {
  if (k >= 1024) return Infinity
  if (k < -1074) return 0
  if (k >= -1022) return pow2(k)
  return pow2(-1022) / pow2(-1022 - k)
}

/**
 * The finest power-of-two grid for a column bounded by [lower, upper]: exp is
 * the smallest integer with max(|lower|, |upper|) * 2^-exp <= 2^31, so every
 * clamped value quantizes to |q| <= 2^31. Examples: [0, 1] -> -31,
 * [-5, 5] -> -28 (5 <= 8 = 2^3), [0, 1e6] -> -11 (1e6 <= 2^20).
 */
export function quantumFor(lower: number, upper: number): Quantum {
  checkBounds(lower, upper, 'quantumFor')
  const m = Math.max(Math.abs(lower), Math.abs(upper))
  const e = floorLog2(m)
  // m <= 2^(31 + exp) holds with exp = e - 31 exactly when m is a power of two.
  const exp = (powAny(e) === m ? e : e + 1) - Q_BITS
  if (exp < MIN_EXP) {
    throw badArgument(`quantumFor needs max(|lower|, |upper|) > 2^-992, got ${m}`)
  }
  return Object.freeze({ exp })
}

/** Checks that a quantum keeps every clamped value within |q| <= 2^31 for these bounds. */
export function checkQuantum(lower: number, upper: number, quantum: Quantum, where: string): void {
  const exp = quantum.exp
  if (!Number.isInteger(exp) || exp < MIN_EXP || exp > MAX_EXP) {
    throw badArgument(`${where}.quantum.exp must be an integer in [${MIN_EXP}, ${MAX_EXP}], got ${String(exp)}`)
  }
  const m = Math.max(Math.abs(lower), Math.abs(upper))
  // m * 2^-exp <= 2^31, compared without risking overflow of 2^(31 + exp).
  if (m * pow2(-exp) > Q_MAX) {
    throw badArgument(
      `${where}.quantum.exp ${exp} is too fine for bounds [${lower}, ${upper}]: use quantumFor (exp ${quantumFor(lower, upper).exp}) or coarser`,
    )
  }
}

export function checkBounds(lower: number, upper: number, where: string): void {
  if (typeof lower !== 'number' || typeof upper !== 'number' || !Number.isFinite(lower) || !Number.isFinite(upper)) {
    throw badArgument(`${where} needs finite numeric bounds, got [${String(lower)}, ${String(upper)}]`)
  }
  if (!(lower < upper)) {
    throw badArgument(`${where} needs lower < upper, got [${lower}, ${upper}]`)
  }
}

/** 2^-exp: what a clamped value is multiplied by. */
export function quantumScale(quantum: Quantum): number {
  return pow2(-quantum.exp)
}

/** The quantized integer of one value, exactly as every kernel computes it (steps 1-3). */
export function quantize(x: number, lower: number, upper: number, quantum: Quantum): number {
  return Math.floor(Math.min(Math.max(x, lower), upper) * quantumScale(quantum) + 0.5)
}

/** 2^-SQ_SHIFT, the scale of a squared unit. */
export const SQ_SCALE = pow2(-SQ_SHIFT)

/** The square of a quantized integer, re-quantized to units of 2^(2 exp + 31) (step 4). */
export function squareUnits(q: number): number {
  return Math.floor(q * q * SQ_SCALE + 0.5)
}

/** The power of two that one unit of a sum stands for. */
export function sumExp(quantum: Quantum): number {
  return quantum.exp
}

/** The power of two that one unit of a sum of squares stands for. */
export function sumSquaresExp(quantum: Quantum): number {
  return 2 * quantum.exp + SQ_SHIFT
}

/** units * 2^exp as an exact fraction num / den with den a power of two (den = 1 when exp >= 0). */
export function unitsToRational(units: bigint, exp: number): { readonly num: bigint; readonly den: bigint } {
  checkExp(exp)
  return exp >= 0 ? { num: units << BigInt(exp), den: 1n } : { num: units, den: 1n << BigInt(-exp) }
}

/**
 * units * 2^exp as the nearest double. Number(bigint) rounds once, to nearest
 * even; scaling by 2^exp is then exact unless the result leaves the normal
 * range (Infinity beyond it, a second rounding among subnormals).
 */
export function unitsToNumber(units: bigint, exp: number): number {
  checkExp(exp)
  if (units === 0n) return 0
  const n = Number(units)
  // Split the scaling in two so that neither factor overflows on its own.
  const half = Math.trunc(exp / 2)
  return n * powAny(half) * powAny(exp - half)
}

/**
 * units * 2^exp as an exact decimal string. A negative power of two has a
 * finite decimal expansion: units / 2^k = units * 5^k / 10^k, so no digit is
 * ever rounded. Trailing zeros of the fraction are dropped.
 */
export function unitsToDecimal(units: bigint, exp: number): string {
  checkExp(exp)
  if (exp >= 0) return (units << BigInt(exp)).toString()
  const k = -exp
  const negative = units < 0n
  const digits = ((negative ? -units : units) * 5n ** BigInt(k)).toString().padStart(k + 1, '0')
  const whole = digits.slice(0, digits.length - k)
  const fraction = digits.slice(digits.length - k).replace(/0+$/, '')
  const body = fraction === '' ? whole : `${whole}.${fraction}`
  return negative && body !== '0' ? `-${body}` : body
}

function checkExp(exp: number): void {
  if (!Number.isInteger(exp) || Math.abs(exp) > 4096) {
    throw badArgument(`a unit exponent must be an integer in [-4096, 4096], got ${String(exp)}`)
  }
}
