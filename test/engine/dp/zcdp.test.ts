import t from 'tap'

import { parse, SCALE, toNumber, toRational, type Delta, type Rho } from '../../../src/engine/dp/budget.js'
import {
  epsilonOfRho,
  gaussianRho,
  rhoForEpsilonDelta,
  zcdpForEpsilonDelta,
  zcdpToDelta,
  zcdpToEpsilon,
  zcdpToEpsilonSimple,
} from '../../../src/engine/dp/zcdp.js'
import { Rational } from '../../../src/engine/dp/rational.js'
import { errorOf } from '../../helpers/errors.js'

t.test('zCDP: the Gaussian mechanism rho', async (t) => {
  t.ok(gaussianRho(1, 100).eq(Rational.of(1n, 200n)), 'D = 1, sigma^2 = 100 gives 1/200')
  t.ok(gaussianRho(3, 4.5).eq(Rational.of(1n)))
  t.ok(gaussianRho(Rational.of(1n, 3n), Rational.of(1n, 18n)).eq(Rational.ONE), 'exact rationals in, exact out')
  t.equal(errorOf(() => gaussianRho(0, 1)).detail, 'sensitivity must be a finite number greater than 0, got 0')
  t.equal(errorOf(() => gaussianRho(1, -1)).detail, 'sigma2 must be a finite number greater than 0, got -1')
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

t.test('epsilonOfRho: the CKS20 epsilon of an exact rho, rounded up to a whole micro-unit', async (t) => {
  t.equal(epsilonOfRho(0n as Rho, parse('delta', 1e-6, 'up')), 0n, 'no rho, no epsilon')
  for (const [rho, delta] of [
    [0.5, 1e-5],
    [0.1, 1e-6],
    [0.005, 1e-6],
    [1e-4, 1e-6],
    [2.0, 1e-3],
  ] as const) {
    const r = parse('rho', rho, 'up')
    const d = parse('delta', delta, 'up')
    const e = epsilonOfRho(r, d)
    const exact = Rational.fromNumber(zcdpToEpsilon(rho, delta))
    t.ok(toRational('epsilon', e).gte(exact), `rho ${rho}, delta ${delta}: ${toNumber('epsilon', e)} >= ${exact}`)
    t.ok(toRational('epsilon', e - 1n).lt(exact), 'and within one micro-unit of it')
  }
  // Monotone in rho: a ledger's charges G(rho + rho_q) - G(rho) are never negative.
  const d = parse('delta', 1e-6, 'up')
  let previous = 0n
  for (let pico = 1n; pico <= SCALE.rho; pico *= 7n) {
    const e = epsilonOfRho(pico as Rho, d)
    if (e < previous) t.fail(`epsilon of ${pico} pico-units of rho, ${e}, is below ${previous}`)
    previous = e
  }
  t.ok(previous > 0n)
  t.equal(
    errorOf(() => epsilonOfRho(parse('rho', 0.1, 'up'), 0n as Delta)).detail,
    'delta must be a finite number strictly between 0 and 1, got 0',
  )
})

t.test('rhoForEpsilonDelta: the largest rho within (epsilon, delta), rounded down to a pico-unit', async (t) => {
  for (const [eps, delta] of [
    [1, 1e-6],
    [0.1, 1e-5],
    [5, 1e-9],
    [0.5, 1e-6],
  ] as const) {
    const e = parse('epsilon', eps, 'up')
    const d = parse('delta', delta, 'up')
    const rho = rhoForEpsilonDelta(e, d)
    const target = zcdpForEpsilonDelta(eps, delta)
    t.ok(toRational('rho', rho).lte(Rational.fromNumber(target)), `rho ${toNumber('rho', rho)} <= ${target}`)
    t.ok(toRational('rho', rho + 1n).gt(Rational.fromNumber(target)), 'rounded down by less than one pico-unit')
    t.ok(zcdpToEpsilon(toNumber('rho', rho), delta) <= eps, 'it converts back within the epsilon asked for')
    t.ok(epsilonOfRho(rho, d) <= e, 'and prices back within it in micro-units')
  }
  t.equal(
    errorOf(() => rhoForEpsilonDelta(parse('epsilon', 1, 'up'), SCALE.delta as Delta)).detail,
    'delta must be a finite number strictly between 0 and 1, got 1',
  )
})
