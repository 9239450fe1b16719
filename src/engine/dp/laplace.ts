/**
 * The discrete Laplace mechanism: pure epsilon-differential privacy.
 *
 * Guarantee: for a query of L1 sensitivity D (in value units), releasing
 * round(x / 2^k) + Z with Z discrete Laplace of scale
 * S / epsilon grid steps, S = the sensitivity in grid steps (mechanism.ts),
 * is epsilon-DP. Source: Ghosh, Roughgarden, Sundararajan, "Universally
 * Utility-Maximizing Privacy Mechanisms" (STOC 2009) for the geometric
 * mechanism; exact sampling after Canonne, Kamath, Steinke (NeurIPS 2020),
 * Algorithm 2 (see discrete-laplace.ts).
 *
 * epsilon is read as a decimal (0.1 is exactly 1/10) and the scale t/s is
 * exactly S / epsilon, so the privacy map returns exactly the epsilon the
 * ledgers are charged (rounded up to micro-units, never down: budget.ts).
 */
import { discreteLaplaceHalfWidth } from './intervals.js'
import { buildRelease, chooseGrid, l1Steps, type Mechanism, type MechanismOptions } from './mechanism.js'
import { poolFor } from './noise-pool.js'
import { sampleDiscreteLaplace } from './discrete-laplace.js'
import { defaultRng } from './random.js'
import { Rational } from './rational.js'
import { positive, type Amount } from './validate.js'

export interface LaplaceOptions extends MechanismOptions {
  /** L1 sensitivity in value units (> 0), read as its exact binary value. */
  readonly sensitivity: Amount
  /** Privacy budget of one release (> 0), read as a decimal. */
  readonly epsilon: Amount
}

export interface LaplaceMechanism extends Mechanism {
  readonly kind: 'laplace'
  readonly epsilon: Rational
  /** Sensitivity in grid steps, rounding included. */
  readonly sensitivitySteps: bigint
  /** Noise scale in grid steps, exactly t/s. */
  readonly scaleSteps: Rational
  /** Noise scale in value units, exactly. */
  readonly scale: Rational
}

export function makeLaplace(options: LaplaceOptions): LaplaceMechanism {
  const sensitivity = positive('sensitivity', options.sensitivity, 'exact')
  const epsilon = positive('epsilon', options.epsilon, 'decimal')
  const grid = chooseGrid(sensitivity.div(epsilon).log2Floor(), options)
  const sensitivitySteps = l1Steps(sensitivity, grid)
  const scaleSteps = Rational.of(sensitivitySteps).div(epsilon)
  const rng = options.rng ?? defaultRng()
  const t = scaleSteps.num
  const s = scaleSteps.den
  const pool = poolFor(rng, `laplace:${t}/${s}`, () => sampleDiscreteLaplace(rng, t, s))
  const noiseScaleSteps = scaleSteps.toNumber()
  const shared = buildRelease(grid, pool, (alpha) => discreteLaplaceHalfWidth(scaleSteps, alpha))
  return Object.freeze({
    kind: 'laplace' as const,
    sensitivity,
    epsilon,
    gridExp: grid.gridExp,
    roundsInput: grid.roundsInput,
    sensitivitySteps,
    scaleSteps,
    scale: scaleSteps.shift(grid.gridExp),
    noiseScaleSteps,
    noiseScale: scaleSteps.shift(grid.gridExp).toNumber(),
    privacyMap: (dIn: Amount) => Rational.of(l1Steps(positive('dIn', dIn, 'exact'), grid)).div(scaleSteps),
    ...shared,
  })
}
