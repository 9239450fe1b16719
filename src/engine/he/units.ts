import { heError } from './he-error.js'

/**
 * Exact conversions between column values and the integers BFV encrypts.
 *
 * A value x of an `he` column with `scale` s is encrypted as the integer
 * round(x * 10^s). x arrives as a double; we read it as the shortest decimal
 * that round-trips to it (what `String(x)` prints, as the DP code's
 * `Rational.fromDecimal` does), because that is the number the data owner
 * wrote: 1.005 with s = 2 is 101 units, although the double nearest 1.005 is
 * a hair below it and floating-point `Math.round(1.005 * 100)` gives 100.
 * Halves round away from zero. Everything after the parse is BigInt.
 */

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/

export function pow10(k: number): bigint {
  return 10n ** BigInt(k)
}

const SCALES = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000]

/** round(x * 10^scale), halves away from zero, exactly. */
export function toUnits(x: number, scale: number): bigint {
  if (!Number.isFinite(x)) throw new RangeError(`not a finite number: ${x}`)
  // Fast path. Below 2^40 the double product is within 2^-12 of the exact
  // decimal product, so when it is not near a half its rounding is the exact
  // one; only values with more decimals than the scale can be near a half.
  const f = SCALES[scale]
  if (f !== undefined) {
    const y = x * f
    const r = Math.round(y)
    if (Math.abs(y) < 2 ** 40 && Math.abs(y - r) < 0.49) return BigInt(r)
  }
  const m = DECIMAL.exec(String(x))
  if (m === null) throw new RangeError(`cannot read ${String(x)} as a decimal`)
  const negative = m[1] === '-'
  const frac = m[3] ?? ''
  const digits = BigInt(m[2]! + frac)
  const exp = Number(m[4] ?? '0') - frac.length + scale
  let units: bigint
  if (exp >= 0) {
    units = digits * pow10(exp)
  } else {
    const d = pow10(-exp)
    units = digits / d
    if ((digits % d) * 2n >= d) units += 1n
  }
  return negative ? -units : units
}

/** units / 10^scale as a JS number, for messages only (it may round). */
export function unitsToNumber(units: bigint, scale: number): number {
  return Number(units) / 10 ** scale
}

/** The residue of x modulo m in [0, m). */
export function mod(x: bigint, m: bigint): bigint {
  const r = x % m
  return r < 0n ? r + m : r
}

function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [mod(a, m), m]
  let [oldS, s] = [1n, 0n]
  while (r !== 0n) {
    const q = oldR / r
    ;[oldR, r] = [r, oldR - q * r]
    ;[oldS, s] = [s, oldS - q * s]
  }
  if (oldR !== 1n) throw heError('VEILBOX_ERR_HE_INVALID_PARAMETERS', `moduli ${a} and ${m} are not coprime`)
  return mod(oldS, m)
}

/**
 * Chinese remaindering: the unique x with x = residues[i] mod moduli[i] and
 * -P/2 < x <= P/2, P the product of the (pairwise coprime) moduli. A sum that
 * was checked to stay below P/2 in absolute value comes back exactly.
 */
export function crtCombine(residues: readonly bigint[], moduli: readonly bigint[]): bigint {
  if (residues.length !== moduli.length || moduli.length === 0) {
    throw heError(
      'VEILBOX_ERR_HE_BAD_ARGUMENT',
      `CRT needs one residue per modulus, got ${residues.length} residues and ${moduli.length} moduli`,
    )
  }
  const P = moduli.reduce((a, b) => a * b, 1n)
  let x = 0n
  for (let i = 0; i < moduli.length; i++) {
    const m = moduli[i]!
    const rest = P / m
    x += mod(residues[i]!, m) * rest * modInverse(rest, m)
  }
  x = mod(x, P)
  return x > P / 2n ? x - P : x
}
