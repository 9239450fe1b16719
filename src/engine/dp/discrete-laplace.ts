/**
 * Exact sampler for the discrete Laplace distribution with scale t/s,
 * P(Z = z) = (1 - q) / (1 + q) * q^|z| with q = exp(-s/t), on all integers.
 *
 * Source: Canonne, Kamath, Steinke, "The Discrete Gaussian for Differential
 * Privacy" (NeurIPS 2020), Algorithm 2. Guarantee: adding Z to an integer
 * query of L1 sensitivity D gives (D * s / t)-differential privacy (pure),
 * and the output is exact: no floating point touches the sample.
 *
 * The expected number of loop iterations is bounded by a constant for any
 * scale (the uniform u absorbs the fractional part, the geometric v counts
 * whole multiples of t), but it still grows with |Z|: see noise-pool.ts for
 * why release never samples on the request's path.
 */
import type { Rng } from './random.js'

const SMALL_BIG = 1n << 40n

/** Draws one sample with scale t/s (integers t, s >= 1). */
export function sampleDiscreteLaplace(rng: Rng, t: bigint, s: bigint): bigint {
  if (t < 1n || s < 1n) throw new RangeError(`discrete Laplace needs integers t, s >= 1, got ${t}/${s}`)
  if (t <= SMALL_BIG && s <= SMALL_BIG) return BigInt(sampleDiscreteLaplaceSmall(rng, Number(t), Number(s)))
  return sampleDiscreteLaplaceBig(rng, t, s)
}

/**
 * Number path for t, s <= 2^40. Every intermediate is an exact integer below
 * 2^53 while v < 2^12; a longer geometric run (probability exp(-4096)) is
 * finished in BigInt rather than cut short, which would bias the tail.
 */
export function sampleDiscreteLaplaceSmall(rng: Rng, t: number, s: number): number | bigint {
  for (;;) {
    // 1. u uniform in [0, t), accepted with probability exp(-u/t).
    const u = rng.uniformSmall(t)
    if (!rng.bernoulliExpSmall(u, t)) continue
    // 2. v ~ geometric: count successes of Bernoulli(exp(-1)).
    let v = 0
    while (rng.bernoulliExpSmall(1, 1)) v += 1
    if (v >= 4096) {
      const z = finishBig(rng, BigInt(u) + BigInt(t) * BigInt(v), BigInt(s))
      if (z === undefined) continue
      return z
    }
    const x = u + t * v
    // 3. y = floor(x / s), by exact integer remainder.
    const y = (x - (x % s)) / s
    // 4. A sign; (sign -, 0) is rejected so that zero is not counted twice.
    const negative = rng.bit()
    if (negative && y === 0) continue
    return negative ? -y : y
  }
}

/** BigInt path, the same steps as the Number path. */
export function sampleDiscreteLaplaceBig(rng: Rng, t: bigint, s: bigint): bigint {
  for (;;) {
    const u = rng.uniform(t)
    if (!rng.bernoulliExp(u, t)) continue
    let v = 0n
    while (rng.bernoulliExpSmall(1, 1)) v += 1n
    const z = finishBig(rng, u + t * v, s)
    if (z !== undefined) return z
  }
}

/** Steps 3-4 on a BigInt x; undefined means "start over". */
function finishBig(rng: Rng, x: bigint, s: bigint): bigint | undefined {
  const y = x / s
  const negative = rng.bit()
  if (negative && y === 0n) return undefined
  return negative ? -y : y
}
