import t from 'tap'

import {
  sampleDiscreteLaplace,
  sampleDiscreteLaplaceBig,
  sampleDiscreteLaplaceSmall,
} from '../../../src/engine/dp/discrete-laplace.js'
import { Rng } from '../../../src/engine/dp/random.js'
import { Z_LIMIT, binomialZ, chiSquareGof, laplacePmf, seededSource, symmetryTest, tally } from './stats.js'

const N = 200_000
const rng = new Rng()

// Scales t/s: 1/2, 1, 3, 20.
const SCALES: Array<[number, number]> = [
  [1, 2],
  [1, 1],
  [3, 1],
  [20, 1],
]

for (const [tt, s] of SCALES) {
  const b = tt / s
  t.test(`scale ${tt}/${s}: fits the exact pmf, symmetric, zero not doubled`, async (t) => {
    const start = process.hrtime.bigint()
    const counts = tally(() => sampleDiscreteLaplaceSmall(rng, tt, s), N)
    const ns = Number(process.hrtime.bigint() - start) / N
    t.comment(`${(ns / 1000).toFixed(2)} us per draw (with tallying)`)
    const pmf = laplacePmf(b)
    const gof = chiSquareGof(counts, N, pmf, Math.ceil(60 * b) + 10)
    t.ok(gof.pass, `chi2 ${gof.stat.toFixed(1)} <= ${gof.critical.toFixed(1)} (${gof.df} df)`)
    const sym = symmetryTest(counts)
    t.ok(sym.pass, `symmetry chi2 ${sym.stat.toFixed(1)} <= ${sym.critical.toFixed(1)} (${sym.df} pairs)`)
    const z0 = binomialZ(counts.get(0) ?? 0, N, pmf(0))
    t.ok(Math.abs(z0) < Z_LIMIT, `P(0): z = ${z0.toFixed(2)}`)
    let pos = 0
    let neg = 0
    for (const [x, c] of counts) {
      if (x > 0) pos += c
      if (x < 0) neg += c
    }
    t.ok(Math.abs(binomialZ(pos, pos + neg, 0.5)) < Z_LIMIT, `signs: ${pos} positive, ${neg} negative`)
  })
}

t.test('the BigInt path fits its pmf (scale (20 * 2^41 + 1) / 2^41)', async (t) => {
  const s = 1n << 41n
  const tt = 20n * s + 1n
  const b = Number(tt) / Number(s)
  const n = 60_000
  const counts = tally(() => sampleDiscreteLaplace(rng, tt, s), n)
  const gof = chiSquareGof(counts, n, laplacePmf(b), 1300)
  t.ok(gof.pass, `chi2 ${gof.stat.toFixed(1)} <= ${gof.critical.toFixed(1)} (${gof.df} df)`)
})

/** Algorithm 2 without step 4's rejection: zero gets the weight of +0 and -0. */
function brokenLaplace(r: Rng, tt: number): number {
  for (;;) {
    const u = r.uniformSmall(tt)
    if (!r.bernoulliExpSmall(u, tt)) continue
    let v = 0
    while (r.bernoulliExpSmall(1, 1)) v += 1
    const y = u + tt * v
    return r.bit() ? -y : y
  }
}

t.test('the checks catch a sampler that doubles zero', async (t) => {
  const b = 3
  const pmf = laplacePmf(b)
  const broken = tally(() => brokenLaplace(rng, b), N)
  t.notOk(chiSquareGof(broken, N, pmf, 200).pass, 'chi-square rejects the broken sampler')
  t.ok(Math.abs(binomialZ(broken.get(0) ?? 0, N, pmf(0))) > Z_LIMIT, 'the zero test rejects it')
  // And the checker itself: correct samples against a pmf with zero doubled.
  const good = tally(() => sampleDiscreteLaplaceSmall(rng, b, 1), N)
  const doubled = (x: number): number => (x === 0 ? 2 * pmf(0) : pmf(x)) / (1 + pmf(0))
  t.notOk(chiSquareGof(good, N, doubled, 200).pass, 'chi-square rejects a wrong pmf')
  t.ok(chiSquareGof(good, N, pmf, 200).pass, 'and accepts the right one on the same samples')
})

t.test('Number and BigInt paths give identical samples from identical bytes', async (t) => {
  for (const [tt, s] of [...SCALES, [7, 3] as [number, number], [1_000_000, 1] as [number, number]]) {
    const a = new Rng(seededSource(`lap-${tt}-${s}`))
    const b = new Rng(seededSource(`lap-${tt}-${s}`))
    let mismatches = 0
    for (let i = 0; i < 3000; i++) {
      if (BigInt(sampleDiscreteLaplaceSmall(a, tt, s)) !== sampleDiscreteLaplaceBig(b, BigInt(tt), BigInt(s)))
        mismatches++
    }
    t.equal(mismatches, 0, `scale ${tt}/${s}`)
  }
})

t.test('refuses non-positive parameters', async (t) => {
  t.throws(() => sampleDiscreteLaplace(rng, 0n, 1n), RangeError)
  t.throws(() => sampleDiscreteLaplace(rng, 1n, 0n), RangeError)
})
