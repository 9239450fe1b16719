/**
 * Privacy accounting: exact budgets, zCDP composition and conversion.
 *
 * Budgets are integers of micro-units (1e-6) and every charge is rounded up,
 * so that rounding can only ever overstate what was spent: ten charges of 0.1
 * are exactly 1.0 and an eleventh is refused. Amounts given as numbers are
 * read as decimals (rational.ts explains why 0.1 must mean 1/10 here).
 *
 * zCDP (Bun and Steinke, TCC 2016): pure epsilon-DP implies (epsilon^2/2)-zCDP
 * (their Proposition 1.4); the discrete Gaussian with sigma^2 on L2
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
 * pushed outward by a relative 1e-9 to cover floating-point evaluation.
 */
import { VeilboxError } from '../../errors/index.js'
import { Rational, ceilDiv, floorDiv } from './rational.js'
import { invalid, openUnit, positive, type Amount } from './validate.js'

export const MICRO = 1_000_000n
const MARGIN = 1e-9

/**
 * amount in micro-units, rounded up. Numbers are read as decimals; `name`
 * goes into the error message.
 */
export function toMicro(amount: Amount, name = 'epsilon'): bigint {
  const r = positive(name, amount, 'decimal')
  return ceilDiv(r.num * MICRO, r.den)
}

/**
 * A total (a budget, a grant's allowance) in micro-units, rounded DOWN: a
 * total is never overstated, as a charge never is understated. 0 is allowed.
 * `1.0000001` is 1000000 micro-units, not 1000001.
 */
export function toMicroTotal(amount: Amount, name = 'epsilon'): bigint {
  if (amount === 0 || (amount instanceof Rational && amount.isZero())) return 0n
  const r = positive(name, amount, 'decimal')
  return floorDiv(r.num * MICRO, r.den)
}

export const FEMTO = 1_000_000_000_000_000n

/**
 * A delta in femto-units (1e-15), read exactly as the decimal it prints as:
 * rounded up for a charge, down for a total. (Multiplying the double by 1e15
 * first made 1e-9 into 1,000,001 femto-units.) 0 is 0.
 */
export function toFemto(delta: Amount, round: 'up' | 'down', name = 'delta'): bigint {
  if (delta === 0 || (delta instanceof Rational && delta.isZero())) return 0n
  const r = positive(name, delta, 'decimal')
  return round === 'up' ? ceilDiv(r.num * FEMTO, r.den) : floorDiv(r.num * FEMTO, r.den)
}

/** Like toMicro but 0 is allowed (a total or a spend may be zero). */
export function toMicroOrZero(amount: Amount, name = 'epsilon'): bigint {
  if (amount === 0 || (amount instanceof Rational && amount.isZero())) return 0n
  return toMicro(amount, name)
}

export function microToRational(micro: bigint): Rational {
  return Rational.of(micro, MICRO)
}

/** For display: the double nearest to micro / 1e6 (it prints as that decimal). */
export function microToNumber(micro: bigint): number {
  return Number(micro) / 1e6
}

/**
 * One budget (an epsilon, a rho) in micro-units. This is the in-memory model
 * the store's guarded UPDATE mirrors (`spent + ? <= total`); it is used for
 * pricing, previews and tests.
 */
export class MicroBudget {
  readonly totalMicro: bigint
  private spent: bigint
  readonly name: string

  constructor(total: Amount, name = 'epsilon', spentMicro = 0n) {
    this.name = name
    this.totalMicro = toMicroOrZero(total, `${name} total`)
    if (spentMicro < 0n || spentMicro > this.totalMicro) {
      throw invalid(
        `${name} spent`,
        `between 0 and the total ${microToNumber(this.totalMicro)}`,
        microToNumber(spentMicro),
      )
    }
    this.spent = spentMicro
  }

  get spentMicro(): bigint {
    return this.spent
  }

  get remainingMicro(): bigint {
    return this.totalMicro - this.spent
  }

  canCharge(amount: Amount): boolean {
    return this.spent + toMicro(amount, this.name) <= this.totalMicro
  }

  /** Charges amount (rounded up), returning the micro-units taken, or throws. */
  charge(amount: Amount): bigint {
    const micro = toMicro(amount, this.name)
    if (this.spent + micro > this.totalMicro) {
      throw new VeilboxError(
        'VEILBOX_ERR_BUDGET_EXHAUSTED',
        `this query needs ${this.name} ${microToNumber(micro)} but only ${microToNumber(this.remainingMicro)} of ${microToNumber(this.totalMicro)} remains`,
        {
          requested: microToNumber(micro),
          spent: microToNumber(this.spent),
          total: microToNumber(this.totalMicro),
          remaining: microToNumber(this.remainingMicro),
        },
      )
    }
    this.spent += micro
    return micro
  }
}

/** epsilon-DP implies (epsilon^2 / 2)-zCDP. */
export function pureToZcdp(epsilon: Amount): Rational {
  const e = positive('epsilon', epsilon, 'decimal')
  return e.mul(e).div(Rational.of(2n))
}

/** rho of the (discrete) Gaussian mechanism: D^2 / (2 sigma^2). */
export function gaussianRho(l2Sensitivity: Amount, sigma2: Amount): Rational {
  const d = positive('sensitivity', l2Sensitivity, 'exact')
  const s = positive('sigma2', sigma2, 'exact')
  return d.mul(d).div(s.add(s))
}

/** zCDP composes by addition. */
export function composeZcdp(rhos: readonly Amount[]): Rational {
  return rhos.reduce<Rational>((acc, r) => acc.add(positive('rho', r, 'decimal')), Rational.ZERO)
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
 * Total (epsilon, delta) of pure-DP releases (sum of epsilons) together with
 * zCDP releases (sum of rhos): the smaller of two valid accountings, (a)
 * pure epsilon added to the converted rho, (b) every pure release counted as
 * epsilon_i^2 / 2 zCDP and converted together.
 */
export function totalEpsilon(parts: { pureEpsilons: readonly number[]; rho: number }, delta: number): number {
  openUnit('delta', delta)
  const pure = parts.pureEpsilons.reduce((a, e) => a + e, 0) * (1 + MARGIN)
  const rho = parts.rho
  if (!(rho >= 0) || !Number.isFinite(rho)) throw invalid('rho', 'a finite number at least 0', rho)
  const a = pure + (rho > 0 ? zcdpToEpsilon(rho, delta) : 0)
  const asZcdp = rho + parts.pureEpsilons.reduce((acc, e) => acc + (e * e) / 2, 0) * (1 + MARGIN)
  const b = asZcdp > 0 ? zcdpToEpsilon(asZcdp, delta) : 0
  return Math.min(a, b)
}

/**
 * Splits a charge of totalMicro micro-units across k aggregates, evenly or in
 * proportion to positive weights, into whole micro-units that add up to
 * exactly totalMicro (largest-remainder rounding: each part is the floor of
 * its exact share, and the micro-units left over go one each to the largest
 * fractional remainders, ties to the earlier aggregate). Each aggregate's
 * mechanism then runs at exactly its part, so the parts, already whole
 * micro-units, can never add up to more than what was charged. A part of 0
 * would be an aggregate without budget, so that is refused.
 */
export function splitMicro(totalMicro: bigint, shares: number | readonly number[]): bigint[] {
  if (totalMicro <= 0n) throw invalid('epsilon', 'greater than 0 to split', microToNumber(totalMicro))
  let weights: Rational[]
  if (typeof shares === 'number') {
    if (!Number.isSafeInteger(shares) || shares < 1) throw invalid('aggregates', 'a positive integer', shares)
    weights = Array.from({ length: shares }, () => Rational.ONE)
  } else {
    if (shares.length === 0) throw invalid('weights', 'a non-empty list', 'an empty list')
    weights = shares.map((w, i) => positive(`weights[${i}]`, w, 'decimal'))
  }
  const k = weights.length
  if (totalMicro < BigInt(k)) {
    throw invalid(
      'epsilon',
      `at least ${k} micro-units (1e-6 each) to give each of the ${k} aggregates a part`,
      microToNumber(totalMicro),
    )
  }
  const sum = weights.reduce((a, w) => a.add(w), Rational.ZERO)
  const exact = weights.map((w) => w.div(sum).mul(Rational.of(totalMicro)))
  const parts = exact.map((x) => x.floor())
  let left = totalMicro - parts.reduce((a, p) => a + p, 0n)
  const order = exact
    .map((x, i) => ({ i, frac: x.sub(Rational.of(parts[i]!)) }))
    .sort((p, q) => q.frac.cmp(p.frac) || p.i - q.i)
  for (const { i } of order) {
    if (left === 0n) break
    parts[i] = parts[i]! + 1n
    left -= 1n
  }
  const zero = parts.findIndex((p) => p === 0n)
  if (zero >= 0) {
    throw invalid(
      `weights[${zero}]`,
      'large enough for a share of at least one micro-unit',
      (shares as readonly number[])[zero],
    )
  }
  return parts
}
