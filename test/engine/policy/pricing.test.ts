/**
 * Pricing (src/engine/policy/pricing.ts): what an answer costs a ledger, in
 * exact budget units (dp/budget.ts), and the refusals when it cannot pay.
 * Laplace answers cost their epsilon. A ledger's first Gaussian answer
 * reserves all of its delta and costs G(rho), G the CKS20 conversion at that
 * delta rounded up to micro-units (dp/zcdp.ts epsilonOfRho); every later one
 * costs the increase of G at the delta reserved, so the charges add up to G of
 * the ledger's total rho. The charges below are pinned as integers, and
 * checked against epsilonOfRho at the delta that must be used and not at
 * the one that must not.
 */
import t from 'tap'

import { VeilboxError } from '../../../src/errors/index.js'
import { parse, type Delta, type Epsilon, type Rho } from '../../../src/engine/dp/budget.js'
import { epsilonOfRho } from '../../../src/engine/dp/zcdp.js'
import {
  belowSpent,
  budgetTotals,
  budgetView,
  chargeView,
  ledgerOf,
  priceOn,
  remainingAfter,
  type Charge,
  type Ledger,
  type LedgerView,
  type Price,
} from '../../../src/engine/policy/pricing.js'
import type { Ledger as StoredLedger } from '../../../src/store/ledger.js'
import { errorOf } from '../../helpers/errors.js'

const eps = (n: bigint) => n as Epsilon
const del = (n: bigint) => n as Delta
const rho = (n: bigint) => n as Rho

/** 1e-6 and 1e-5 of delta in femto-units; 0.005 of rho in pico-units. */
const D6 = del(1_000_000_000n)
const D5 = del(10_000_000_000n)
const R5 = rho(5_000_000_000n)

function ledger(over: Partial<Ledger> = {}): Ledger {
  return {
    epsilonTotal: eps(1_000_000n),
    epsilonSpent: eps(0n),
    deltaTotal: del(0n),
    deltaSpent: del(0n),
    rhoSpent: rho(0n),
    ...over,
  }
}

const grantView = (l: Ledger): LedgerView => ({ scope: 'grant', id: 'g-1', ledger: l })
const datasetView = (l: Ledger): LedgerView => ({ scope: 'dataset', id: 'households', ledger: l })

const laplace = (epsilon: number): Price => ({
  mechanism: 'laplace',
  epsilon: parse('epsilon', epsilon, 'up'),
  rho: rho(0n),
})
/** A Gaussian query asked for at epsilon 0.5 that spends rho `r` (the planner's rho, not this epsilon, is priced). */
const gaussian = (r: Rho): Price => ({ mechanism: 'gaussian', epsilon: parse('epsilon', 0.5, 'up'), rho: r })

/** The ledger after paying `c`, as the store applies a charge. */
function paid(l: Ledger, c: Charge): Ledger {
  return {
    ...l,
    epsilonSpent: eps(l.epsilonSpent + c.epsilon),
    deltaSpent: del(l.deltaSpent + c.delta),
    rhoSpent: rho(l.rhoSpent + c.rho),
  }
}

t.test('the amounts the tests below are written in', async (t) => {
  t.equal(parse('epsilon', 0.1, 'up'), 100_000n)
  t.equal(parse('delta', 1e-6, 'up'), D6)
  t.equal(parse('delta', 1e-5, 'up'), D5)
  t.equal(parse('rho', 0.005, 'up'), R5)
  // G at the two deltas: pinned, and different, so a charge at the wrong delta shows.
  t.equal(epsilonOfRho(R5, D6), 429_942n)
  t.equal(epsilonOfRho(rho(2n * R5), D6), 621_693n)
  t.equal(epsilonOfRho(rho(3n * R5), D6), 771_735n)
  t.equal(epsilonOfRho(R5, D5), 375_262n)
  t.equal(epsilonOfRho(rho(2n * R5), D5), 545_726n)
})

t.test('laplace: the charge is the query epsilon, no delta, no rho', async (t) => {
  const l = ledger({ epsilonSpent: eps(900_000n), rhoSpent: rho(7n) })
  t.strictSame(priceOn(grantView(l), laplace(0.1)), {
    epsilon: 100_000n,
    delta: 0n,
    rho: 0n,
    rhoBefore: 7n,
  })
  // 0.1 + 0.2 is 0.30000000000000004 as a double: read as a decimal and rounded up, one unit more than 0.3.
  t.equal(priceOn(grantView(ledger()), laplace(0.1 + 0.2)).epsilon, 300_001n)
  t.equal(priceOn(grantView(ledger()), laplace(0.3)).epsilon, 300_000n)
})

t.test('laplace: an answer that would pass the epsilon total is refused with the amounts', async (t) => {
  // Exactly the total fits; one unit more does not.
  t.equal(priceOn(grantView(ledger({ epsilonSpent: eps(900_000n) })), laplace(0.1)).epsilon, 100_000n)
  const l = ledger({ epsilonSpent: eps(900_001n) })
  const e = errorOf(() => priceOn(grantView(l), laplace(0.1)))
  t.equal(e.code, 'VEILBOX_ERR_BUDGET_EXHAUSTED')
  t.equal(e.status, 403)
  t.strictSame(e.extra, {
    scope: 'grant',
    grant: 'g-1',
    requested: { epsilon: 0.1, delta: 0 },
    spent: { epsilon: 0.900001, delta: 0 },
    total: { epsilon: 1, delta: 0 },
    remaining: { epsilon: 0.099999, delta: 0 },
  })
  t.equal(
    e.detail,
    'the query costs epsilon 0.1, but the grant g-1 has only epsilon 0.099999 and delta 0 left; ask for less or for a larger budget',
  )

  // A dataset's ledger names itself under its own key.
  const d = errorOf(() => priceOn(datasetView(l), laplace(0.1)))
  t.equal(d.code, 'VEILBOX_ERR_BUDGET_EXHAUSTED')
  t.equal(d.extra.scope, 'dataset')
  t.equal(d.extra.dataset, 'households')
  t.notOk('grant' in d.extra)
})

t.test('gaussian: the first answer reserves the whole delta and costs G(rho)', async (t) => {
  const l = ledger({ deltaTotal: D6 })
  const c = priceOn(grantView(l), gaussian(R5))
  t.strictSame(c, { epsilon: 429_942n, delta: D6, rho: R5, rhoBefore: 0n })
  t.not(c.epsilon, gaussian(R5).epsilon, 'the rho is priced, not the epsilon the query was asked at')

  // What is left of the delta is reserved, whatever the total.
  const wider = priceOn(grantView(ledger({ deltaTotal: D5 })), gaussian(R5))
  t.strictSame(wider, { epsilon: 375_262n, delta: D5, rho: R5, rhoBefore: 0n })
})

t.test('gaussian: later answers charge the increase of G at the reserved delta, and no delta', async (t) => {
  let l = ledger({ deltaTotal: D6 })
  const charges: Charge[] = []
  for (let i = 0; i < 3; i++) {
    const c = priceOn(grantView(l), gaussian(R5))
    charges.push(c)
    l = paid(l, c)
  }
  t.strictSame(charges, [
    { epsilon: 429_942n, delta: D6, rho: R5, rhoBefore: 0n },
    { epsilon: 621_693n - 429_942n, delta: 0n, rho: R5, rhoBefore: R5 },
    { epsilon: 771_735n - 621_693n, delta: 0n, rho: R5, rhoBefore: 2n * R5 },
  ])
  // The charges add up to G of the total rho: three answers cost less than three first answers.
  t.equal(l.epsilonSpent, epsilonOfRho(rho(3n * R5), D6))
  t.ok(l.epsilonSpent < 3n * 429_942n)
  t.equal(l.deltaSpent, D6, 'the delta is reserved once')

  // The reserved delta is what was spent, not the total: an operator who raised the
  // total afterwards does not change the price of the ledger's later answers.
  const raised = ledger({ epsilonSpent: eps(429_942n), deltaTotal: D5, deltaSpent: D6, rhoSpent: R5 })
  t.strictSame(priceOn(grantView(raised), gaussian(R5)), {
    epsilon: 191_751n,
    delta: 0n,
    rho: R5,
    rhoBefore: R5,
  })
})

t.test('gaussian: an answer that would pass the epsilon total is refused with the amounts', async (t) => {
  // The first answer costs 0.429942 and its delta: over a total of 0.4.
  const first = ledger({ epsilonTotal: eps(400_000n), deltaTotal: D6 })
  const e = errorOf(() => priceOn(grantView(first), gaussian(R5)))
  t.equal(e.code, 'VEILBOX_ERR_BUDGET_EXHAUSTED')
  t.equal(e.status, 403)
  t.strictSame(e.extra, {
    scope: 'grant',
    grant: 'g-1',
    requested: { epsilon: 0.429942, delta: 0.000001 },
    spent: { epsilon: 0, delta: 0 },
    total: { epsilon: 0.4, delta: 0.000001 },
    remaining: { epsilon: 0.4, delta: 0.000001 },
  })
  t.equal(
    e.detail,
    'the query costs epsilon 0.429942 and delta 0.000001, but the grant g-1 has only epsilon 0.4 and delta 0.000001 left; ask for less or for a larger budget',
  )

  // A later one: 0.191751 more, with 0.070058 left of 0.5.
  const later = ledger({
    epsilonTotal: eps(500_000n),
    epsilonSpent: eps(429_942n),
    deltaTotal: D6,
    deltaSpent: D6,
    rhoSpent: R5,
  })
  const f = errorOf(() => priceOn(datasetView(later), gaussian(R5)))
  t.equal(f.code, 'VEILBOX_ERR_BUDGET_EXHAUSTED')
  t.strictSame(f.extra, {
    scope: 'dataset',
    dataset: 'households',
    requested: { epsilon: 0.191751, delta: 0 },
    spent: { epsilon: 0.429942, delta: 0.000001 },
    total: { epsilon: 0.5, delta: 0.000001 },
    remaining: { epsilon: 0.070058, delta: 0 },
  })

  // Exactly the total fits.
  const exact = ledger({ epsilonTotal: eps(429_942n), deltaTotal: D6 })
  t.equal(priceOn(grantView(exact), gaussian(R5)).epsilon, 429_942n)
})

t.test('gaussian: a ledger without delta left refuses it and names the budget', async (t) => {
  for (const l of [ledger(), ledger({ deltaTotal: D6, deltaSpent: D6 })]) {
    const e = errorOf(() => priceOn(datasetView(l), gaussian(R5)))
    t.equal(e.code, 'VEILBOX_ERR_BUDGET_EXHAUSTED')
    t.equal(e.status, 403)
    const delta = l.deltaTotal === 0n ? 0 : 0.000001
    t.strictSame(e.extra, {
      scope: 'dataset',
      dataset: 'households',
      requested: { rho: 0.005 },
      epsilon: { total: 1, spent: 0, remaining: 1 },
      delta: { total: delta, spent: delta, remaining: 0 },
      rho: { spent: 0 },
    })
    t.equal(
      e.detail,
      'the dataset households has no delta budget, which the gaussian mechanism needs; use the laplace mechanism or ask an operator for a delta',
    )
  }
  // The Laplace mechanism needs no delta.
  t.equal(priceOn(datasetView(ledger()), laplace(0.1)).epsilon, 100_000n)
})

const STORED: StoredLedger = {
  epsilonTotal: 1_000_000n,
  epsilonSpent: 300_000n,
  deltaTotal: 10_000_000_000n,
  deltaSpent: 1_000_000_000n,
  rhoSpent: 5_000_000_000n,
}

t.test('ledgerOf: the stored integers, field for field, refusing a negative one', async (t) => {
  const distinct: StoredLedger = { epsilonTotal: 1n, epsilonSpent: 2n, deltaTotal: 3n, deltaSpent: 4n, rhoSpent: 5n }
  t.strictSame(ledgerOf(distinct), distinct)
  const e = errorOf(() => ledgerOf({ ...distinct, rhoSpent: -1n }))
  t.equal(e.code, 'VEILBOX_ERR_DP_INVALID_PARAMETER')
  t.strictSame(e.extra, { parameter: 'rho units' })
})

t.test('budgetView: totals, spent and remaining for people', async (t) => {
  t.strictSame(budgetView(STORED), {
    epsilon: { total: 1, spent: 0.3, remaining: 0.7 },
    delta: { total: 0.00001, spent: 0.000001, remaining: 0.000009 },
    rho: { spent: 0.005 },
  })
  // Never a negative remainder.
  t.strictSame(budgetView({ ...STORED, epsilonSpent: 1_200_000n }).epsilon, { total: 1, spent: 1.2, remaining: 0 })
})

t.test('remainingAfter: what a charge would leave, never below zero', async (t) => {
  const l = ledgerOf(STORED)
  t.strictSame(remainingAfter(l, null), { epsilon: 0.7, delta: 0.000009 })
  const c: Charge = { epsilon: eps(200_000n), delta: D6, rho: R5, rhoBefore: R5 }
  t.strictSame(remainingAfter(l, c), { epsilon: 0.5, delta: 0.000008 })
  const big: Charge = { epsilon: eps(800_000n), delta: D5, rho: R5, rhoBefore: R5 }
  t.strictSame(remainingAfter(l, big), { epsilon: 0, delta: 0 })
})

t.test('chargeView: a charge for people; none is zero', async (t) => {
  t.strictSame(chargeView(null), { epsilon: 0, delta: 0 })
  t.strictSame(chargeView({ epsilon: eps(429_942n), delta: D6, rho: R5, rhoBefore: rho(0n) }), {
    epsilon: 0.429942,
    delta: 0.000001,
  })
})

t.test('budgetTotals: the operator’s numbers read as decimals and rounded down', async (t) => {
  t.strictSame(budgetTotals(1, 0.000001), { epsilon: 1_000_000n, delta: D6 })
  t.strictSame(budgetTotals(0, 0), { epsilon: 0n, delta: 0n }, 'zero is a total')
  // Rounded down: up would give 2 units each, and 333334.
  t.strictSame(budgetTotals(0.0000019, 1.9e-15), { epsilon: 1n, delta: 1n })
  t.equal(budgetTotals(1 / 3, 0).epsilon, 333_333n)
  // Below one unit is nothing.
  t.strictSame(budgetTotals(0.0000009, 9e-16), { epsilon: 0n, delta: 0n })
  // 0.1 is read as the decimal it prints as: exactly 100000 units.
  t.equal(budgetTotals(0.1, 0).epsilon, 100_000n)

  const e = errorOf(() => budgetTotals(-1, 0))
  t.equal(e.code, 'VEILBOX_ERR_DP_INVALID_PARAMETER')
  t.strictSame(e.extra, { parameter: 'epsilon' })
  t.strictSame(errorOf(() => budgetTotals(1, Number.NaN)).extra, { parameter: 'delta' })
})

t.test('belowSpent: the refusal names the dataset and what it has spent', async (t) => {
  const e = belowSpent('households', ledgerOf(STORED))
  t.type(e, VeilboxError)
  t.equal(e.code, 'VEILBOX_ERR_BUDGET_BELOW_SPENT')
  t.equal(e.status, 409)
  t.strictSame(e.extra, { dataset: 'households', spent: { epsilon: 0.3, delta: 0.000001 } })
  t.equal(
    e.detail,
    'the new total is below what dataset "households" has already spent; set a total of at least the spent amount',
  )
})
