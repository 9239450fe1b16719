import t from 'tap'

import { VeilboxError } from '../../../src/errors/index.js'
import { discreteLaplaceTail } from '../../../src/engine/dp/intervals.js'
import { makeLaplace } from '../../../src/engine/dp/laplace.js'
import {
  GRID_BITS,
  toGridSteps,
  type ExactInput,
  type Mechanism,
  type Released,
} from '../../../src/engine/dp/mechanism.js'
import { Rng } from '../../../src/engine/dp/random.js'
import { Rational } from '../../../src/engine/dp/rational.js'
import { sumSensitivity } from '../../../src/engine/dp/sensitivity.js'
import { Z_LIMIT, binomialZ, chiSquareGof, laplacePmf, seededSource, tally } from './stats.js'

/** One value released through its own reservation of one. */
function once(m: Mechanism, x: ExactInput): Released {
  return m.reserveNow(1).release([x])[0]!
}

function detailOf(fn: () => unknown): { code: string; detail: string } {
  try {
    fn()
  } catch (e) {
    if (e instanceof VeilboxError) return { code: e.code, detail: e.detail }
    throw e
  }
  throw new Error('did not throw')
}

t.test('makeLaplace refuses bad arguments with exact messages', async (t) => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ sensitivity: NaN, epsilon: 1 }, 'sensitivity must be a finite number greater than 0, got NaN'],
    [{ sensitivity: Infinity, epsilon: 1 }, 'sensitivity must be a finite number greater than 0, got Infinity'],
    [{ sensitivity: -2, epsilon: 1 }, 'sensitivity must be a finite number greater than 0, got -2'],
    [{ sensitivity: 0, epsilon: 1 }, 'sensitivity must be a finite number greater than 0, got 0'],
    [{ sensitivity: 1, epsilon: NaN }, 'epsilon must be a finite number greater than 0, got NaN'],
    [{ sensitivity: 1, epsilon: Infinity }, 'epsilon must be a finite number greater than 0, got Infinity'],
    [{ sensitivity: 1, epsilon: -Infinity }, 'epsilon must be a finite number greater than 0, got -Infinity'],
    [{ sensitivity: 1, epsilon: -0.5 }, 'epsilon must be a finite number greater than 0, got -0.5'],
    [{ sensitivity: 1, epsilon: 0 }, 'epsilon must be a finite number greater than 0, got 0'],
    [{ sensitivity: 1, epsilon: -0 }, 'epsilon must be a finite number greater than 0, got -0'],
    [{ sensitivity: 1, epsilon: '0.1' }, 'epsilon must be a finite number greater than 0, got "0.1"'],
    [{ sensitivity: 1, epsilon: undefined }, 'epsilon must be a finite number greater than 0, got undefined'],
    [{ sensitivity: 1, epsilon: Rational.of(-1n, 3n) }, 'epsilon must be a finite number greater than 0, got -1/3'],
    [{ sensitivity: 1, epsilon: 1, inputExp: 0.5 }, 'inputExp must be an integer from -1074 to 1023, got 0.5'],
    [{ sensitivity: 1, epsilon: 1, coordinates: 0 }, 'coordinates must be a positive integer, got 0'],
    [{ sensitivity: 1, epsilon: 1, integer: 'yes' }, 'integer must be a boolean, got "yes"'],
  ]
  for (const [opts, message] of cases) {
    const { code, detail } = detailOf(() => makeLaplace(opts as never))
    t.equal(code, 'VEILBOX_ERR_DP_INVALID_PARAMETER')
    t.equal(detail, message)
  }
  const m = makeLaplace({ sensitivity: 1, epsilon: 1, integer: true })
  t.equal(
    detailOf(() => m.halfWidthSteps(1)).detail,
    'confidence must be a finite number strictly between 0 and 1, got 1',
  )
  t.equal(
    detailOf(() => m.interval(once(m, 0), 0)).detail,
    'confidence must be a finite number strictly between 0 and 1, got 0',
  )
  t.equal(detailOf(() => once(m, NaN)).code, 'VEILBOX_ERR_INTERNAL')
})

t.test('epsilon is read as a decimal and the privacy map returns it exactly', async (t) => {
  const m = makeLaplace({ sensitivity: 1, epsilon: 0.1, integer: true })
  t.ok(m.epsilon.eq(Rational.of(1n, 10n)), 'epsilon 0.1 is exactly 1/10')
  t.ok(m.scaleSteps.eq(Rational.of(10n)), 'scale is exactly 10')
  t.equal(m.gridExp, 0)
  t.ok(m.privacyMap(1).eq(Rational.of(1n, 10n)))
  t.ok(m.privacyMap(2).eq(Rational.of(2n, 10n)), 'twice the distance costs twice')
  const real = makeLaplace({ sensitivity: 0.37, epsilon: 0.3 })
  t.ok(real.privacyMap(real.sensitivity).eq(real.epsilon), 'map(sensitivity) = epsilon with rounding accounted')
  t.ok(real.scale.gte(real.sensitivity.div(real.epsilon)), 'the scale never falls below D / epsilon')
  const grouped = makeLaplace({ sensitivity: 0.37, epsilon: 0.3, coordinates: 5 })
  t.equal(grouped.sensitivitySteps, real.sensitivitySteps + 4n, 'one rounding step per coordinate a unit can change')
})

t.test('released values lie on the grid: integers for counts, multiples of 2^k otherwise', async (t) => {
  const count = makeLaplace({ sensitivity: 1, epsilon: 0.5, integer: true })
  t.equal(count.gridExp, 0)
  t.equal(count.roundsInput, false)
  for (let i = 0; i < 500; i++) {
    const xs = [0, 1, 1234]
    const released = count.reserveNow(xs.length).release(xs)
    for (const [j, x] of xs.entries()) {
      const r = released[j]!
      if (r.exp !== 0 || !Number.isInteger(r.value) || BigInt(r.value) !== r.units)
        t.fail(`count release ${x} -> ${r.value}`)
    }
  }
  const real = makeLaplace({ sensitivity: 0.37, epsilon: 0.5 })
  // b = 0.74, floor(log2 b) = -1, so k = -1 - GRID_BITS
  t.equal(real.gridExp, -1 - GRID_BITS)
  t.equal(real.roundsInput, true)
  const scale = 2 ** -real.gridExp
  for (let i = 0; i < 500; i++) {
    const released = real.reserveNow(3).release([0, 1, 0.3])
    t.equal(released.length, 3)
    for (const r of released) {
      if (r.exp !== real.gridExp || !Number.isInteger(r.value * scale)) t.fail(`off grid: ${r.value}`)
    }
  }
  t.pass('outputs for 0, 1 and 0.3 share the grid 2^k')
  // A huge scale makes the count grid coarser, and the interval then adds a rounding step.
  const coarse = makeLaplace({ sensitivity: 1, epsilon: 2 ** -25, integer: true })
  t.equal(coarse.gridExp, 5)
  t.equal(coarse.roundsInput, true)
  const r = once(coarse, 100)
  t.equal(r.units * 32n, BigInt(r.value))
})

t.test('exact kernel sums (units of 2^exp) are rounded to the grid in integers', async (t) => {
  t.equal(toGridSteps({ units: 5n, exp: -1 }, 0), 3n, '2.5 rounds half up to 3')
  t.equal(toGridSteps({ units: -5n, exp: -1 }, 0), -2n, '-2.5 rounds half up to -2')
  t.equal(toGridSteps({ units: -7n, exp: -2 }, 0), -2n, '-1.75 -> -2')
  t.equal(toGridSteps({ units: 3n, exp: 2 }, -1), 24n, 'a coarser input is exact on a finer grid')
  const exp = -11
  const D = sumSensitivity({ maxRowsPerUnit: 3, lower: 0, upper: 1e6, exp })
  const m = makeLaplace({ sensitivity: D, epsilon: 0.1, inputExp: exp })
  t.ok(m.gridExp > exp, 'the grid is coarser than the kernel unit here')
  const exact = { units: (123_456_789n << 11n) + 1000n, exp }
  const r = once(m, exact)
  t.equal(r.exp, m.gridExp)
  const iv = m.interval(r, 0.95)
  t.ok(iv.lo <= r.value && r.value <= iv.hi, 'a released value lies in its own interval')
  t.equal(iv.hiUnits - r.units, m.halfWidthSteps(0.95))
})

t.test('noise through the pool has the exact discrete Laplace law', async (t) => {
  const m = makeLaplace({ sensitivity: 1, epsilon: 0.5, integer: true })
  const n = 60_000
  const released = (await m.reserve(n)).release(new Array<number>(n).fill(1000))
  let next = 0
  const counts = tally(() => released[next++]!.units - 1000n, n)
  const gof = chiSquareGof(counts, n, laplacePmf(2), 200)
  t.ok(gof.pass, `chi2 ${gof.stat.toFixed(1)} <= ${gof.critical.toFixed(1)} (${gof.df} df)`)
})

t.test('intervals cover at their stated level, computed from the exact tail', async (t) => {
  const m = makeLaplace({ sensitivity: 1, epsilon: 0.25, integer: true })
  const conf = 0.9
  const h = Number(m.halfWidthSteps(conf))
  const tail = discreteLaplaceTail(4, h)
  t.ok(tail <= 1 - conf, `P(|Z| > ${h}) = ${tail} <= 0.1`)
  t.ok(discreteLaplaceTail(4, h - 1) > 1 - conf, 'and h is the smallest such width')
  t.equal(m.halfWidth(conf), h)
  const n = 20_000
  const released = (await m.reserve(n)).release(new Array<number>(n).fill(500))
  let covered = 0
  for (let i = 0; i < n; i++) {
    const r = released[i]!
    const iv = m.interval(r, conf)
    if (iv.lo <= 500 && 500 <= iv.hi) covered++
    if (!(iv.lo <= r.value && r.value <= iv.hi)) t.fail('released value outside its interval')
  }
  const z = binomialZ(covered, n, 1 - tail)
  t.ok(Math.abs(z) < Z_LIMIT, `coverage ${covered / n} vs exact ${1 - tail} (z = ${z.toFixed(2)})`)
})

t.test('a deterministic generator makes releases reproducible (tests only)', async (t) => {
  const a = makeLaplace({ sensitivity: 1, epsilon: 1, integer: true, rng: new Rng(seededSource('m')) })
  const b = makeLaplace({ sensitivity: 1, epsilon: 1, integer: true, rng: new Rng(seededSource('m')) })
  t.same(
    a
      .reserveNow(3)
      .release([1, 2, 3])
      .map((r) => r.units),
    b
      .reserveNow(3)
      .release([1, 2, 3])
      .map((r) => r.units),
  )
})

t.test('preview width and the interval of a release agree', async (t) => {
  const m = makeLaplace({ sensitivity: 10, epsilon: 1, integer: true })
  const r = once(m, 0)
  const iv = m.interval(r, 0.95)
  t.equal(iv.hi - r.value, m.halfWidth(0.95))
  t.equal(r.value - iv.lo, m.halfWidth(0.95))
  t.equal(
    detailOf(() => m.interval({ ...r, exp: 3 }, 0.95)).detail,
    "released.exp must be the mechanism's grid exponent 0, got 3",
  )
})
