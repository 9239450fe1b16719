/**
 * The discrete Gaussian mechanism: rho-zero-concentrated differential privacy.
 *
 * Guarantee: for a query of L2 sensitivity D (value units), releasing
 * round(x / 2^k) + Z with Z discrete Gaussian of parameter
 * sigma^2 = S^2 / (2 rho) grid steps squared, S = the L2 sensitivity in grid
 * steps (mechanism.ts), is rho-zCDP. Source: Canonne, Kamath, Steinke,
 * "The Discrete Gaussian for Differential Privacy" (NeurIPS 2020),
 * Theorem 4 for the privacy, Algorithm 3 for exact sampling. zCDP is from
 * Bun and Steinke, "Concentrated Differential Privacy" (TCC 2016); it adds up
 * across releases and converts to (epsilon, delta) in zcdp.ts.
 *
 * rho is read as a decimal and sigma^2 is an exact rational, so the privacy
 * map returns exactly the rho that is charged.
 */
import { discreteGaussianSampler } from './discrete-gaussian.js'
import { discreteGaussianHalfWidth } from './intervals.js'
import { buildRelease, chooseGrid, l2Steps, type Mechanism, type MechanismOptions } from './mechanism.js'
import { poolFor } from './noise-pool.js'
import { defaultRng } from './random.js'
import { Rational } from './rational.js'
import { positive, type Amount } from './validate.js'

export interface GaussianOptions extends MechanismOptions {
  /** L2 sensitivity in value units (> 0), read as its exact binary value. */
  readonly sensitivity: Amount
  /** zCDP budget of one release (> 0), read as a decimal. */
  readonly rho: Amount
}

export interface GaussianMechanism extends Mechanism {
  readonly kind: 'gaussian'
  readonly rho: Rational
  /** L2 sensitivity in grid steps, an integer upper bound, rounding included. */
  readonly sensitivitySteps: bigint
  /** The discrete Gaussian's sigma^2 in grid steps squared, exactly. */
  readonly sigma2Steps: Rational
  /** sigma^2 in value units squared, exactly. */
  readonly sigma2: Rational
}

export function makeGaussian(options: GaussianOptions): GaussianMechanism {
  const sensitivity = positive('sensitivity', options.sensitivity, 'exact')
  const rho = positive('rho', options.rho, 'decimal')
  // floor(log2 sigma) = floor(floor(log2 sigma^2) / 2)
  const valueSigma2 = sensitivity.mul(sensitivity).div(rho.add(rho))
  const grid = chooseGrid(Math.floor(valueSigma2.log2Floor() / 2), options)
  const sensitivitySteps = l2Steps(sensitivity, grid)
  const steps = Rational.of(sensitivitySteps)
  const sigma2Steps = steps.mul(steps).div(rho.add(rho))
  const rng = options.rng ?? defaultRng()
  const sampler = discreteGaussianSampler(rng, sigma2Steps)
  const pool = poolFor(rng, `gaussian:${sigma2Steps.num}/${sigma2Steps.den}`, sampler.sample)
  const noiseScaleSteps = Math.sqrt(sigma2Steps.toNumber())
  const sigma2 = sigma2Steps.shift(2 * grid.gridExp)
  const shared = buildRelease(grid, pool, (alpha) => discreteGaussianHalfWidth(sigma2Steps, alpha))
  return Object.freeze({
    kind: 'gaussian' as const,
    sensitivity,
    rho,
    gridExp: grid.gridExp,
    roundsInput: grid.roundsInput,
    sensitivitySteps,
    sigma2Steps,
    sigma2,
    noiseScaleSteps,
    noiseScale: Math.sqrt(sigma2.toNumber()),
    privacyMap: (dIn: Amount) => {
      const d = Rational.of(l2Steps(positive('dIn', dIn, 'exact'), grid))
      return d.mul(d).div(sigma2Steps.add(sigma2Steps))
    },
    ...shared,
  })
}
