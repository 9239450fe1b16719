/**
 * Exact rationals over BigInt, and the conversions between JS numbers and
 * rationals that the privacy code needs.
 *
 * Why two ways in from a number. A double is a dyadic rational, and
 * `Rational.fromNumber` returns exactly that value: it is the right reading of
 * data-derived quantities (clamp bounds, sensitivities, sigma^2). Budget
 * amounts typed by people are decimals: the double nearest to 0.1 is
 * 0.1000000000000000055..., and charging that rounded up to micro-units would
 * cost 100001 micro-units, so ten charges of "0.1" would no longer fit in 1.0.
 * `Rational.fromDecimal` reads a number as the shortest decimal that
 * round-trips to it (what `String(x)` prints), so 0.1 is exactly 1/10, and the
 * mechanisms calibrate their noise to that exact value.
 */

const F64 = new Float64Array(1)
const U32 = new Uint32Array(F64.buffer)
// Float64Array and Uint32Array share the platform's byte order; find which
// half holds the sign and exponent once.
const HI = (() => {
  F64[0] = 1
  return U32[1] === 0x3ff00000 ? 1 : 0
})()
const LO = 1 - HI

export function bigAbs(x: bigint): bigint {
  return x < 0n ? -x : x
}

export function gcd(a: bigint, b: bigint): bigint {
  a = bigAbs(a)
  b = bigAbs(b)
  while (b !== 0n) {
    const r = a % b
    a = b
    b = r
  }
  return a
}

/** floor(a / b) for b > 0 (BigInt division truncates toward zero). */
export function floorDiv(a: bigint, b: bigint): bigint {
  if (b <= 0n) throw new RangeError('floorDiv needs a positive divisor')
  const q = a / b
  return a % b !== 0n && a < 0n ? q - 1n : q
}

/** ceil(a / b) for b > 0. */
export function ceilDiv(a: bigint, b: bigint): bigint {
  return -floorDiv(-a, b)
}

/** Number of bits of |x| (0 for 0). */
export function bitLength(x: bigint): number {
  x = bigAbs(x)
  if (x === 0n) return 0
  // toString(16) is linear in the size and far faster than shifting bit by bit.
  const hex = x.toString(16)
  return (hex.length - 1) * 4 + (32 - Math.clz32(parseInt(hex[0]!, 16)))
}

/** floor(sqrt(n)) for n >= 0, exactly (Newton's method on integers). */
export function isqrt(n: bigint): bigint {
  if (n < 0n) throw new RangeError('isqrt of a negative number')
  if (n < 2n) return n
  let x = 1n << BigInt(Math.ceil(bitLength(n) / 2))
  for (;;) {
    const y = (x + n / x) >> 1n
    if (y >= x) return x
    x = y
  }
}

export function pow2(e: number): bigint {
  return 1n << BigInt(e)
}

/** A normalized exact rational: den > 0 and gcd(num, den) = 1. Immutable. */
export class Rational {
  readonly num: bigint
  readonly den: bigint

  private constructor(num: bigint, den: bigint) {
    this.num = num
    this.den = den
  }

  static of(num: bigint | number, den: bigint | number = 1n): Rational {
    let n = typeof num === 'bigint' ? num : BigInt(num)
    let d = typeof den === 'bigint' ? den : BigInt(den)
    if (d === 0n) throw new RangeError('Rational with a zero denominator')
    if (d < 0n) {
      n = -n
      d = -d
    }
    const g = gcd(n, d)
    return g === 1n || g === 0n ? new Rational(n, d) : new Rational(n / g, d / g)
  }

  static readonly ZERO = Rational.of(0n)
  static readonly ONE = Rational.of(1n)

  /** units * 2^exp, exactly. */
  static dyadic(units: bigint, exp: number): Rational {
    return exp >= 0 ? Rational.of(units << BigInt(exp)) : Rational.of(units, pow2(-exp))
  }

  /** The exact value of a finite double. */
  static fromNumber(x: number): Rational {
    const d = decompose(x)
    return Rational.dyadic(d.units, d.exp)
  }

  /**
   * The shortest decimal that round-trips to x (ECMAScript Number::toString),
   * as an exact rational: 0.1 gives 1/10, 1e-7 gives 1/10^7.
   */
  static fromDecimal(x: number): Rational {
    if (!Number.isFinite(x)) throw new RangeError(`not a finite number: ${x}`)
    return Rational.parseDecimal(String(x))
  }

  /** Parses `-?digits(.digits)?(e[+-]?digits)?` exactly. */
  static parseDecimal(text: string): Rational {
    const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text.trim())
    if (!m || (m[2] === '' && (m[3] === undefined || m[3] === ''))) {
      throw new RangeError(`not a decimal number: ${text}`)
    }
    const frac = m[3] ?? ''
    const digits = BigInt((m[2] || '0') + frac)
    const exp = Number(m[4] ?? '0') - frac.length
    const signed = m[1] === '-' ? -digits : digits
    return exp >= 0 ? Rational.of(signed * 10n ** BigInt(exp)) : Rational.of(signed, 10n ** BigInt(-exp))
  }

  add(o: Rational): Rational {
    return Rational.of(this.num * o.den + o.num * this.den, this.den * o.den)
  }

  sub(o: Rational): Rational {
    return Rational.of(this.num * o.den - o.num * this.den, this.den * o.den)
  }

  mul(o: Rational): Rational {
    return Rational.of(this.num * o.num, this.den * o.den)
  }

  div(o: Rational): Rational {
    if (o.num === 0n) throw new RangeError('division by zero')
    return Rational.of(this.num * o.den, this.den * o.num)
  }

  neg(): Rational {
    return new Rational(-this.num, this.den)
  }

  abs(): Rational {
    return this.num < 0n ? this.neg() : this
  }

  /** this * 2^e */
  shift(e: number): Rational {
    return e >= 0 ? Rational.of(this.num << BigInt(e), this.den) : Rational.of(this.num, this.den << BigInt(-e))
  }

  cmp(o: Rational): -1 | 0 | 1 {
    const l = this.num * o.den
    const r = o.num * this.den
    return l < r ? -1 : l > r ? 1 : 0
  }

  eq(o: Rational): boolean {
    return this.num === o.num && this.den === o.den
  }

  lt(o: Rational): boolean {
    return this.cmp(o) < 0
  }

  lte(o: Rational): boolean {
    return this.cmp(o) <= 0
  }

  gt(o: Rational): boolean {
    return this.cmp(o) > 0
  }

  gte(o: Rational): boolean {
    return this.cmp(o) >= 0
  }

  isZero(): boolean {
    return this.num === 0n
  }

  isPositive(): boolean {
    return this.num > 0n
  }

  isInteger(): boolean {
    return this.den === 1n
  }

  floor(): bigint {
    return floorDiv(this.num, this.den)
  }

  ceil(): bigint {
    return ceilDiv(this.num, this.den)
  }

  /** floor(log2(this)) for this > 0, exactly. */
  log2Floor(): number {
    if (this.num <= 0n) throw new RangeError('log2 of a non-positive rational')
    let e = bitLength(this.num) - bitLength(this.den)
    // 2^e <= this  <=>  num >= den * 2^e
    if (e >= 0 ? this.num < this.den << BigInt(e) : this.num << BigInt(-e) < this.den) e -= 1
    return e
  }

  /**
   * The double nearest to this value, or the largest double <= it ('down'),
   * or the smallest double >= it ('up'). Directed rounding is what intervals
   * need to stay conservative after leaving exact arithmetic.
   */
  toNumber(mode: 'nearest' | 'down' | 'up' = 'nearest'): number {
    const n = this.num
    const d = this.den
    let x: number
    if (bigAbs(n) <= MAX_EXACT && d <= MAX_EXACT) {
      // Both operands are exact doubles: IEEE division rounds correctly.
      x = Number(n) / Number(d)
    } else {
      // Scale the quotient to about 64 significant bits, then fix up below.
      const shift = 64 - (bitLength(n) - bitLength(d))
      const q = shift >= 0 ? (n << BigInt(shift)) / d : n / (d << BigInt(-shift))
      x = scaleByPow2(Number(q), -shift)
      if (mode === 'nearest') x = nearestOf(this, x)
    }
    if (mode === 'nearest' || !Number.isFinite(x)) return x
    let c = Rational.fromNumber(x).cmp(this)
    if (mode === 'down') {
      while (c > 0) {
        x = nextDown(x)
        c = Rational.fromNumber(x).cmp(this)
      }
    } else {
      while (c < 0) {
        x = nextUp(x)
        c = Rational.fromNumber(x).cmp(this)
      }
    }
    return x
  }

  toString(): string {
    return this.den === 1n ? this.num.toString() : `${this.num}/${this.den}`
  }

  toJSON(): string {
    return this.toString()
  }
}

const MAX_EXACT = (1n << 53n) - 1n

function nearestOf(r: Rational, x: number): number {
  if (!Number.isFinite(x)) return x
  let best = x
  let bestDist = Rational.fromNumber(x).sub(r).abs()
  for (const c of [nextDown(x), nextUp(x)]) {
    if (!Number.isFinite(c)) continue
    const dist = Rational.fromNumber(c).sub(r).abs()
    if (dist.lt(bestDist)) {
      best = c
      bestDist = dist
    }
  }
  return best
}

/** 2^e for every integer e in [-1000, 1000], exactly the values `2 ** e` gives: a lookup per released value instead of a pow. */
const POW2 = Array.from({ length: 2001 }, (_, i) => 2 ** (i - 1000))

/** x * 2^e without intermediate overflow or underflow where avoidable. */
export function scaleByPow2(x: number, e: number): number {
  while (e > 1000) {
    x *= 2 ** 1000
    e -= 1000
  }
  while (e < -1000) {
    x *= 2 ** -1000
    e += 1000
  }
  return x * (Number.isInteger(e) ? POW2[e + 1000]! : 2 ** e)
}

/** x = units * 2^exp exactly, units odd (or 0). */
export function decompose(x: number): { units: bigint; exp: number } {
  if (!Number.isFinite(x)) throw new RangeError(`not a finite number: ${x}`)
  if (x === 0) return { units: 0n, exp: 0 }
  // Counts and other safe integers: the common case, without bit fiddling.
  if (Number.isSafeInteger(x)) return { units: BigInt(x), exp: 0 }
  F64[0] = x
  const hi = U32[HI]!
  const lo = U32[LO]!
  const biased = (hi >>> 20) & 0x7ff
  // The 53-bit significand is an exact double; strip its trailing zero bits
  // with exact halvings before a single conversion to BigInt.
  let mant = (hi & 0xfffff) * 2 ** 32 + lo
  let exp: number
  if (biased === 0) {
    exp = -1074
  } else {
    mant += 2 ** 52
    exp = biased - 1075
  }
  while (mant % 2 === 0) {
    mant /= 2
    exp += 1
  }
  return { units: BigInt(hi >>> 31 ? -mant : mant), exp }
}

export function nextUp(x: number): number {
  if (Number.isNaN(x) || x === Infinity) return x
  if (x === 0) return Number.MIN_VALUE
  F64[0] = x
  let hi = U32[HI]!
  let lo = U32[LO]!
  if (x > 0) {
    lo = (lo + 1) >>> 0
    if (lo === 0) hi += 1
  } else {
    if (lo === 0) hi -= 1
    lo = (lo - 1) >>> 0
  }
  U32[HI] = hi
  U32[LO] = lo
  return F64[0]!
}

export function nextDown(x: number): number {
  return -nextUp(-x)
}

/**
 * An exact rational >= sqrt(r), larger by less than 1 / (den(r) * 2^bits): the
 * safe way to carry an irrational sensitivity such as sqrt(m) * c, which a
 * double could round below its true value.
 */
export function sqrtUp(r: Rational, bits = 32): Rational {
  if (r.num < 0n) throw new RangeError('sqrt of a negative rational')
  // sqrt(n/d) * 2^b = sqrt(n * d * 4^b) / d
  const scaled = (r.num * r.den) << BigInt(2 * bits)
  let root = isqrt(scaled)
  if (root * root < scaled) root += 1n
  // root / (d * 2^b) >= sqrt(r); widen the denominator to a power of two.
  const den = r.den << BigInt(bits)
  return Rational.of(root, den)
}
