/**
 * Exact privacy amounts (src/engine/dp/budget.ts): requests' numbers read as
 * the decimals they print as, charges rounded up, totals rounded down, and
 * ledgers that add and compare whole units, as policy/pricing.ts does.
 */
import t from 'tap'

import {
  add,
  fromDouble,
  minus,
  parse,
  SCALE,
  split,
  toNumber,
  toRational,
  toText,
  total,
  units,
  ZERO_DELTA,
  ZERO_EPSILON,
  type Epsilon,
  type Rho,
} from '../../../src/engine/dp/budget.js'
import { makeLaplace } from '../../../src/engine/dp/laplace.js'
import { Rational } from '../../../src/engine/dp/rational.js'
import { priceOn, type Ledger } from '../../../src/engine/policy/pricing.js'
import { errorOf } from '../../helpers/errors.js'

const eps = (n: bigint): Epsilon => n as Epsilon

/** A ledger of epsilon as pricing keeps one: a total and what was spent, in units. */
class EpsilonLedger {
  spent: Epsilon
  constructor(
    readonly total: Epsilon,
    spent: Epsilon = ZERO_EPSILON,
  ) {
    this.spent = spent
  }
  /** Charges the amount (rounded up) if it fits, as pricing does: spent + charge <= total. */
  charge(amount: number): boolean {
    const c = parse('epsilon', amount, 'up')
    if (add(this.spent, c) > this.total) return false
    this.spent = add(this.spent, c)
    return true
  }
  get remaining(): Epsilon {
    return minus(this.total, this.spent)
  }
}

t.test('the scales: micro-units of epsilon, femto of delta, pico of rho', async (t) => {
  t.equal(SCALE.epsilon, 1_000_000n)
  t.equal(SCALE.delta, 1_000_000_000_000_000n)
  t.equal(SCALE.rho, 1_000_000_000_000n)
  t.ok(toRational('epsilon', 1n).eq(Rational.of(1n, 1_000_000n)))
  t.ok(toRational('delta', 1n).eq(Rational.of(1n, 1_000_000_000_000_000n)))
  t.ok(toRational('rho', 1n).eq(Rational.of(1n, 1_000_000_000_000n)))
})

t.test('amounts become units rounded up for a charge, read as decimals', async (t) => {
  const up = (x: number | Rational): bigint => parse('epsilon', x, 'up')
  t.equal(up(0.1), 100_000n, '0.1 is exactly 100000, not 100001 (its binary value is above 1/10)')
  t.equal(up(1), 1_000_000n)
  t.equal(up(0.3), 300_000n)
  t.equal(up(0.1 + 0.2), 300_001n, '0.30000000000000004 rounds up')
  t.equal(up(0.1234567), 123_457n)
  t.equal(up(1e-7), 1n, 'anything positive costs at least one micro-unit')
  t.equal(up(2.5e-6), 3n)
  t.equal(up(Rational.of(1n, 3n)), 333_334n)
  t.equal(up(Rational.of(1n, 10n)), 100_000n)
  t.equal(parse('rho', 0.005, 'up'), 5_000_000_000n)
  t.equal(parse('delta', 1e-6, 'up'), 1_000_000_000n)
  t.equal(errorOf(() => up(NaN)).detail, 'epsilon must be a finite number greater than 0, got NaN')
  t.equal(errorOf(() => parse('rho', -0.1, 'up')).detail, 'rho must be a finite number greater than 0, got -0.1')
  t.equal(errorOf(() => up(Infinity)).detail, 'epsilon must be a finite number greater than 0, got Infinity')
  t.equal(
    errorOf(() => up(0)).detail,
    'epsilon must be a finite number greater than 0, got 0',
    'a charge of 0 is refused',
  )
  t.equal(
    errorOf(() => parse('epsilon', 0, 'up', { name: 'grant epsilon' })).detail,
    'grant epsilon must be a finite number greater than 0, got 0',
    'the name goes into the message',
  )
  t.equal(
    errorOf(() => parse('epsilon', '0.1' as never, 'up')).detail,
    'epsilon must be a finite number greater than 0, got "0.1"',
  )
  t.equal(errorOf(() => up(-1)).code, 'VEILBOX_ERR_DP_INVALID_PARAMETER')
})

t.test('totals round down, charges up, exactly from the decimal', async (t) => {
  t.equal(parse('epsilon', 1.0000001, 'down'), 1_000_000n)
  t.equal(parse('epsilon', 1.0000001, 'up'), 1_000_001n)
  t.equal(parse('epsilon', 0, 'down', { zero: true }), 0n, 'a total may be 0 when allowed')
  t.equal(parse('delta', 0, 'down', { zero: true }), 0n)
  t.equal(parse('epsilon', Rational.ZERO, 'down', { zero: true }), 0n)
  t.equal(parse('epsilon', 0.1, 'down'), 100_000n)
  t.equal(parse('epsilon', Rational.of(1n, 3n), 'down'), 333_333n)
  t.equal(parse('delta', 1e-9, 'up'), 1_000_000n, '1e-9 of delta is exactly 1,000,000 femto-units')
  t.equal(parse('delta', 1e-9, 'down'), 1_000_000n)
  t.equal(parse('delta', 0.9999999999999999, 'down'), 999_999_999_999_999n)
  t.equal(parse('delta', 0.9999999999999999, 'up'), 1_000_000_000_000_000n)
  t.equal(parse('delta', 1e-16, 'down'), 0n)
  t.equal(parse('delta', 1e-16, 'up'), 1n)
  t.equal(parse('rho', 1e-13, 'down'), 0n)
  t.equal(parse('rho', 1e-13, 'up'), 1n)
  t.throws(() => parse('delta', -1e-9, 'up'), { code: 'VEILBOX_ERR_DP_INVALID_PARAMETER' })
  t.throws(() => parse('delta', -1e-9, 'down', { zero: true }), { code: 'VEILBOX_ERR_DP_INVALID_PARAMETER' })
})

t.test('a double computed in floating point enters at its exact binary value, rounded as asked', async (t) => {
  // The double nearest 1e-9 is a little above 1e-9: unlike parse, fromDouble does not read it as a decimal.
  t.equal(fromDouble('delta', 1e-9, 'up'), 1_000_001n)
  t.equal(fromDouble('delta', 1e-9, 'down'), 1_000_000n)
  t.equal(fromDouble('epsilon', 0.1, 'up'), 100_001n)
  t.equal(fromDouble('epsilon', 0.1, 'down'), 100_000n)
  t.equal(fromDouble('epsilon', 0.5, 'up'), 500_000n, 'an exact double is not moved')
  t.equal(fromDouble('rho', 0, 'down'), 0n)
  t.equal(errorOf(() => fromDouble('epsilon', -1, 'up')).detail, 'epsilon must be a finite number at least 0, got -1')
  t.equal(errorOf(() => fromDouble('rho', NaN, 'up')).detail, 'rho must be a finite number at least 0, got NaN')
  t.equal(
    errorOf(() => fromDouble('epsilon', Infinity, 'down')).detail,
    'epsilon must be a finite number at least 0, got Infinity',
  )
})

t.test('units from a ledger column, and the conversions back for people', async (t) => {
  t.equal(units('epsilon', 5), 5n)
  t.equal(units('delta', 7n), 7n)
  t.equal(units('rho', 0), 0n)
  t.equal(errorOf(() => units('epsilon', -1)).detail, 'epsilon units must be a whole number at least 0, got -1')
  t.equal(errorOf(() => units('epsilon', 1.5)).detail, 'epsilon units must be a whole number at least 0, got 1.5')
  t.equal(errorOf(() => units('rho', -1n)).code, 'VEILBOX_ERR_DP_INVALID_PARAMETER')
  t.equal(
    errorOf(() => units('epsilon', 2 ** 53)).detail,
    `epsilon units must be a whole number at least 0, got ${2 ** 53}`,
    'a number past 2^53 may not be the integer it claims',
  )
  t.equal(toNumber('epsilon', 100_000n), 0.1, 'the double nearest the exact decimal')
  t.equal(toNumber('epsilon', 300_000n), 0.3, 'not 0.1 + 0.2')
  t.equal(toNumber('delta', 1_000_000n), 1e-9)
  t.equal(toNumber('rho', 1n), 1e-12)
  t.equal(toNumber('epsilon', 0n), 0)
  t.equal(toText('epsilon', 100_000n), '0.1')
  t.equal(toText('delta', 1_000_000n), '1e-9')
  t.equal(toText('epsilon', 2_500_000n), '2.5')
})

t.test('add, minus (never below zero) and total', async (t) => {
  t.equal(add(eps(1n), eps(2n)), 3n)
  t.equal(minus(eps(5n), eps(2n)), 3n)
  t.equal(minus(eps(2n), eps(5n)), 0n, 'never negative')
  t.equal(minus(ZERO_DELTA, ZERO_DELTA), 0n)
  t.equal(total([eps(1n), eps(2n), eps(3n)]), 6n)
  t.equal(total<Epsilon>([]), 0n)
  const tenths = Array.from({ length: 10 }, () => parse('epsilon', 0.1, 'up'))
  t.equal(total(tenths), parse('epsilon', 1, 'down'), 'ten charges of 0.1 add up to exactly 1.0')
})

t.test('ten charges of 0.1 exhaust 1.0 exactly, and an eleventh is refused', async (t) => {
  const budget = new EpsilonLedger(parse('epsilon', 1.0, 'down'))
  for (let i = 0; i < 10; i++) t.ok(budget.charge(0.1), `charge ${i + 1} fits`)
  t.equal(budget.spent, 1_000_000n)
  t.equal(budget.remaining, 0n)
  t.notOk(budget.charge(0.1), 'an eleventh is refused')
  t.equal(budget.spent, 1_000_000n, 'a refused charge changes nothing')
  t.notOk(budget.charge(1e-9), 'not even a dust charge (it costs one unit)')
  t.equal(toNumber('epsilon', budget.spent), 1)
})

t.test('the same through pricing: the eleventh charge is a BUDGET_EXHAUSTED error', async (t) => {
  let ledger: Ledger = {
    epsilonTotal: parse('epsilon', 1.0, 'down'),
    epsilonSpent: ZERO_EPSILON,
    deltaTotal: ZERO_DELTA,
    deltaSpent: ZERO_DELTA,
    rhoSpent: 0n as Rho,
  }
  const price = { mechanism: 'laplace' as const, epsilon: parse('epsilon', 0.1, 'up'), rho: 0n as Rho }
  for (let i = 0; i < 10; i++) {
    const charge = priceOn({ scope: 'grant', id: 'g', ledger }, price)
    t.equal(charge.epsilon, 100_000n)
    ledger = { ...ledger, epsilonSpent: add(ledger.epsilonSpent, charge.epsilon) }
  }
  t.equal(ledger.epsilonSpent, ledger.epsilonTotal)
  const err = errorOf(() => priceOn({ scope: 'grant', id: 'g', ledger }, price))
  t.equal(err.code, 'VEILBOX_ERR_BUDGET_EXHAUSTED')
  t.equal(err.status, 403)
  t.same(err.extra.remaining, { epsilon: 0, delta: 0 })
  t.same(err.extra.requested, { epsilon: 0.1, delta: 0 })
  const dust = { ...price, epsilon: parse('epsilon', 1e-9, 'up') }
  t.equal(errorOf(() => priceOn({ scope: 'grant', id: 'g', ledger }, dust)).code, 'VEILBOX_ERR_BUDGET_EXHAUSTED')
})

t.test('with 0.9 left, exactly 9 of 20 charges of 0.1 succeed', async (t) => {
  const budget = new EpsilonLedger(parse('epsilon', 1.0, 'down'), eps(100_000n))
  t.equal(toNumber('epsilon', budget.remaining), 0.9)
  let ok = 0
  for (let i = 0; i < 20; i++) if (budget.charge(0.1)) ok++
  t.equal(ok, 9)
  t.equal(budget.spent, 1_000_000n)
})

t.test('what a mechanism spends never exceeds what is charged for it', async (t) => {
  for (const e of [0.1, 0.3, 0.1 + 0.2, 1 / 3, 0.7, 1e-6, 2.5]) {
    const m = makeLaplace({ sensitivity: 1, epsilon: e, integer: true })
    const charged = toRational('epsilon', parse('epsilon', e, 'up'))
    t.ok(m.privacyMap(1).lte(charged), `epsilon ${e}: spends ${m.privacyMap(1)}, charged ${charged}`)
  }
  // And a mechanism calibrated to a charge in units spends exactly that charge.
  const part = parse('epsilon', 1 / 3, 'up')
  const m = makeLaplace({ sensitivity: 1, epsilon: toRational('epsilon', part), integer: true })
  t.ok(m.privacyMap(1).eq(toRational('epsilon', part)))
})

t.test('splitting a charge: whole units that add up exactly', async (t) => {
  t.same(split('epsilon', eps(100_000n), 3), [33_334n, 33_333n, 33_333n])
  t.same(split('epsilon', eps(100_000n), [1, 2, 2]), [20_000n, 40_000n, 40_000n])
  t.same(split('epsilon', eps(7n), [1, 1, 1, 1]), [2n, 2n, 2n, 1n])
  t.same(split('epsilon', eps(5n), [1, 3]), [1n, 4n], 'largest remainders: 1.25 and 3.75')
  t.same(split('rho', 10n as Rho, 4), [3n, 3n, 2n, 2n], 'ties go to the earlier part')
  t.same(split('epsilon', eps(9n), 1), [9n])
  for (let trial = 0; trial < 200; trial++) {
    const k = 1 + (trial % 9)
    const amount = eps(BigInt(k + trial * 977))
    const weights = Array.from({ length: k }, (_, i) => 0.5 + ((i * 7 + trial) % 5))
    const parts = split('epsilon', amount, weights)
    const sum = parts.reduce((a, p) => a + p, 0n)
    if (parts.length !== k || sum !== amount || parts.some((p) => p < 1n))
      t.fail(`split ${amount} by ${weights}: ${parts}`)
    // Each part is its exact share rounded down or up, never further.
    const w = weights.reduce((a, x) => a + x, 0)
    parts.forEach((p, i) => {
      const exact = (Number(amount) * weights[i]!) / w
      if (Number(p) < Math.floor(exact) - 1e-9 || Number(p) > Math.ceil(exact) + 1e-9)
        t.fail(`part ${i} of ${amount} by ${weights}: ${p} vs ${exact}`)
    })
  }
  t.pass('200 random splits add up exactly and give every aggregate a part')
  t.equal(
    errorOf(() => split('epsilon', eps(2n), 3)).detail,
    'epsilon must be at least 3 units (1e-6 each) to give each of the 3 parts one, got 0.000002',
  )
  t.equal(
    errorOf(() => split('epsilon', eps(10n), [1, 1e-9])).detail,
    'weights[1] must be large enough for a share of at least one unit, got 1e-9',
  )
  t.equal(
    errorOf(() => split('epsilon', eps(10n), [1, -1])).detail,
    'weights[1] must be a finite number greater than 0, got -1',
  )
  t.equal(errorOf(() => split('epsilon', eps(0n), 1)).detail, 'epsilon must be greater than 0 to split, got 0')
  t.equal(errorOf(() => split('epsilon', eps(10n), 0)).detail, 'aggregates must be a positive integer, got 0')
  t.equal(errorOf(() => split('epsilon', eps(10n), [])).detail, 'weights must be a non-empty list, got "an empty list"')
})
