import t from 'tap'

import { discreteGaussianSampler, sampleDiscreteGaussian } from '../../../src/engine/dp/discrete-gaussian.js'
import { sampleDiscreteLaplaceBig } from '../../../src/engine/dp/discrete-laplace.js'
import { Rng } from '../../../src/engine/dp/random.js'
import { Rational, isqrt } from '../../../src/engine/dp/rational.js'
import { Z_LIMIT, binomialZ, chiSquareGof, gaussianPmf, seededSource, symmetryTest, tally } from './stats.js'

const N = 200_000
const rng = new Rng()

for (const sigma2 of [0.25, 1, 10, 400]) {
  t.test(`sigma^2 = ${sigma2}: fits the exact pmf, symmetric, zero not doubled`, async (t) => {
    const sampler = discreteGaussianSampler(rng, Rational.fromNumber(sigma2))
    const start = process.hrtime.bigint()
    const counts = tally(sampler.sample, N)
    const ns = Number(process.hrtime.bigint() - start) / N
    t.comment(`${(ns / 1000).toFixed(2)} us per draw (with tallying)`)
    const pmf = gaussianPmf(sigma2)
    const gof = chiSquareGof(counts, N, pmf, Math.ceil(40 * Math.sqrt(sigma2)) + 10)
    t.ok(gof.pass, `chi2 ${gof.stat.toFixed(1)} <= ${gof.critical.toFixed(1)} (${gof.df} df)`)
    const sym = symmetryTest(counts)
    t.ok(sym.pass, `symmetry chi2 ${sym.stat.toFixed(1)} <= ${sym.critical.toFixed(1)} (${sym.df} pairs)`)
    const z0 = binomialZ(counts.get(0) ?? 0, N, pmf(0))
    t.ok(Math.abs(z0) < Z_LIMIT, `P(0): z = ${z0.toFixed(2)}`)
  })
}

t.test('the BigInt path fits its pmf (sigma^2 = (400 * 2^30 + 1) / 2^30)', async (t) => {
  const sigma2 = Rational.of((400n << 30n) + 1n, 1n << 30n)
  const n = 40_000
  const counts = tally(() => sampleDiscreteGaussian(rng, sigma2), n)
  const gof = chiSquareGof(counts, n, gaussianPmf(400 + 2 ** -30), 900)
  t.ok(gof.pass, `chi2 ${gof.stat.toFixed(1)} <= ${gof.critical.toFixed(1)} (${gof.df} df)`)
})

t.test('a sampler that skips the acceptance step is caught', async (t) => {
  // Without step 2 of Algorithm 3 the output is the discrete Laplace proposal.
  const sigma2 = 10
  const tt = Math.floor(Math.sqrt(sigma2)) + 1
  const counts = tally(() => sampleDiscreteLaplaceBig(rng, BigInt(tt), 1n), N)
  t.notOk(chiSquareGof(counts, N, gaussianPmf(sigma2), 200).pass)
})

/** CKS20 Algorithm 3 transcribed in BigInt, for byte-for-byte comparison. */
function referenceGaussian(r: Rng, a: bigint, b: bigint): bigint {
  const tt = isqrt(a / b) + 1n
  for (;;) {
    const y = sampleDiscreteLaplaceBig(r, tt, 1n)
    const ay = y < 0n ? -y : y
    // (|y| - sigma^2/t)^2 / (2 sigma^2) with sigma^2 = a/b
    const num = ay * tt * b - a
    if (r.bernoulliExp(num * num, 2n * a * tt * tt * b)) return y
  }
}

t.test('the fast path follows the BigInt transcription of Algorithm 3 byte for byte', async (t) => {
  for (const s2 of [
    Rational.of(1n, 4n),
    Rational.of(1n),
    Rational.of(10n),
    Rational.of(400n),
    Rational.of(7n, 3n),
    Rational.of(10n ** 12n + 1n, 3n),
  ]) {
    const a = new Rng(seededSource(`g-${s2}`))
    const b = new Rng(seededSource(`g-${s2}`))
    const sampler = discreteGaussianSampler(a, s2)
    let mismatches = 0
    for (let i = 0; i < 2000; i++) if (sampler.sample() !== referenceGaussian(b, s2.num, s2.den)) mismatches++
    t.equal(mismatches, 0, `sigma^2 = ${s2}`)
  }
})

t.test('refuses sigma^2 <= 0', async (t) => {
  t.throws(() => discreteGaussianSampler(rng, Rational.ZERO), RangeError)
  t.throws(() => discreteGaussianSampler(rng, Rational.of(-1n)), RangeError)
})
