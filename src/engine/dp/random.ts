/**
 * Exact random primitives for the discrete samplers, after Canonne, Kamath and
 * Steinke, "The Discrete Gaussian for Differential Privacy" (NeurIPS 2020),
 * section 5: uniform integers by rejection, Bernoulli(n/d), Bernoulli(exp(-gamma))
 * for rational gamma, all with integer arithmetic only.
 *
 * Randomness comes from the operating system's CSPRNG through
 * `crypto.randomFillSync`, read into a buffer of bytes. If it ever fails the
 * error is raised, never papered over with a weaker generator. Tests may pass
 * a deterministic `RandomSource`; the service never does.
 *
 * Every primitive has a Number path (all operands below 2^48, so every
 * product, remainder and comparison is an exact integer operation) and a
 * BigInt path for larger operands. Both read the same bytes in the same order,
 * so for one byte stream they return identical results; a test pins that.
 */
import { randomFillSync } from 'node:crypto'

import { VeilboxError } from '../../errors/index.js'
import { bitLength } from './rational.js'

/** Fills `bytes` with uniformly random bytes, or throws. */
export interface RandomSource {
  fill(bytes: Uint8Array): void
}

export const cryptoRandomSource: RandomSource = Object.freeze({
  fill(bytes: Uint8Array): void {
    randomFillSync(bytes)
  },
})

/** Operands up to this bound take the Number path. */
const SMALL = 2 ** 48
/** 2^(8n) for n = 0..6 bytes (uniformSmall reads at most 6): a lookup, not a Math.pow per sample. */
const BYTE_RANGES: readonly number[] = [1, 2 ** 8, 2 ** 16, 2 ** 24, 2 ** 32, 2 ** 40, 2 ** 48]
const SMALL_BIG = 1n << 48n
const BUFFER_BYTES = 4096

export class Rng {
  private readonly source: RandomSource
  private readonly buffer = new Uint8Array(BUFFER_BYTES)
  private pos = BUFFER_BYTES
  private bits = 0
  private bitsLeft = 0

  constructor(source: RandomSource = cryptoRandomSource) {
    this.source = source
  }

  private refill(): void {
    try {
      this.source.fill(this.buffer)
    } catch (cause) {
      throw new VeilboxError(
        'VEILBOX_ERR_DP_RANDOMNESS_UNAVAILABLE',
        'the secure random generator failed; no noise was drawn',
        {},
        { cause },
      )
    }
    this.pos = 0
  }

  byte(): number {
    if (this.pos === BUFFER_BYTES) this.refill()
    return this.buffer[this.pos++]!
  }

  /** A fair bit, eight per byte. */
  bit(): boolean {
    if (this.bitsLeft === 0) {
      this.bits = this.byte()
      this.bitsLeft = 8
    }
    const b = this.bits & 1
    this.bits >>= 1
    this.bitsLeft -= 1
    return b === 1
  }

  /**
   * Uniform on {0, ..., m-1} for an integer 1 <= m <= 2^48: read
   * n = ceil(bits(m) / 8) bytes as s; redraw while s >= floor(2^(8n) / m) * m
   * (the largest multiple of m that fits), then s mod m is exactly uniform.
   */
  uniformSmall(m: number): number {
    if (!(m >= 1 && m <= SMALL && Number.isInteger(m)))
      throw new RangeError(`uniformSmall needs an integer in [1, 2^48], got ${m}`)
    if (m === 1) return 0
    const nbytes = (bitLengthSmall(m) + 7) >> 3
    const range = BYTE_RANGES[nbytes]!
    const limit = range - (range % m)
    for (;;) {
      let s = 0
      for (let i = 0; i < nbytes; i++) s = s * 256 + this.byte()
      if (s < limit) return s % m
    }
  }

  /** Uniform on {0, ..., m-1} for any integer m >= 1, by the same rejection rule. */
  uniform(m: bigint): bigint {
    if (m < 1n) throw new RangeError(`uniform needs m >= 1, got ${m}`)
    if (m <= SMALL_BIG) return BigInt(this.uniformSmall(Number(m)))
    const nbytes = (bitLength(m) + 7) >> 3
    const range = 1n << BigInt(8 * nbytes)
    const limit = range - (range % m)
    for (;;) {
      let s = 0n
      for (let i = 0; i < nbytes; i++) s = (s << 8n) | BigInt(this.byte())
      if (s < limit) return s % m
    }
  }

  /** Bernoulli(n/d) for integers 0 <= n <= d, d >= 1: uniform(d) < n. */
  bernoulli(n: bigint, d: bigint): boolean {
    if (d <= SMALL_BIG) return this.uniformSmall(Number(d)) < Number(n)
    return this.uniform(d) < n
  }

  bernoulliSmall(n: number, d: number): boolean {
    return this.uniformSmall(d) < n
  }

  /**
   * Bernoulli(exp(-n/d)) for integers n >= 0, d >= 1.
   * gamma <= 1: K = 1; while Bernoulli(gamma / K): K += 1; return K odd.
   * gamma > 1: floor(gamma) independent Bernoulli(exp(-1)) trials must all
   * succeed, then one more at the fractional part.
   */
  bernoulliExp(n: bigint, d: bigint): boolean {
    if (n < 0n || d < 1n) throw new RangeError(`bernoulliExp needs n >= 0, d >= 1, got ${n}/${d}`)
    if (n <= SMALL_BIG && d <= SMALL_BIG) return this.bernoulliExpSmall(Number(n), Number(d))
    if (n > d) {
      const whole = n / d
      for (let i = 0n; i < whole; i++) {
        if (!this.bernoulliExpSmall(1, 1)) return false
      }
      return this.bernoulliExp(n - whole * d, d)
    }
    return this.bernoulliExpUnit(n, d, 1)
  }

  bernoulliExpSmall(n: number, d: number): boolean {
    if (n > d) {
      const whole = (n - (n % d)) / d
      for (let i = 0; i < whole; i++) {
        if (!this.bernoulliExpSmall(1, 1)) return false
      }
      return this.bernoulliExpSmall(n - whole * d, d)
    }
    let k = 1
    for (;;) {
      const dk = d * k
      // d * k stays exact while below 2^48; past it, carry on in BigInt.
      if (dk > SMALL) return this.bernoulliExpUnit(BigInt(n), BigInt(d), k)
      if (!(this.uniformSmall(dk) < n)) return k % 2 === 1
      k += 1
    }
  }

  /** The gamma <= 1 loop in BigInt, resumed at K = k. */
  private bernoulliExpUnit(n: bigint, d: bigint, k: number): boolean {
    let kk = BigInt(k)
    while (this.uniform(d * kk) < n) kk += 1n
    return (kk & 1n) === 1n
  }
}

/** Bit length of a positive integer below 2^53, exactly (no log2 rounding). */
export function bitLengthSmall(m: number): number {
  if (m < 2 ** 32) return 32 - Math.clz32(m)
  return 64 - Math.clz32(Math.floor(m / 2 ** 32))
}

let shared: Rng | undefined

/** The process-wide generator over `crypto.randomFillSync`. */
export function defaultRng(): Rng {
  shared ??= new Rng(cryptoRandomSource)
  return shared
}
