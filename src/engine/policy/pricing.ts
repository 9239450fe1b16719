import { VeilboxError } from '../../errors/index.js'
import type { Ledger as StoredLedger } from '../../store/ledger.js'
import {
  add,
  minus,
  parse,
  toNumber,
  units,
  ZERO_DELTA,
  ZERO_EPSILON,
  type Delta,
  type Epsilon,
  type Rho,
} from '../dp/budget.js'
import { epsilonOfRho } from '../dp/zcdp.js'

/**
 * What a fresh answer costs each ledger (the grant's and the dataset's), in
 * exact budget units (dp/budget.ts).
 *
 * Laplace answers are pure epsilon-DP: the charge is the query's epsilon;
 * with partition selection, (epsilon, delta)-DP, and the delta is charged too.
 *
 * Gaussian answers compose in zCDP. A ledger keeps the total rho of its
 * Gaussian answers; its Gaussian epsilon is G(rho) = eps_CKS20(rho, delta_L)
 * rounded up (dp/zcdp.ts), where delta_L is the ledger's delta, reserved
 * whole by its first Gaussian answer. Each answer is charged the increase
 * G(rho + rho_q) - G(rho), so the charges add up exactly to G(total rho):
 * many Gaussian answers together cost what their composed rho costs, which
 * grows like sqrt(rho) rather than linearly. The ledger's epsilon spent is
 * then the sum of its pure epsilons plus G(total rho), a valid (epsilon,
 * delta) bound by basic composition of the two parts.
 */

/** A privacy ledger (a grant's, a dataset's budget) in budget units. */
export interface Ledger {
  readonly epsilonTotal: Epsilon
  readonly epsilonSpent: Epsilon
  readonly deltaTotal: Delta
  readonly deltaSpent: Delta
  readonly rhoSpent: Rho
}

/** What one answer takes from one ledger; `rhoBefore` is the rho it was priced against (the store's guard). */
export interface Charge {
  readonly epsilon: Epsilon
  readonly delta: Delta
  readonly rho: Rho
  readonly rhoBefore: Rho
}

/** A query's price before it meets a ledger: its epsilon (Laplace) or its rho (Gaussian). */
export interface Price {
  readonly mechanism: 'laplace' | 'gaussian'
  readonly epsilon: Epsilon
  readonly rho: Rho
  /** Laplace: partition selection's delta, charged beside the epsilon (absent or 0 without one). */
  readonly delta?: Delta
}

export interface LedgerView {
  readonly scope: 'grant' | 'dataset'
  readonly id: string
  readonly ledger: Ledger
}

/** A ledger as the store keeps it (integers), in budget units. */
export function ledgerOf(stored: StoredLedger): Ledger {
  return {
    epsilonTotal: units('epsilon', stored.epsilonTotal),
    epsilonSpent: units('epsilon', stored.epsilonSpent),
    deltaTotal: units('delta', stored.deltaTotal),
    deltaSpent: units('delta', stored.deltaSpent),
    rhoSpent: units('rho', stored.rhoSpent),
  }
}

/** A budget's totals (a dataset's, a grant's) from the operator's numbers: rounded down, never overstated. */
export function budgetTotals(epsilon: number, delta: number): { epsilon: Epsilon; delta: Delta } {
  return {
    epsilon: parse('epsilon', epsilon, 'down', { zero: true }),
    delta: parse('delta', delta, 'down', { zero: true }),
  }
}

/** A ledger for people: totals, spent and remaining as numbers. */
export function budgetView(stored: StoredLedger) {
  const l = ledgerOf(stored)
  const eps = {
    total: toNumber('epsilon', l.epsilonTotal),
    spent: toNumber('epsilon', l.epsilonSpent),
    remaining: toNumber('epsilon', minus(l.epsilonTotal, l.epsilonSpent)),
  }
  const delta = {
    total: toNumber('delta', l.deltaTotal),
    spent: toNumber('delta', l.deltaSpent),
    remaining: toNumber('delta', minus(l.deltaTotal, l.deltaSpent)),
  }
  return { epsilon: eps, delta, rho: { spent: toNumber('rho', l.rhoSpent) } }
}

/** What is left on a ledger after an optional charge, for people. */
export function remainingAfter(l: Ledger, c: Charge | null): { epsilon: number; delta: number } {
  return {
    epsilon: toNumber('epsilon', minus(l.epsilonTotal, add(l.epsilonSpent, c?.epsilon ?? ZERO_EPSILON))),
    delta: toNumber('delta', minus(l.deltaTotal, add(l.deltaSpent, c?.delta ?? ZERO_DELTA))),
  }
}

/** A charge for people. */
export function chargeView(c: Charge | null): { epsilon: number; delta: number } {
  return c === null
    ? { epsilon: 0, delta: 0 }
    : { epsilon: toNumber('epsilon', c.epsilon), delta: toNumber('delta', c.delta) }
}

/** The charge on one ledger, or the BUDGET error that says why it cannot pay. */
/**
 * A price under group privacy over k units: an answer that is epsilon-DP (or
 * rho-zCDP) for one unit is k epsilon-DP (k^2 rho-zCDP) for a change that
 * touches k of them. A foreign-key join charges its referencing dataset so
 * (k = 2: a unit of it changes one joined unit, which is two steps). Only
 * pure epsilon and rho scale so simply: a price with delta is refused.
 */
export function groupPrice(price: Price, k: number): Price {
  if (!Number.isInteger(k) || k < 1) throw new Error(`group size must be a positive integer, got ${k}`)
  if (price.delta !== undefined && price.delta !== 0n)
    throw new Error('a price with a partition selection delta has no group-privacy price here')
  const n = BigInt(k)
  return { ...price, epsilon: (price.epsilon * n) as Epsilon, rho: (price.rho * n * n) as Rho }
}

export function priceOn(view: LedgerView, price: Price): Charge {
  const l = view.ledger
  let charge: Charge
  if (price.mechanism === 'laplace') {
    charge = { epsilon: price.epsilon, delta: price.delta ?? ZERO_DELTA, rho: 0n as Rho, rhoBefore: l.rhoSpent }
  } else {
    const reserved = l.rhoSpent > 0n ? l.deltaSpent : minus(l.deltaTotal, l.deltaSpent)
    if (reserved <= 0n) {
      throw new VeilboxError(
        'VEILBOX_ERR_BUDGET_EXHAUSTED',
        `the ${view.scope} ${view.id} has no delta budget, which the gaussian mechanism needs; use the laplace mechanism or ask an operator for a delta`,
        {
          scope: view.scope,
          [view.scope]: view.id,
          requested: { rho: toNumber('rho', price.rho) },
          ...budgetView(l),
        },
      )
    }
    const before = epsilonOfRho(l.rhoSpent, reserved)
    const after = epsilonOfRho(add(l.rhoSpent, price.rho), reserved)
    charge = {
      epsilon: minus(after, before),
      delta: l.rhoSpent > 0n ? ZERO_DELTA : reserved,
      rho: price.rho,
      rhoBefore: l.rhoSpent,
    }
  }
  if (add(l.epsilonSpent, charge.epsilon) > l.epsilonTotal || add(l.deltaSpent, charge.delta) > l.deltaTotal) {
    throw exhausted(view, charge)
  }
  return charge
}

export function exhausted(view: LedgerView, charge: Charge): VeilboxError {
  const l = view.ledger
  const b = budgetView(l)
  const asked = chargeView(charge)
  return new VeilboxError(
    'VEILBOX_ERR_BUDGET_EXHAUSTED',
    `the query costs epsilon ${asked.epsilon}${charge.delta > 0n ? ` and delta ${asked.delta}` : ''}, but the ${view.scope} ${view.id} has only epsilon ${b.epsilon.remaining} and delta ${b.delta.remaining} left; ask for less or for a larger budget`,
    {
      scope: view.scope,
      [view.scope]: view.id,
      requested: asked,
      spent: { epsilon: b.epsilon.spent, delta: b.delta.spent },
      total: { epsilon: b.epsilon.total, delta: b.delta.total },
      remaining: { epsilon: b.epsilon.remaining, delta: b.delta.remaining },
    },
  )
}

/** The refusal of a budget total below what the dataset has already spent. */
export function belowSpent(dataset: string, current: Ledger): VeilboxError {
  return new VeilboxError(
    'VEILBOX_ERR_BUDGET_BELOW_SPENT',
    `the new total is below what dataset "${dataset}" has already spent; set a total of at least the spent amount`,
    {
      dataset,
      spent: { epsilon: toNumber('epsilon', current.epsilonSpent), delta: toNumber('delta', current.deltaSpent) },
    },
  )
}
