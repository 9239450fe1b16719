/**
 * Neighbouring datasets: adding or removing one privacy unit (up to m rows,
 * values anywhere, at the bounds included) moves each exact aggregate, as the
 * kernels compute it, by no more than the sensitivity claimed for it.
 */
import t from 'tap'

import { quantize, quantumFor, squareUnits } from '../../../src/engine/exec/quantum.js'
import { Rational } from '../../../src/engine/dp/rational.js'
import {
  countSensitivity,
  groupedL2Sensitivity,
  histogramSensitivity,
  maxQuantized,
  sumSensitivity,
  sumSquaresSensitivity,
} from '../../../src/engine/dp/sensitivity.js'
import { Rng } from '../../../src/engine/dp/random.js'
import { seededSource } from './stats.js'

const rng = new Rng(seededSource('neighbours'))
const unit = (): number => rng.uniformSmall(1 << 30) / (1 << 30)

const BOUNDS: Array<[number, number]> = [
  [0, 1],
  [-5, 5],
  [0, 1e6],
  [-0.1, 0.3],
  [-1234.5, 17],
  [0.5 - 2 ** -54, 3],
]

t.test('SUM and sum of squares: one unit moves them by at most the claimed sensitivity', async (t) => {
  for (const [lower, upper] of BOUNDS) {
    const q = quantumFor(lower, upper)
    for (const m of [1, 3, 10]) {
      const sum = sumSensitivity({ maxRowsPerUnit: m, lower, upper, exp: q.exp })
      const squares = sumSquaresSensitivity({ maxRowsPerUnit: m, lower, upper, exp: q.exp })
      let worstSum = 0n
      let worstSq = 0n
      for (let trial = 0; trial < 300; trial++) {
        // A unit of m rows: values inside, outside (clamped) and at the bounds.
        let s = 0n
        let s2 = 0n
        for (let i = 0; i < m; i++) {
          const pick = trial % 4
          const x =
            pick === 0
              ? lower
              : pick === 1
                ? upper
                : pick === 2
                  ? lower + (upper - lower) * unit()
                  : (unit() - 0.5) * 4 * Math.max(Math.abs(lower), Math.abs(upper))
          const qx = quantize(x, lower, upper, q)
          s += BigInt(qx)
          s2 += BigInt(squareUnits(qx))
        }
        const abs = (v: bigint): bigint => (v < 0n ? -v : v)
        if (abs(s) > worstSum) worstSum = abs(s)
        if (s2 > worstSq) worstSq = s2
      }
      // Removing the unit changes the sum by its own contribution.
      const gotSum = Rational.dyadic(worstSum, q.exp)
      const gotSq = Rational.dyadic(worstSq, 2 * q.exp + 31)
      if (gotSum.gt(sum)) t.fail(`[${lower}, ${upper}] m ${m}: sum moved ${gotSum}, claimed ${sum}`)
      if (gotSq.gt(squares)) t.fail(`[${lower}, ${upper}] m ${m}: sum of squares moved ${gotSq}, claimed ${squares}`)
      // All m rows at the larger bound reach the claim: it is tight.
      const far = Math.abs(lower) > Math.abs(upper) ? lower : upper
      const atBound = Rational.dyadic(BigInt(Math.abs(quantize(far, lower, upper, q)) * m), q.exp)
      if (!atBound.eq(sum)) t.fail(`[${lower}, ${upper}] m ${m}: claim ${sum} is not attained (${atBound})`)
    }
  }
  t.pass('6 bound pairs x 3 row limits x 300 units')
})

t.test('the kernel quirk at 1/2 - 2^-54 is covered', async (t) => {
  // floor(fl(v + 0.5)) rounds v = 1/2 - 2^-54 up to 1 unit.
  const v = 0.5 - 2 ** -54
  t.equal(Math.floor(v + 0.5), 1)
  t.equal(maxQuantized(v, v, 0), 1n)
  t.equal(maxQuantized(-v, -v, 0), 1n, 'a bound, not an exact value: -v quantizes to 0')
})

t.test('COUNT and histograms move by at most m, in L1 and in L2', async (t) => {
  t.ok(countSensitivity(4).eq(Rational.of(4n)))
  const h = histogramSensitivity(4)
  t.ok(h.l1.eq(Rational.of(4n)) && h.l2.eq(Rational.of(4n)), 'all 4 rows may fall in one bin')
})

t.test('grouped L2: m c when rows may share a group, sqrt(m) c only with one row per group', async (t) => {
  t.ok(groupedL2Sensitivity({ maxRowsPerUnit: 4, perRow: 3 }).eq(Rational.of(12n)), 'g = m: L2 = m c')
  t.ok(
    groupedL2Sensitivity({ maxRowsPerUnit: 4, maxRowsPerGroup: 1, perRow: 3 }).eq(Rational.of(6n)),
    'g = 1: sqrt(4) * 3',
  )
  const five = groupedL2Sensitivity({ maxRowsPerUnit: 5, maxRowsPerGroup: 2, perRow: 1 })
  // 2 groups of 2 and one of 1: sqrt(9) = 3
  t.ok(five.eq(Rational.of(3n)))
  const irrational = groupedL2Sensitivity({ maxRowsPerUnit: 2, maxRowsPerGroup: 1, perRow: 1 })
  t.ok(irrational.mul(irrational).gte(Rational.of(2n)), 'sqrt(2) is bounded from above')
  t.ok(irrational.toNumber() - Math.SQRT2 < 1e-9)
  // Brute force over every way to place m rows (each moving its group by c) in up to m groups.
  for (const m of [1, 2, 3, 4, 5]) {
    for (let g = 1; g <= m; g++) {
      let best = 0
      const place = (left: number, cap: number, acc: number): void => {
        if (left === 0) {
          best = Math.max(best, acc)
          return
        }
        for (let k = 1; k <= Math.min(left, cap); k++) place(left - k, k, acc + k * k)
      }
      place(m, g, 0)
      const claim = groupedL2Sensitivity({ maxRowsPerUnit: m, maxRowsPerGroup: g, perRow: 1 })
      if (claim.mul(claim).lt(Rational.of(BigInt(best)))) t.fail(`m ${m}, g ${g}: claim ${claim} below sqrt(${best})`)
    }
  }
})
