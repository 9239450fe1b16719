/**
 * Confidence intervals from the exact noise distributions: every bound here
 * is a tail probability bound that holds for the distribution the samplers
 * draw from, not for a continuous stand-in.
 *
 * - Discrete Laplace, scale b, q = exp(-1/b): P(|Z| > h) = 2 q^(h+1) / (1 + q)
 *   exactly (sum the geometric tail of the pmf (1-q)/(1+q) q^|z|). The
 *   half-width is the smallest integer h with that at most alpha; it never
 *   exceeds ceil(b ln(1/alpha)), the continuous Laplace bound.
 * - Discrete Gaussian, parameter sigma^2: P(|Z| > h) <= P(|N(0, sigma^2)| > h).
 *   Proof: the normaliser sum_z exp(-z^2 / 2 sigma^2) equals
 *   sqrt(2 pi) sigma * sum_k exp(-2 pi^2 sigma^2 k^2) >= sqrt(2 pi) sigma by
 *   Poisson summation, and for the decreasing tail
 *   sum_{z > h} exp(-z^2 / 2 sigma^2) <= integral_h^inf exp(-x^2 / 2 sigma^2) dx.
 *   So h = ceil(sigma * z_{1 - alpha/2}) is safe.
 * - Sums of k i.i.d. discrete Laplace noises (prefix sums of a noisy
 *   histogram): Chernoff with the closed-form MGF
 *   E[e^(lambda Z)] = (1-q)^2 / ((1 - q e^lambda)(1 - q e^-lambda)), |lambda| < 1/b.
 * - Sums of k discrete Gaussians: each is sub-Gaussian with variance proxy
 *   sigma^2 (CKS20, Corollary 9 / Lemma 17), so P(|S| >= x) <= 2 exp(-x^2 / (2 k sigma^2)).
 *
 * The transcendental functions are evaluated in floating point; every result
 * is pushed outward by a relative margin of 1e-9, far above the evaluation
 * error (about 1e-13), so a computed half-width is never below the true one.
 */
import { Rational, nextDown, nextUp } from './rational.js'
import { invalid, openUnit } from './validate.js'

const MARGIN = 1e-9

function scaleNumber(x: Rational | number, name: string): number {
  const v = x instanceof Rational ? x.toNumber('up') : x
  if (!Number.isFinite(v) || !(v > 0)) throw invalid(name, 'a finite number greater than 0', x)
  return v
}

/** P(|Z| > h) for discrete Laplace noise of scale b and an integer h >= 0. */
export function discreteLaplaceTail(b: number, h: number): number {
  const q = Math.exp(-1 / b)
  return (2 * Math.exp(-(h + 1) / b)) / (1 + q)
}

/**
 * Smallest h (in grid steps) with P(|Z| > h) <= alpha for discrete Laplace
 * noise with scale `scale` (in grid steps).
 */
export function discreteLaplaceHalfWidth(scale: Rational | number, alpha: number): bigint {
  const b = scaleNumber(scale, 'scale')
  openUnit('alpha', alpha)
  const q = Math.exp(-1 / b)
  // 2 q^(h+1) / (1+q) <= alpha  <=>  h + 1 >= b (ln 2 - ln(1+q) - ln alpha)
  const need = b * (Math.LN2 - Math.log1p(q) - Math.log(alpha))
  const h = Math.ceil(need * (1 + MARGIN) + MARGIN) - 1
  return BigInt(Math.max(0, h))
}

/** Q(x) = P(N(0,1) > x), accurate to about 1e-14 relative for x >= 0. */
export function normalUpperTail(x: number): number {
  if (Number.isNaN(x)) return NaN
  if (x < 0) return 1 - normalUpperTail(-x)
  return erfc(x / Math.SQRT2) / 2
}

/** erfc(u) for u >= 0. */
function erfc(u: number): number {
  if (u < 2) {
    // erf(u) = 2/sqrt(pi) e^(-u^2) sum_n 2^n u^(2n+1) / (1*3*...*(2n+1)):
    // positive terms, no cancellation inside the sum.
    let term = u
    let sum = u
    for (let n = 1; n < 200; n++) {
      term *= (2 * u * u) / (2 * n + 1)
      sum += term
      if (term < sum * 1e-17) break
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * Math.exp(-u * u) * sum
  }
  // Continued fraction erfc(u) = e^(-u^2)/sqrt(pi) * 1/(u + (1/2)/(u + 1/(u + (3/2)/(u + ...)))),
  // evaluated by the modified Lentz method.
  const tiny = 1e-300
  let f = u
  let c = u
  let d = 0
  for (let n = 1; n < 500; n++) {
    const an = n / 2
    d = u + an * d
    d = d === 0 ? tiny : d
    c = u + an / c
    c = c === 0 ? tiny : c
    d = 1 / d
    const delta = c * d
    f *= delta
    if (Math.abs(delta - 1) < 1e-16) break
  }
  return Math.exp(-u * u) / Math.sqrt(Math.PI) / f
}

/** z with Q(z) = alpha, for 0 < alpha < 1 (bisection on the monotone tail). */
export function normalQuantileUpper(alpha: number): number {
  openUnit('alpha', alpha)
  let lo = -40
  let hi = 40
  for (let i = 0; i < 200 && hi - lo > 1e-15 * Math.max(1, Math.abs(hi)); i++) {
    const mid = (lo + hi) / 2
    if (normalUpperTail(mid) > alpha) lo = mid
    else hi = mid
  }
  return hi
}

/**
 * A safe h (in grid steps) with P(|Z| > h) <= alpha for discrete Gaussian
 * noise with parameter sigma^2 (in grid steps squared).
 */
export function discreteGaussianHalfWidth(sigma2: Rational | number, alpha: number): bigint {
  const s2 = scaleNumber(sigma2, 'sigma2')
  const z = normalQuantileUpper(alpha / 2)
  const sigma = nextUp(Math.sqrt(s2))
  return BigInt(Math.max(0, Math.ceil(sigma * z * (1 + MARGIN))))
}

/** log E[e^(lambda Z)] for discrete Laplace of scale b, 0 <= lambda < 1/b. */
function laplaceLogMgf(b: number, lambda: number): number {
  const inv = 1 / b
  return 2 * Math.log(-Math.expm1(-inv)) - Math.log(-Math.expm1(lambda - inv)) - Math.log(-Math.expm1(-lambda - inv))
}

/**
 * Chernoff bound on log P(S >= x) for the sum S of k i.i.d. discrete Laplace
 * noises of scale b: min over lambda in (0, 1/b) of k log M(lambda) - lambda x.
 * Any lambda gives a valid bound, so an imprecise minimiser only loosens it.
 */
export function laplaceSumLogTail(b: number, k: number, x: number): number {
  const inv = 1 / b
  const f = (u: number): number => k * laplaceLogMgf(b, u * inv) - u * inv * x
  // The objective is convex in lambda; golden-section search on u = lambda b.
  const g = (Math.sqrt(5) - 1) / 2
  let lo = 0
  let hi = 1
  let c = hi - g * (hi - lo)
  let d = lo + g * (hi - lo)
  let fc = f(c)
  let fd = f(d)
  for (let i = 0; i < 120; i++) {
    if (fc < fd) {
      hi = d
      d = c
      fd = fc
      c = hi - g * (hi - lo)
      fc = f(c)
    } else {
      lo = c
      c = d
      fc = fd
      d = lo + g * (hi - lo)
      fd = f(d)
    }
  }
  return Math.min(0, fc, fd)
}

/**
 * Smallest h found with P(|S| > h) <= alpha by the Chernoff bound, S the sum
 * of k i.i.d. discrete Laplace noises of scale `scale` (grid steps).
 */
export function laplaceSumHalfWidth(scale: Rational | number, k: number, alpha: number): bigint {
  const b = scaleNumber(scale, 'scale')
  openUnit('alpha', alpha)
  if (!Number.isSafeInteger(k) || k < 1) throw invalid('k', 'a positive integer', k)
  const target = Math.log(alpha) - Math.LN2
  // P(|S| > h) = P(|S| >= h + 1) <= 2 exp(logTail(h + 1)); the log tail is
  // <= 0, so scaling it by (1 - MARGIN) moves the bound up, never down.
  const ok = (h: number): boolean => laplaceSumLogTail(b, k, h + 1) * (1 - MARGIN) + MARGIN <= target
  let hi = 1
  while (!ok(hi)) hi *= 2
  let lo = -1
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2)
    if (mid >= 0 && ok(mid)) hi = mid
    else lo = mid
  }
  return BigInt(hi)
}

/** h with P(|S| > h) <= alpha for the sum of k discrete Gaussians of parameter sigma^2. */
export function gaussianSumHalfWidth(sigma2: Rational | number, k: number, alpha: number): bigint {
  const s2 = scaleNumber(sigma2, 'sigma2')
  openUnit('alpha', alpha)
  if (!Number.isSafeInteger(k) || k < 1) throw invalid('k', 'a positive integer', k)
  // P(|S| >= h + 1) <= 2 exp(-(h+1)^2 / (2 k sigma^2)) <= alpha
  const need = Math.sqrt(2 * k * s2 * Math.log(2 / alpha)) * (1 + MARGIN)
  return BigInt(Math.max(0, Math.ceil(need) - 1))
}

/** A closed interval [lo, hi] of exact values. */
export interface ExactInterval {
  readonly lo: Rational
  readonly hi: Rational
}

/**
 * Interval for a ratio num/den (AVG = SUM / COUNT) from intervals of its two
 * parts, each holding with probability 1 - alpha/2, so the result holds with
 * probability 1 - alpha by the union bound. The true ratio of clamped data
 * lies in [lower, upper] whatever the noise, so the result is clipped to that
 * and is the whole range when the denominator's interval reaches 0.
 */
export function ratioInterval(num: ExactInterval, den: ExactInterval, lower: Rational, upper: Rational): ExactInterval {
  if (!den.lo.isPositive()) return { lo: lower, hi: upper }
  const corners = [num.lo.div(den.lo), num.lo.div(den.hi), num.hi.div(den.lo), num.hi.div(den.hi)]
  let lo = corners[0]!
  let hi = corners[0]!
  for (const c of corners) {
    if (c.lt(lo)) lo = c
    if (c.gt(hi)) hi = c
  }
  return clip({ lo, hi }, lower, upper)
}

/** Intersects with [lower, upper]; an interval entirely outside collapses to the nearer end. */
export function clip(iv: ExactInterval, lower: Rational, upper: Rational): ExactInterval {
  const lo = iv.lo.lt(lower) ? lower : iv.lo.gt(upper) ? upper : iv.lo
  const hi = iv.hi.gt(upper) ? upper : iv.hi.lt(lower) ? lower : iv.hi
  return { lo, hi }
}

/** Directed rounding to doubles: the number interval contains the exact one. */
export function toNumberInterval(iv: ExactInterval): { lo: number; hi: number } {
  return { lo: iv.lo.toNumber('down'), hi: iv.hi.toNumber('up') }
}

/** Outward square root of a non-negative number interval (STDDEV from VAR). */
export function sqrtInterval(iv: { lo: number; hi: number }): { lo: number; hi: number } {
  const lo = iv.lo <= 0 ? 0 : Math.max(0, nextDown(Math.sqrt(iv.lo)))
  return { lo, hi: nextUp(Math.sqrt(Math.max(0, iv.hi))) }
}
