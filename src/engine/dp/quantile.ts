/**
 * DP quantiles over declared bounds, as post-processing of one noisy
 * histogram.
 *
 * Guarantee: the histogram of a column clamped to [lower, upper] over `bins`
 * equal bins has L1 sensitivity m = maxRowsPerUnit under add/remove of one
 * privacy unit (each of its at most m rows sits in one bin) and L2
 * sensitivity m as well (all m rows may share a bin). Each bin count gets
 * discrete Laplace noise for epsilon (epsilon-DP, the geometric mechanism of
 * Ghosh, Roughgarden, Sundararajan, STOC 2009, sampled per CKS20 Algorithm 2)
 * or discrete Gaussian noise for rho (rho-zCDP, CKS20). Every quantile, and
 * its interval, is computed from the noisy counts alone, so any number of
 * quantiles of the same histogram cost that one charge (post-processing).
 *
 * Interval: with probability >= confidence every noisy prefix sum is within
 * H of the true one (union bound over the `bins` prefix sums at
 * (1 - confidence) / bins each; H from the Chernoff bound for sums of up to
 * `bins` noises, intervals.ts). On that event the bin holding the true
 * p-quantile (the first bin whose true prefix reaches p N) lies between
 *   jLo = first j with F~_j + H >= p (N~ - H)   and
 *   jHi = first j with F~_j - H >= p (N~ + H)   (last bin if none),
 * and the reported value, inside the first bin with F~_j >= p N~, lies between
 * them too. The interval is [edge(jLo), edge(jHi + 1)]. Bin membership is the
 * kernel's floating-point rule (src/engine/exec/types.ts), so a value exactly
 * on an edge may count in the neighbouring bin.
 */
import { gaussianSumHalfWidth, laplaceSumHalfWidth } from './intervals.js'
import { makeGaussian, type GaussianMechanism } from './gaussian.js'
import { makeLaplace, type LaplaceMechanism } from './laplace.js'
import type { Released, Reservation } from './mechanism.js'
import { Rational } from './rational.js'
import type { Rng } from './random.js'
import { closedUnit, finite, invalid, openUnit, positiveInteger, type Amount } from './validate.js'

export interface HistogramQuantileOptions {
  readonly lower: number
  readonly upper: number
  readonly bins: number
  readonly maxRowsPerUnit: number
  /**
   * How many histograms (one per group) are released together. One unit can
   * touch up to min(m, bins * groups) cells, each of which can gain a rounding
   * step when the grid is coarser than 1. Default 1.
   */
  readonly groups?: number
  /** Laplace noise at this epsilon, or ... */
  readonly epsilon?: Amount
  /** ... Gaussian noise at this rho. Exactly one of the two. */
  readonly rho?: Amount
  readonly rng?: Rng
}

export interface QuantileResult {
  readonly p: number
  /** The DP estimate, inside bin `bin`. */
  readonly value: number
  readonly bin: number
  readonly interval: { readonly lo: number; readonly hi: number; readonly confidence: number }
}

export interface HistogramQuantile {
  readonly mechanism: LaplaceMechanism | GaussianMechanism
  readonly bins: number
  /** Reserves and draws the noise for `groups` histograms ahead of the answer (see Mechanism.reserve). */
  reserve(groups?: number): Promise<Reservation>
  /** The same, drawn now (tests). */
  reserveNow(groups?: number): Reservation
  /**
   * Noisy counts of every group's histogram (`bins` counts per group, group
   * after group), released at once through the reservation: one histogram
   * per row of the result, on the mechanism's grid.
   */
  noisyHistograms(reservation: Reservation, counts: ArrayLike<number>): Promise<Released[][]>
  /** Quantiles and intervals of a noisy histogram: post-processing only. */
  quantiles(noisy: readonly Released[], ps: readonly number[], confidence: number): QuantileResult[]
}

export const MAX_BINS = 1 << 16

export function makeHistogramQuantile(options: HistogramQuantileOptions): HistogramQuantile {
  const lower = finite('lower', options.lower)
  const upper = finite('upper', options.upper)
  if (!(lower < upper)) throw invalid('upper', `greater than lower (${lower})`, upper)
  const bins = positiveInteger('bins', options.bins, MAX_BINS)
  const m = positiveInteger('maxRowsPerUnit', options.maxRowsPerUnit)
  if ((options.epsilon === undefined) === (options.rho === undefined)) {
    throw invalid('epsilon or rho', 'given, exactly one of the two', 'both or neither')
  }
  // Counts are integers on the grid; should a huge scale make the grid
  // coarser, each of the (at most min(m, bins * groups)) cells a unit touches
  // can gain a rounding step, which `coordinates` accounts for.
  const groups = options.groups === undefined ? 1 : positiveInteger('groups', options.groups)
  const common = {
    integer: true,
    inputExp: 0,
    coordinates: Math.min(m, bins * groups),
    ...(options.rng ? { rng: options.rng } : {}),
  }
  const mechanism =
    options.epsilon !== undefined
      ? makeLaplace({ sensitivity: m, epsilon: options.epsilon, ...common })
      : makeGaussian({ sensitivity: m, rho: options.rho!, ...common })
  const k = mechanism.gridExp
  const lo = Rational.fromNumber(lower)
  const width = Rational.fromNumber(upper)
    .sub(lo)
    .div(Rational.of(BigInt(bins)))
  const edge = (j: number): Rational => lo.add(width.mul(Rational.of(BigInt(j))))
  const bounds = new Map<number, bigint>()

  /** H in grid steps: every prefix-sum error is within H with probability >= confidence. */
  const prefixBound = (confidence: number): bigint => {
    let h = bounds.get(confidence)
    if (h === undefined) {
      const alpha = (1 - confidence) / bins
      h =
        mechanism.kind === 'laplace'
          ? laplaceSumHalfWidth(mechanism.scaleSteps, bins, alpha)
          : gaussianSumHalfWidth(mechanism.sigma2Steps, bins, alpha)
      // Counts rounded to a coarse grid add up to half a step per bin.
      if (mechanism.roundsInput) h += BigInt(Math.ceil(bins / 2))
      bounds.set(confidence, h)
    }
    return h
  }

  return Object.freeze({
    mechanism,
    bins,
    reserve: (groups = 1) => mechanism.reserve(bins * positiveInteger('groups', groups)),
    reserveNow: (groups = 1) => mechanism.reserveNow(bins * positiveInteger('groups', groups)),
    noisyHistograms: async (reservation: Reservation, counts: ArrayLike<number>) => {
      if (counts.length === 0 || counts.length % bins !== 0) {
        throw invalid('counts.length', `a positive multiple of ${bins} (one per bin, per group)`, counts.length)
      }
      const exact: number[] = []
      for (let i = 0; i < counts.length; i++) {
        const c = counts[i]!
        if (!Number.isSafeInteger(c) || c < 0) throw invalid(`counts[${i}]`, 'a non-negative integer', c)
        exact.push(c)
      }
      const released = await reservation.releaseInTurns(exact)
      const out: Released[][] = []
      for (let g = 0; g < released.length; g += bins) out.push(released.slice(g, g + bins))
      return out
    },
    quantiles: (noisy: readonly Released[], ps: readonly number[], confidence: number) => {
      openUnit('confidence', confidence)
      if (noisy.length !== bins) throw invalid('noisy.length', `${bins} (one per bin)`, noisy.length)
      const prefix: bigint[] = []
      let run = 0n
      for (const r of noisy) {
        if (r.exp !== k) throw invalid('noisy[].exp', `the histogram's grid exponent ${k}`, r.exp)
        run += r.units
        prefix.push(run)
      }
      const total = Rational.of(run)
      const h = Rational.of(prefixBound(confidence))
      const firstAtLeast = (shift: Rational, target: Rational): number => {
        for (let j = 0; j < bins; j++) if (Rational.of(prefix[j]!).add(shift).gte(target)) return j
        return bins - 1
      }
      return ps.map((p, i) => {
        closedUnit(`ps[${i}]`, p)
        const pr = Rational.fromNumber(p)
        const target = pr.mul(total)
        const j = firstAtLeast(Rational.ZERO, target)
        const jLo = firstAtLeast(h, pr.mul(total.sub(h)))
        const jHi = firstAtLeast(h.neg(), pr.mul(total.add(h)))
        const before = Rational.of(j === 0 ? 0n : prefix[j - 1]!)
        const inBin = Rational.of(prefix[j]!).sub(before)
        let frac = Rational.of(1n, 2n)
        if (inBin.isPositive()) {
          frac = target.sub(before).div(inBin)
          if (frac.lt(Rational.ZERO)) frac = Rational.ZERO
          if (frac.gt(Rational.ONE)) frac = Rational.ONE
        }
        return Object.freeze({
          p,
          value: edge(j).add(width.mul(frac)).toNumber(),
          bin: j,
          interval: Object.freeze({
            lo: edge(jLo).toNumber('down'),
            hi: edge(jHi + 1).toNumber('up'),
            confidence,
          }),
        })
      })
    },
  })
}
