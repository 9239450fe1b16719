import t from 'tap'

import { VeilboxError } from '../../../src/errors/index.js'
import { makeGaussian } from '../../../src/engine/dp/gaussian.js'
import { GRID_BITS } from '../../../src/engine/dp/mechanism.js'
import { Rational } from '../../../src/engine/dp/rational.js'
import { Z_LIMIT, binomialZ, chiSquareGof, gaussianPmf, tally } from './stats.js'

function detailOf(fn: () => unknown): string {
  try {
    fn()
  } catch (e) {
    if (e instanceof VeilboxError && e.code === 'VEILBOX_ERR_DP_INVALID_PARAMETER') return e.detail
    throw e
  }
  throw new Error('did not throw')
}

t.test('makeGaussian refuses bad arguments with exact messages', async (t) => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ sensitivity: NaN, rho: 1 }, 'sensitivity must be a finite number greater than 0, got NaN'],
    [{ sensitivity: 1, rho: NaN }, 'rho must be a finite number greater than 0, got NaN'],
    [{ sensitivity: 1, rho: Infinity }, 'rho must be a finite number greater than 0, got Infinity'],
    [{ sensitivity: 1, rho: -1 }, 'rho must be a finite number greater than 0, got -1'],
    [{ sensitivity: 1, rho: 0 }, 'rho must be a finite number greater than 0, got 0'],
    [{ sensitivity: -Infinity, rho: 1 }, 'sensitivity must be a finite number greater than 0, got -Infinity'],
    [{ sensitivity: 0, rho: 1 }, 'sensitivity must be a finite number greater than 0, got 0'],
  ]
  for (const [opts, message] of cases)
    t.equal(
      detailOf(() => makeGaussian(opts as never)),
      message,
    )
})

t.test('sigma^2 is exact and the privacy map returns rho exactly', async (t) => {
  const m = makeGaussian({ sensitivity: 1, rho: 0.005, integer: true })
  t.ok(m.rho.eq(Rational.of(1n, 200n)))
  t.ok(m.sigma2Steps.eq(Rational.of(100n)), 'sigma^2 = D^2 / (2 rho) = 100')
  t.equal(m.gridExp, 0)
  t.ok(m.privacyMap(1).eq(m.rho))
  t.ok(m.privacyMap(2).eq(Rational.of(4n, 200n)), 'rho grows with the square of the distance')
  const real = makeGaussian({ sensitivity: 1234.5, rho: 0.02 })
  t.ok(real.privacyMap(real.sensitivity).eq(real.rho), 'with rounding accounted')
  t.ok(real.sigma2.gte(real.sensitivity.mul(real.sensitivity).div(Rational.of(4n, 100n))), 'sigma^2 >= D^2 / (2 rho)')
  // sigma = 1234.5 / sqrt(0.04) = 6172.5, floor(log2) = 12
  t.equal(real.gridExp, 12 - GRID_BITS)
  const grouped = makeGaussian({ sensitivity: 1234.5, rho: 0.02, coordinates: 9 })
  t.ok(grouped.sensitivitySteps >= real.sensitivitySteps + 2n, 'L2 rounding of 9 coordinates adds sqrt(9) steps')
})

t.test('noise through the pool has the exact discrete Gaussian law, on the grid', async (t) => {
  const m = makeGaussian({ sensitivity: 1, rho: 0.005, integer: true })
  const n = 50_000
  // One reservation of n values, released at once: n independent draws through the pool.
  const released = (await m.reserve(n)).release(new Array<number>(n).fill(7))
  t.equal(released.length, n)
  let next = 0
  const counts = tally(() => {
    const r = released[next++]!
    if (r.exp !== 0 || !Number.isInteger(r.value)) throw new Error('off grid')
    return r.units - 7n
  }, n)
  const gof = chiSquareGof(counts, n, gaussianPmf(100), 500)
  t.ok(gof.pass, `chi2 ${gof.stat.toFixed(1)} <= ${gof.critical.toFixed(1)} (${gof.df} df)`)
})

t.test('intervals are conservative and contain the released value', async (t) => {
  const m = makeGaussian({ sensitivity: 1, rho: 0.005, integer: true })
  const conf = 0.9
  const h = Number(m.halfWidthSteps(conf))
  // Exact tail of the discrete Gaussian with sigma^2 = 100.
  const pmf = gaussianPmf(100)
  let tail = 0
  for (let x = h + 1; x < 1000; x++) tail += 2 * pmf(x)
  t.ok(tail <= 1 - conf, `P(|Z| > ${h}) = ${tail.toFixed(5)} <= 0.1`)
  t.equal(h, Math.ceil(10 * 1.6448536269514722), 'h = ceil(sigma * z_0.95)')
  const n = 20_000
  const released = (await m.reserve(n)).release(new Array<number>(n).fill(0))
  let covered = 0
  for (let i = 0; i < n; i++) {
    const r = released[i]!
    const iv = m.interval(r, conf)
    if (iv.lo <= 0 && 0 <= iv.hi) covered++
    if (!(iv.lo <= r.value && r.value <= iv.hi)) t.fail('released value outside its interval')
  }
  t.ok(binomialZ(covered, n, 1 - tail) > -Z_LIMIT, `coverage ${covered / n} vs exact ${1 - tail}`)
})
