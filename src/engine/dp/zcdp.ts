/**
 * zCDP: the Gaussian mechanism's accounting and its conversion to
 * (epsilon, delta). Budgets themselves are exact integers (budget.ts); this
 * file holds the floating-point part, and pushes every result outward.
 *
 * zCDP (Bun and Steinke, TCC 2016): the discrete Gaussian with sigma^2 on L2
 * sensitivity D is (D^2 / (2 sigma^2))-zCDP (CKS20, Theorem 4); rho adds up
 * under composition. Conversion to (epsilon, delta) uses Canonne, Kamath,
 * Steinke, "The Discrete Gaussian for Differential Privacy" (NeurIPS 2020),
 * Corollary 13:
 *   epsilon = inf_{a > 1} a rho + (ln(1/delta) + (a-1) ln(1 - 1/a) - ln a) / (a - 1),
 * equivalently delta = inf_{a > 1} exp((a-1)(a rho - epsilon)) / (a-1) * (1 - 1/a)^a.
 * It is never looser than the classic rho + 2 sqrt(rho ln(1/delta)): take the
 * same a and note (a-1) ln(1 - 1/a) - ln a < 0.
 *
 * The conversions are numeric minimisations over a. Every a gives a valid
 * bound, so a slightly-off minimiser costs tightness, not safety; results are
 * pushed outward by a relative 1e-9 to cover floating-point evaluation, and
 * enter the ledgers through budget.fromDouble, rounded in the safe direction.
 */
import { fromDouble, toRational, type Delta, type Epsilon, type Rho } from './budget.js'
import type { Rational } from './rational.js'
import { invalid, openUnit, positive, type Amount } from './validate.js'

const MARGIN = 1e-9

/** rho of the (discrete) Gaussian mechanism: D^2 / (2 sigma^2). */
export function gaussianRho(l2Sensitivity: Amount, sigma2: Amount): Rational {
  const d = positive('sensitivity', l2Sensitivity, 'exact')
  const s = positive('sigma2', sigma2, 'exact')
  return d.mul(d).div(s.add(s))
}

/** Minimises f over a > 1 by a scan of log(a - 1), then golden-section refinement. */
function minimiseOverAlpha(f: (a: number) => number, minLog = -20, maxLog = 40): number {
  const steps = 400
  let bestI = 0
  let best = Infinity
  for (let i = 0; i <= steps; i++) {
    const v = f(1 + Math.exp(minLog + ((maxLog - minLog) * i) / steps))
    if (v < best) {
      best = v
      bestI = i
    }
  }
  const at = (x: number): number => f(1 + Math.exp(x))
  let lo = minLog + ((maxLog - minLog) * Math.max(0, bestI - 1)) / steps
  let hi = minLog + ((maxLog - minLog) * Math.min(steps, bestI + 1)) / steps
  const g = (Math.sqrt(5) - 1) / 2
  let c = hi - g * (hi - lo)
  let d = lo + g * (hi - lo)
  let fc = at(c)
  let fd = at(d)
  for (let i = 0; i < 100; i++) {
    if (fc < fd) {
      hi = d
      d = c
      fd = fc
      c = hi - g * (hi - lo)
      fc = at(c)
    } else {
      lo = c
      c = d
      fc = fd
      d = lo + g * (hi - lo)
      fd = at(d)
    }
  }
  return Math.min(best, fc, fd)
}

function checkRho(rho: number): number {
  if (typeof rho !== 'number' || !Number.isFinite(rho) || !(rho > 0))
    throw invalid('rho', 'a finite number greater than 0', rho)
  return rho
}

/** CKS20 Corollary 13: the epsilon for which rho-zCDP implies (epsilon, delta)-DP. */
export function zcdpToEpsilon(rho: number, delta: number): number {
  checkRho(rho)
  openUnit('delta', delta)
  const logInvDelta = -Math.log(delta)
  const eps = minimiseOverAlpha((a) => a * rho + (logInvDelta + (a - 1) * Math.log1p(-1 / a) - Math.log(a)) / (a - 1))
  return Math.max(0, eps) * (1 + MARGIN) + MARGIN * 1e-6
}

/** The classic bound rho + 2 sqrt(rho ln(1/delta)) (Bun and Steinke 2016, Proposition 1.3). */
export function zcdpToEpsilonSimple(rho: number, delta: number): number {
  checkRho(rho)
  openUnit('delta', delta)
  return rho + 2 * Math.sqrt(rho * -Math.log(delta))
}

/** CKS20: the smallest delta for which rho-zCDP implies (epsilon, delta)-DP. */
export function zcdpToDelta(rho: number, epsilon: number): number {
  checkRho(rho)
  if (typeof epsilon !== 'number' || !Number.isFinite(epsilon) || epsilon < 0) {
    throw invalid('epsilon', 'a finite number at least 0', epsilon)
  }
  const logDelta = minimiseOverAlpha((a) => (a - 1) * (a * rho - epsilon) - Math.log(a - 1) + a * Math.log1p(-1 / a))
  return Math.min(1, Math.exp(logDelta * (1 - MARGIN) + MARGIN))
}

/**
 * The largest rho (to within a relative 1e-12, rounded down) for which
 * rho-zCDP implies (epsilon, delta)-DP by the CKS20 conversion: what a
 * Gaussian query asked for at (epsilon, delta) may spend in zCDP.
 */
export function zcdpForEpsilonDelta(epsilon: number, delta: number): number {
  if (typeof epsilon !== 'number' || !Number.isFinite(epsilon) || !(epsilon > 0)) {
    throw invalid('epsilon', 'a finite number greater than 0', epsilon)
  }
  openUnit('delta', delta)
  // zcdpToEpsilon is increasing in rho and rho <= epsilon always suffices as
  // an upper end (the conversion gives at least rho).
  let lo = 0
  let hi = epsilon
  while (hi - lo > 1e-12 * hi) {
    const mid = (lo + hi) / 2
    if (zcdpToEpsilon(mid, delta) <= epsilon) lo = mid
    else hi = mid
  }
  return lo
}

/**
 * The epsilon (rounded up) for which rho-zCDP implies (epsilon, delta)-DP:
 * what a ledger's Gaussian answers cost it in epsilon (policy/pricing.ts).
 */
export function epsilonOfRho(rho: Rho, delta: Delta): Epsilon {
  if (rho === 0n) return 0n as Epsilon
  return fromDouble('epsilon', zcdpToEpsilon(asDouble('rho', rho), asDouble('delta', delta)), 'up')
}

/**
 * The rho (rounded down) a Gaussian query asked for at (epsilon, delta) may
 * spend: the largest for which the CKS20 conversion stays within them.
 */
export function rhoForEpsilonDelta(epsilon: Epsilon, delta: Delta): Rho {
  return fromDouble('rho', zcdpForEpsilonDelta(asDouble('epsilon', epsilon), asDouble('delta', delta)), 'down')
}

/** The double nearest an exact amount, as the floating-point conversions above take it. */
function asDouble(kind: 'epsilon' | 'delta' | 'rho', amount: bigint): number {
  return toRational(kind, amount).toNumber()
}
