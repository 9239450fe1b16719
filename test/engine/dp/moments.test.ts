import t from 'tap'

import { makeLaplace } from '../../../src/engine/dp/laplace.js'
import { releaseMean, releaseStddev, releaseVariance } from '../../../src/engine/dp/moments.js'
import { quantize, quantumFor, squareUnits } from '../../../src/engine/exec/quantum.js'
import { sumSensitivity, sumSquaresSensitivity } from '../../../src/engine/dp/sensitivity.js'
import { Z_LIMIT } from './stats.js'

// 400 values in [0, 100] (clamped), known exact moments.
const LOWER = 0
const UPPER = 100
const VALUES = Array.from({ length: 400 }, (_, i) => (i * 37) % 101)
const Q = quantumFor(LOWER, UPPER)
const qs = VALUES.map((x) => quantize(x, LOWER, UPPER, Q))
const SUM = { units: qs.reduce((a, q) => a + BigInt(q), 0n), exp: Q.exp }
const SUMSQ = { units: qs.reduce((a, q) => a + BigInt(squareUnits(q)), 0n), exp: 2 * Q.exp + 31 }
const N = VALUES.length
const MEAN = VALUES.reduce((a, x) => a + x, 0) / N
const VAR = VALUES.reduce((a, x) => a + x * x, 0) / N - MEAN * MEAN

function mechanisms(epsilon: number) {
  const m = 1
  // AVG spends half on the count and half on the sum; VAR a third on each moment.
  return {
    count: makeLaplace({ sensitivity: m, epsilon: epsilon / 3, integer: true }),
    sum: makeLaplace({
      sensitivity: sumSensitivity({ maxRowsPerUnit: m, lower: LOWER, upper: UPPER, exp: Q.exp }),
      epsilon: epsilon / 3,
      inputExp: Q.exp,
    }),
    sumSq: makeLaplace({
      sensitivity: sumSquaresSensitivity({ maxRowsPerUnit: m, lower: LOWER, upper: UPPER, exp: Q.exp }),
      epsilon: epsilon / 3,
      inputExp: 2 * Q.exp + 31,
    }),
  }
}

t.test('AVG, VAR and STDDEV: intervals cover the truth and contain their estimates', async (t) => {
  const trials = 400
  const conf = 0.9
  const mech = mechanisms(1)
  let missMean = 0
  let missVar = 0
  let missSd = 0
  for (let i = 0; i < trials; i++) {
    const count = { mechanism: mech.count, released: mech.count.reserveNow(1).release([N])[0]! }
    const sum = { mechanism: mech.sum, released: mech.sum.reserveNow(1).release([SUM])[0]! }
    const sumSq = { mechanism: mech.sumSq, released: mech.sumSq.reserveNow(1).release([SUMSQ])[0]! }
    const mean = releaseMean(sum, count, LOWER, UPPER, conf)
    const variance = releaseVariance(sumSq, sum, count, LOWER, UPPER, conf)
    const sd = releaseStddev(sumSq, sum, count, LOWER, UPPER, conf)
    for (const d of [mean, variance, sd]) {
      if (!(d.interval.lo <= d.value && d.value <= d.interval.hi))
        t.fail(`estimate ${d.value} outside [${d.interval.lo}, ${d.interval.hi}]`)
    }
    if (!(mean.interval.lo <= MEAN && MEAN <= mean.interval.hi)) missMean++
    if (!(variance.interval.lo <= VAR && VAR <= variance.interval.hi)) missVar++
    if (!(sd.interval.lo <= Math.sqrt(VAR) && Math.sqrt(VAR) <= sd.interval.hi)) missSd++
    if (!(mean.interval.lo >= LOWER && mean.interval.hi <= UPPER)) t.fail('mean interval outside the bounds')
  }
  const limit = trials * 0.1 + Z_LIMIT * Math.sqrt(trials * 0.09)
  t.ok(missMean <= limit, `mean: ${missMean} misses in ${trials}`)
  t.ok(missVar <= limit, `variance: ${missVar} misses`)
  t.ok(missSd <= limit, `stddev: ${missSd} misses`)
})

t.test('a noisy count at or below zero gives the whole bounds, not a division by zero', async (t) => {
  const mech = mechanisms(1)
  const count = { mechanism: mech.count, released: { units: -2n, exp: 0, value: -2 } }
  const sum = { mechanism: mech.sum, released: mech.sum.reserveNow(1).release([{ units: 0n, exp: Q.exp }])[0]! }
  const mean = releaseMean(sum, count, LOWER, UPPER, 0.95)
  t.same(mean.interval, { lo: 0, hi: 100, confidence: 0.95 })
  t.equal(mean.value, 50)
})
