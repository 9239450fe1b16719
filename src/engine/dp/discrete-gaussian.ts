/**
 * Exact sampler for the discrete Gaussian distribution with parameter sigma^2
 * (a positive rational), P(X = x) proportional to exp(-x^2 / (2 sigma^2)) on
 * all integers.
 *
 * Source: Canonne, Kamath, Steinke, "The Discrete Gaussian for Differential
 * Privacy" (NeurIPS 2020), Algorithm 3. Guarantee: adding X to an integer
 * query of L2 sensitivity D gives (D^2 / (2 sigma^2))-zero-concentrated DP
 * (Theorem 4 there), with exact sampling: a discrete Laplace proposal with
 * scale t = floor(sigma) + 1, accepted with probability
 * exp(-(|y| - sigma^2/t)^2 / (2 sigma^2)), all in integers and rationals.
 *
 * Note that sigma^2 is the parameter of the distribution; its variance is
 * slightly below sigma^2 (CKS20, Corollary 9).
 */
import { sampleDiscreteLaplace, sampleDiscreteLaplaceSmall } from './discrete-laplace.js'
import { type Rational, isqrt } from './rational.js'
import type { Rng } from './random.js'

const SMALL = 2 ** 48

export interface DiscreteGaussianSampler {
  readonly sigma2: Rational
  /** floor(sigma) + 1, the discrete Laplace proposal's scale. */
  readonly t: bigint
  sample(): bigint
}

/** A sampler with the constants of Algorithm 3 worked out once. */
export function discreteGaussianSampler(rng: Rng, sigma2: Rational): DiscreteGaussianSampler {
  if (!sigma2.isPositive()) throw new RangeError(`discrete Gaussian needs sigma^2 > 0, got ${sigma2}`)
  const a = sigma2.num
  const b = sigma2.den
  // floor(sqrt(a/b)) = isqrt(floor(a/b)): squares are integers.
  const t = isqrt(a / b) + 1n
  // gamma = (|y| - sigma^2/t)^2 / (2 sigma^2) = (|y| t b - a)^2 / (2 a t^2 b)
  const tb = t * b
  const den = 2n * a * t * t * b
  const small = den <= BigInt(SMALL) && tb <= 2n ** 24n && a <= 2n ** 24n
  const tbN = Number(tb)
  const aN = Number(a)
  const denN = Number(den)
  const tN = Number(t)

  const sample = small
    ? (): bigint => {
        for (;;) {
          const y = sampleDiscreteLaplaceSmall(rng, tN, 1)
          if (typeof y === 'number') {
            const ay = y < 0 ? -y : y
            // |y| t b < 2^26 and a <= 2^24 keep num^2 below 2^52, an exact double.
            if (ay * tbN < 2 ** 26) {
              const num = ay * tbN - aN
              const n2 = num * num
              const ok = n2 <= SMALL ? rng.bernoulliExpSmall(n2, denN) : rng.bernoulliExp(BigInt(n2), den)
              if (ok) return BigInt(y)
              continue
            }
          }
          const yb = BigInt(y)
          if (accept(rng, yb, tb, a, den)) return yb
        }
      }
    : (): bigint => {
        for (;;) {
          const y = sampleDiscreteLaplace(rng, t, 1n)
          if (accept(rng, y, tb, a, den)) return y
        }
      }
  return Object.freeze({ sigma2, t, sample })
}

function accept(rng: Rng, y: bigint, tb: bigint, a: bigint, den: bigint): boolean {
  const num = (y < 0n ? -y : y) * tb - a
  return rng.bernoulliExp(num * num, den)
}

/** One draw with parameter sigma^2. */
export function sampleDiscreteGaussian(rng: Rng, sigma2: Rational): bigint {
  return discreteGaussianSampler(rng, sigma2).sample()
}
