import { VeilboxError } from '../../errors/index.js'
import type { Charge, Ledger } from '../../store/ledger.js'
import { toFemto, zcdpToEpsilon } from '../dp/index.js'

/**
 * What a fresh answer costs each ledger (the grant's and the dataset's), in
 * the store's integer units: epsilon in micro-units, delta in femto-units,
 * rho in pico-units.
 *
 * Laplace answers are pure epsilon-DP: the charge is the query's epsilon.
 *
 * Gaussian answers compose in zCDP. A ledger keeps the total rho of its
 * Gaussian answers; its Gaussian epsilon is G(rho) = ceil(eps_CKS20(rho,
 * delta_L) in micro-units), where delta_L is the ledger's delta, reserved
 * whole by its first Gaussian answer. Each answer is charged the increase
 * G(rho + rho_q) - G(rho), so the charges add up exactly to G(total rho):
 * many Gaussian answers together cost what their composed rho costs, which
 * grows like sqrt(rho) rather than linearly. The ledger's epsilon spent is
 * then the sum of its pure epsilons plus G(total rho), a valid (epsilon,
 * delta) bound by basic composition of the two parts.
 */

export const MICRO = 1e6
export const FEMTO = 1e15
export const PICO = 1e12

export interface Price {
  readonly mechanism: 'laplace' | 'gaussian'
  readonly epsilonMicro: number
  readonly rhoPico: number
}

export interface LedgerView {
  readonly scope: 'grant' | 'dataset'
  readonly id: string
  readonly ledger: Ledger
}

/** Femto-units of delta, rounded up (a delta charged is never understated), read exactly from its decimal. */
export function deltaToFemto(delta: number): number {
  return Number(toFemto(delta, 'up'))
}

/** Femto-units of a delta total (a budget, a grant), rounded down: a total is never overstated. */
export function deltaTotalToFemto(delta: number): number {
  return Number(toFemto(delta, 'down'))
}

function gaussianEpsilonMicro(rhoPico: number, deltaFemto: number): number {
  if (rhoPico === 0) return 0
  return Math.ceil(zcdpToEpsilon(rhoPico / PICO, deltaFemto / FEMTO) * MICRO)
}

export function budgetView(l: Ledger) {
  const eps = {
    total: l.epsilonTotal / MICRO,
    spent: l.epsilonSpent / MICRO,
    remaining: (l.epsilonTotal - l.epsilonSpent) / MICRO,
  }
  const delta = {
    total: l.deltaTotal / FEMTO,
    spent: l.deltaSpent / FEMTO,
    remaining: (l.deltaTotal - l.deltaSpent) / FEMTO,
  }
  return { epsilon: eps, delta, rho: { spent: l.rhoSpent / PICO } }
}

/** The charge on one ledger, or the BUDGET error that says why it cannot pay. */
export function priceOn(view: LedgerView, price: Price): Charge {
  const l = view.ledger
  let charge: Charge
  if (price.mechanism === 'laplace') {
    charge = { epsilon: price.epsilonMicro, delta: 0, rho: 0, rhoBefore: l.rhoSpent }
  } else {
    const reserved = l.rhoSpent > 0 ? l.deltaSpent : l.deltaTotal - l.deltaSpent
    if (reserved <= 0) {
      throw new VeilboxError(
        'VEILBOX_ERR_BUDGET_EXHAUSTED',
        `the ${view.scope} ${view.id} has no delta budget, which the gaussian mechanism needs; use the laplace mechanism or ask an operator for a delta`,
        { scope: view.scope, [view.scope]: view.id, requested: { rho: price.rhoPico / PICO }, ...budgetView(l) },
      )
    }
    const before = gaussianEpsilonMicro(l.rhoSpent, reserved)
    const after = gaussianEpsilonMicro(l.rhoSpent + price.rhoPico, reserved)
    charge = {
      epsilon: Math.max(0, after - before),
      delta: l.rhoSpent > 0 ? 0 : reserved,
      rho: price.rhoPico,
      rhoBefore: l.rhoSpent,
    }
  }
  if (l.epsilonSpent + charge.epsilon > l.epsilonTotal || l.deltaSpent + charge.delta > l.deltaTotal) {
    throw exhausted(view, charge)
  }
  return charge
}

export function exhausted(view: LedgerView, charge: Charge): VeilboxError {
  const l = view.ledger
  const b = budgetView(l)
  return new VeilboxError(
    'VEILBOX_ERR_BUDGET_EXHAUSTED',
    `the query costs epsilon ${charge.epsilon / MICRO}${charge.delta > 0 ? ` and delta ${charge.delta / FEMTO}` : ''}, but the ${view.scope} ${view.id} has only epsilon ${b.epsilon.remaining} and delta ${b.delta.remaining} left; ask for less or for a larger budget`,
    {
      scope: view.scope,
      [view.scope]: view.id,
      requested: { epsilon: charge.epsilon / MICRO, delta: charge.delta / FEMTO },
      spent: { epsilon: b.epsilon.spent, delta: b.delta.spent },
      total: { epsilon: b.epsilon.total, delta: b.delta.total },
      remaining: { epsilon: b.epsilon.remaining, delta: b.delta.remaining },
    },
  )
}
