/**
 * AVG, VAR and STDDEV as post-processing of separately released noisy
 * moments (count, sum, sum of squares), with conservative intervals.
 *
 * Privacy: nothing here touches exact data; each moment was released by its
 * own mechanism and charged for (AVG: sum and count, each at half of the
 * aggregate's budget; VAR/STDDEV: count, sum and sum of squares, each at a
 * third), so these functions are free (post-processing).
 *
 * Intervals: each moment's interval is taken at level 1 - alpha/parts, so all
 * hold together with probability >= 1 - alpha (union bound), and the derived
 * quantity is bounded by interval arithmetic over them, then clipped to what
 * clamped data allow: a mean lies in [lower, upper], a population variance
 * in [0, ((upper - lower) / 2)^2]. Each estimate is clipped into its own
 * interval (also post-processing), so a released value always lies inside it.
 */
import { clip, ratioInterval, sqrtInterval, toNumberInterval, type ExactInterval } from './intervals.js'
import type { Mechanism, Released } from './mechanism.js'
import { Rational } from './rational.js'
import { finite, invalid, openUnit } from './validate.js'

export interface NoisyMoment {
  readonly mechanism: Mechanism
  readonly released: Released
}

export interface DerivedValue {
  readonly value: number
  readonly interval: { readonly lo: number; readonly hi: number; readonly confidence: number }
}

function exactInterval(m: NoisyMoment, confidence: number): ExactInterval {
  const iv = m.mechanism.interval(m.released, confidence)
  return { lo: Rational.dyadic(iv.loUnits, iv.exp), hi: Rational.dyadic(iv.hiUnits, iv.exp) }
}

function exactValue(r: Released): Rational {
  return Rational.dyadic(r.units, r.exp)
}

function bounds(lower: number, upper: number): { lo: Rational; hi: Rational } {
  finite('lower', lower)
  finite('upper', upper)
  if (!(lower < upper)) throw invalid('upper', `greater than lower (${lower})`, upper)
  return { lo: Rational.fromNumber(lower), hi: Rational.fromNumber(upper) }
}

function clampTo(x: Rational, iv: ExactInterval): Rational {
  return x.lt(iv.lo) ? iv.lo : x.gt(iv.hi) ? iv.hi : x
}

function midpoint(iv: ExactInterval): Rational {
  return iv.lo.add(iv.hi).div(Rational.of(2n))
}

/** AVG = noisy SUM / noisy COUNT, clipped to the bounds and to its interval. */
export function releaseMean(
  sum: NoisyMoment,
  count: NoisyMoment,
  lower: number,
  upper: number,
  confidence: number,
): DerivedValue {
  openUnit('confidence', confidence)
  const b = bounds(lower, upper)
  const part = 1 - (1 - confidence) / 2
  const iv = ratioInterval(exactInterval(sum, part), exactInterval(count, part), b.lo, b.hi)
  const c = exactValue(count.released)
  const estimate = c.isPositive() ? clampTo(exactValue(sum.released).div(c), iv) : midpoint(iv)
  return Object.freeze({ value: estimate.toNumber(), interval: Object.freeze({ ...toNumberInterval(iv), confidence }) })
}

/**
 * Population variance sum(x^2)/n - (sum(x)/n)^2 of the clamped values from
 * noisy count, sum and sum of squares.
 */
export function releaseVariance(
  sumSquares: NoisyMoment,
  sum: NoisyMoment,
  count: NoisyMoment,
  lower: number,
  upper: number,
  confidence: number,
): DerivedValue {
  const { value, interval } = varianceExact(sumSquares, sum, count, lower, upper, confidence)
  return Object.freeze({
    value: value.toNumber(),
    interval: Object.freeze({ ...toNumberInterval(interval), confidence }),
  })
}

/** STDDEV: the square root of the variance estimate and of its interval's ends. */
export function releaseStddev(
  sumSquares: NoisyMoment,
  sum: NoisyMoment,
  count: NoisyMoment,
  lower: number,
  upper: number,
  confidence: number,
): DerivedValue {
  const { value, interval } = varianceExact(sumSquares, sum, count, lower, upper, confidence)
  const iv = sqrtInterval(toNumberInterval(interval))
  const v = Math.min(iv.hi, Math.max(iv.lo, Math.sqrt(value.toNumber())))
  return Object.freeze({ value: v, interval: Object.freeze({ ...iv, confidence }) })
}

function varianceExact(
  sumSquares: NoisyMoment,
  sum: NoisyMoment,
  count: NoisyMoment,
  lower: number,
  upper: number,
  confidence: number,
): { value: Rational; interval: ExactInterval } {
  openUnit('confidence', confidence)
  const b = bounds(lower, upper)
  const half = b.hi.sub(b.lo).div(Rational.of(2n))
  const cap = { lo: Rational.ZERO, hi: half.mul(half) }
  const part = 1 - (1 - confidence) / 3
  const c = exactInterval(count, part)
  const s = exactInterval(sum, part)
  const s2 = exactInterval(sumSquares, part)
  let iv: ExactInterval = cap
  if (c.lo.isPositive()) {
    const mean = ratioInterval(s, c, b.lo, b.hi)
    // mean^2 over the mean interval
    const sqLo = mean.lo.isPositive() ? mean.lo.mul(mean.lo) : mean.hi.num < 0n ? mean.hi.mul(mean.hi) : Rational.ZERO
    const sqHi = mean.lo.mul(mean.lo).gt(mean.hi.mul(mean.hi)) ? mean.lo.mul(mean.lo) : mean.hi.mul(mean.hi)
    // E[x^2] over the sum-of-squares and count intervals; the true value is >= 0
    const m2Lo = s2.lo.isPositive() ? s2.lo.div(c.hi) : Rational.ZERO
    const m2Hi = s2.hi.isPositive() ? s2.hi.div(c.lo) : Rational.ZERO
    iv = clip({ lo: m2Lo.sub(sqHi), hi: m2Hi.sub(sqLo) }, cap.lo, cap.hi)
  }
  const n = exactValue(count.released)
  let value = midpoint(iv)
  if (n.isPositive()) {
    const mean = exactValue(sum.released).div(n)
    value = clampTo(exactValue(sumSquares.released).div(n).sub(mean.mul(mean)), iv)
  }
  return { value, interval: iv }
}
