import t from 'tap'

import { VeilboxError } from '../../../src/errors/index.js'
import {
  MicroBudget,
  composeZcdp,
  gaussianRho,
  pureToZcdp,
  splitMicro,
  toMicro,
  totalEpsilon,
  zcdpForEpsilonDelta,
  zcdpToDelta,
  zcdpToEpsilon,
  zcdpToEpsilonSimple,
} from '../../../src/engine/dp/accountant.js'
import { makeLaplace } from '../../../src/engine/dp/laplace.js'
import { Rational } from '../../../src/engine/dp/rational.js'

function errorOf(fn: () => unknown): VeilboxError {
  try {
    fn()
  } catch (e) {
    if (e instanceof VeilboxError) return e
    throw e
  }
  throw new Error('did not throw')
}

t.test('amounts become micro-units rounded up, read as decimals', async (t) => {
  t.equal(toMicro(0.1), 100_000n, '0.1 is exactly 100000, not 100001 (its binary value is above 1/10)')
  t.equal(toMicro(1), 1_000_000n)
  t.equal(toMicro(0.3), 300_000n)
  t.equal(toMicro(0.1 + 0.2), 300_001n, '0.30000000000000004 rounds up')
  t.equal(toMicro(0.1234567), 123_457n)
  t.equal(toMicro(1e-7), 1n, 'anything positive costs at least one micro-unit')
  t.equal(toMicro(2.5e-6), 3n)
  t.equal(toMicro(Rational.of(1n, 3n)), 333_334n)
  t.equal(toMicro(Rational.of(1n, 10n)), 100_000n)
  t.equal(errorOf(() => toMicro(NaN)).detail, 'epsilon must be a finite number greater than 0, got NaN')
  t.equal(errorOf(() => toMicro(-0.1, 'rho')).detail, 'rho must be a finite number greater than 0, got -0.1')
  t.equal(errorOf(() => toMicro(Infinity)).detail, 'epsilon must be a finite number greater than 0, got Infinity')
})

t.test('ten charges of 0.1 exhaust 1.0 exactly, and an eleventh is refused', async (t) => {
  const budget = new MicroBudget(1.0)
  for (let i = 0; i < 10; i++) t.equal(budget.charge(0.1), 100_000n)
  t.equal(budget.spentMicro, 1_000_000n)
  t.equal(budget.remainingMicro, 0n)
  t.notOk(budget.canCharge(0.1))
  const err = errorOf(() => budget.charge(0.1))
  t.equal(err.code, 'VEILBOX_ERR_BUDGET_EXHAUSTED')
  t.equal(err.status, 403)
  t.equal(err.detail, 'this query needs epsilon 0.1 but only 0 of 1 remains')
  t.same(err.extra, { requested: 0.1, spent: 1, total: 1, remaining: 0 })
  t.equal(budget.spentMicro, 1_000_000n, 'a refused charge changes nothing')
  t.equal(errorOf(() => budget.charge(1e-9)).code, 'VEILBOX_ERR_BUDGET_EXHAUSTED', 'not even a dust charge')
})

t.test('with 0.9 left, exactly 9 of 20 charges of 0.1 succeed', async (t) => {
  const budget = new MicroBudget(1.0, 'epsilon', 100_000n)
  let ok = 0
  for (let i = 0; i < 20; i++) {
    try {
      budget.charge(0.1)
      ok++
    } catch (e) {
      if (!(e instanceof VeilboxError)) throw e
    }
  }
  t.equal(ok, 9)
  t.equal(budget.spentMicro, 1_000_000n)
})

t.test('what a mechanism spends never exceeds what is charged for it', async (t) => {
  for (const eps of [0.1, 0.3, 0.1 + 0.2, 1 / 3, 0.7, 1e-6, 2.5]) {
    const m = makeLaplace({ sensitivity: 1, epsilon: eps, integer: true })
    const charged = Rational.of(toMicro(eps), 1_000_000n)
    t.ok(m.privacyMap(1).lte(charged), `epsilon ${eps}: spends ${m.privacyMap(1)}, charged ${charged}`)
  }
})

t.test('zCDP: pure DP conversion, Gaussian rho, composition', async (t) => {
  t.ok(pureToZcdp(0.1).eq(Rational.of(1n, 200n)), '0.1-DP is 0.005-zCDP')
  t.ok(gaussianRho(1, 100).eq(Rational.of(1n, 200n)), 'D = 1, sigma^2 = 100 gives 1/200')
  t.ok(gaussianRho(3, 4.5).eq(Rational.of(1n)))
  t.ok(composeZcdp([0.1, 0.2, Rational.of(1n, 3n)]).eq(Rational.of(19n, 30n)))
})

// Reference values: CKS20 Corollary 13 minimised over alpha at 40 significant
// digits with mpmath (findroot on the derivative after a scan).
const REFERENCE: Array<[number, number, number]> = [
  [0.5, 1e-5, 4.7283869849433139],
  [0.1, 1e-6, 2.1419389283854737],
  [1.0, 1e-9, 9.5214636717922322],
  [0.005, 1e-6, 0.42994146883694928],
  [2.0, 1e-3, 8.4160642943212768],
  [1e-4, 1e-6, 0.053727120634859869],
]

t.test('the CKS20 conversion matches reference values and is never below them', async (t) => {
  for (const [rho, delta, eps] of REFERENCE) {
    const got = zcdpToEpsilon(rho, delta)
    t.ok(got >= eps && got <= eps * (1 + 1e-8), `rho ${rho}, delta ${delta}: ${got} vs ${eps}`)
  }
  const deltas: Array<[number, number, number]> = [
    [0.5, 4.0, 0.0001957954169577216],
    [0.1, 1.0, 0.0089332457718183635],
    [1.0, 10.0, 1.1714172313952304e-10],
  ]
  for (const [rho, eps, delta] of deltas) {
    const got = zcdpToDelta(rho, eps)
    t.ok(got >= delta && got <= delta * (1 + 1e-6), `delta(rho ${rho}, eps ${eps}) = ${got} vs ${delta}`)
  }
})

t.test('the tight conversion beats rho + 2 sqrt(rho ln(1/delta))', async (t) => {
  for (const rho of [1e-4, 0.005, 0.1, 0.5, 1, 5]) {
    for (const delta of [1e-3, 1e-6, 1e-9]) {
      const tight = zcdpToEpsilon(rho, delta)
      const simple = zcdpToEpsilonSimple(rho, delta)
      if (!(tight < simple)) t.fail(`rho ${rho}, delta ${delta}: ${tight} >= ${simple}`)
    }
  }
  t.ok(zcdpToEpsilon(0.5, 1e-5) < zcdpToEpsilonSimple(0.5, 1e-5) - 0.5, '4.73 against 5.30 at rho 0.5, delta 1e-5')
})

t.test('rho for a target (epsilon, delta) converts back within it', async (t) => {
  for (const [eps, delta] of [
    [1, 1e-6],
    [0.1, 1e-5],
    [5, 1e-9],
  ] as const) {
    const rho = zcdpForEpsilonDelta(eps, delta)
    t.ok(zcdpToEpsilon(rho, delta) <= eps, `rho ${rho} -> epsilon <= ${eps}`)
    t.ok(zcdpToEpsilon(rho * (1 + 1e-6), delta) > eps, 'and it is the largest such rho')
  }
  t.equal(errorOf(() => zcdpToEpsilon(0.5, 0)).detail, 'delta must be a finite number strictly between 0 and 1, got 0')
  t.equal(errorOf(() => zcdpToEpsilon(NaN, 1e-6)).detail, 'rho must be a finite number greater than 0, got NaN')
})

t.test('mixed pure and zCDP releases: the smaller of two valid totals', async (t) => {
  const pure = [0.1, 0.1, 0.1]
  const rho = 0.01
  const delta = 1e-6
  const total = totalEpsilon({ pureEpsilons: pure, rho }, delta)
  t.ok(total <= 0.3 * (1 + 1e-6) + zcdpToEpsilon(rho, delta))
  t.ok(total <= zcdpToEpsilon(rho + 3 * 0.005, delta) * (1 + 1e-6))
  // Many small pure releases: zCDP composition wins over adding epsilons.
  const many = Array.from({ length: 400 }, () => 0.01)
  t.ok(totalEpsilon({ pureEpsilons: many, rho: 0 }, 1e-6) < 4 * 0.5)
})

t.test('splitting a charge: whole micro-units that add up exactly', async (t) => {
  t.same(splitMicro(100_000n, 3), [33_334n, 33_333n, 33_333n])
  t.same(splitMicro(100_000n, [1, 2, 2]), [20_000n, 40_000n, 40_000n])
  t.same(splitMicro(7n, [1, 1, 1, 1]), [2n, 2n, 2n, 1n])
  for (let trial = 0; trial < 200; trial++) {
    const k = 1 + (trial % 9)
    const total = BigInt(k + trial * 977)
    const weights = Array.from({ length: k }, (_, i) => 0.5 + ((i * 7 + trial) % 5))
    const parts = splitMicro(total, weights)
    const sum = parts.reduce((a, p) => a + p, 0n)
    if (sum !== total || parts.some((p) => p < 1n)) t.fail(`split ${total} by ${weights}: ${parts}`)
  }
  t.pass('200 random splits add up exactly and give every aggregate a part')
  t.equal(
    errorOf(() => splitMicro(2n, 3)).detail,
    'epsilon must be at least 3 micro-units (1e-6 each) to give each of the 3 aggregates a part, got 0.000002',
  )
  t.equal(
    errorOf(() => splitMicro(10n, [1, 1e-9])).detail,
    'weights[1] must be large enough for a share of at least one micro-unit, got 1e-9',
  )
  t.equal(errorOf(() => splitMicro(10n, [1, -1])).detail, 'weights[1] must be a finite number greater than 0, got -1')
})

t.test('totals in micro- and femto-units round down, charges up, exactly from the decimal', async (t) => {
  const { toMicroTotal, toMicro, toFemto } = await import('../../../src/engine/dp/accountant.js')
  t.equal(toMicroTotal(1.0000001), 1_000_000n)
  t.equal(toMicro(1.0000001), 1_000_001n)
  t.equal(toMicroTotal(0), 0n)
  t.equal(toMicroTotal(0.1), 100_000n)
  t.equal(toFemto(1e-9, 'up'), 1_000_000n)
  t.equal(toFemto(1e-9, 'down'), 1_000_000n)
  t.equal(toFemto(0.9999999999999999, 'down'), 999_999_999_999_999n)
  t.equal(toFemto(0.9999999999999999, 'up'), 1_000_000_000_000_000n)
  t.equal(toFemto(1e-16, 'down'), 0n)
  t.equal(toFemto(1e-16, 'up'), 1n)
  t.throws(() => toFemto(-1e-9, 'up'), { code: 'VEILBOX_ERR_DP_INVALID_PARAMETER' })
})
