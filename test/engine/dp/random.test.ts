import t from 'tap'

import { VeilboxError } from '../../../src/errors/index.js'
import {
  Rng,
  bitLengthSmall,
  cryptoRandomSource,
  defaultRng,
  type RandomSource,
} from '../../../src/engine/dp/random.js'
import { Z_LIMIT, binomialZ, chiSquareCritical, scriptedSource, seededSource } from './stats.js'

t.test('uniform rejects s >= floor(2^k / m) * m instead of reducing it mod m', async (t) => {
  // m = 3 reads one byte; 256 = 85 * 3 + 1, so 255 must be rejected (255 % 3
  // would make 0 more likely than 1 and 2).
  const rng = new Rng(scriptedSource([255, 255, 7]))
  t.equal(rng.uniformSmall(3), 1, '255 and 255 were redrawn, 7 % 3 = 1')
  // m = 256 has 9 bits, so it reads two bytes: 0x01 0x05 -> 261 -> 261 % 256.
  const two = new Rng(scriptedSource([0x01, 0x05]))
  t.equal(two.uniformSmall(256), 5)
  // The BigInt path applies the same rule: m = 2^56 + 1 reads 8 bytes, and
  // limit = 2^64 - (2^64 mod m) = 255 * m.
  const m = (1n << 56n) + 1n
  const reject = [255, 255, 255, 255, 255, 255, 255, 255]
  const big = new Rng(scriptedSource([...reject, 0, 0, 0, 0, 0, 0, 0, 9]))
  t.equal(big.uniform(m), 9n)
})

t.test('uniform is uniform (chi-square at p = 1e-6)', async (t) => {
  const rng = new Rng()
  for (const m of [3, 10, 255, 1000]) {
    const n = 100 * m
    const counts = new Array<number>(m).fill(0)
    for (let i = 0; i < n; i++) counts[rng.uniformSmall(m)]! += 1
    const e = n / m
    const stat = counts.reduce((a, c) => a + (c - e) ** 2 / e, 0)
    t.ok(stat < chiSquareCritical(m - 1), `m = ${m}: chi2 ${stat.toFixed(1)} with ${m - 1} df`)
  }
})

t.test('bernoulli and bernoulliExp hit their probabilities', async (t) => {
  const rng = new Rng()
  const n = 100_000
  const cases: Array<[string, () => boolean, number]> = [
    ['Bernoulli(3/7)', () => rng.bernoulli(3n, 7n), 3 / 7],
    ['exp(-0)', () => rng.bernoulliExp(0n, 1n), 1],
    ['exp(-1/3)', () => rng.bernoulliExp(1n, 3n), Math.exp(-1 / 3)],
    ['exp(-1)', () => rng.bernoulliExp(1n, 1n), Math.exp(-1)],
    ['exp(-5/2)', () => rng.bernoulliExp(5n, 2n), Math.exp(-2.5)],
    ['exp(-(2^50 + 1)/2^50) via BigInt', () => rng.bernoulliExp((1n << 50n) + 1n, 1n << 50n), Math.exp(-1 - 2 ** -50)],
    ['fair bit', () => rng.bit(), 0.5],
  ]
  for (const [name, draw, p] of cases) {
    let hits = 0
    for (let i = 0; i < n; i++) if (draw()) hits++
    if (p === 1) t.equal(hits, n, name)
    else t.ok(Math.abs(binomialZ(hits, n, p)) < Z_LIMIT, `${name}: ${hits / n} vs ${p.toFixed(5)}`)
  }
})

/** PRIVACY-NOTES section 1, transcribed literally in BigInt. */
function referenceBernoulliExp(rng: Rng, n: bigint, d: bigint): boolean {
  if (n > d) {
    for (let i = 0n; i < n / d; i++) if (!referenceBernoulliExp(rng, 1n, 1n)) return false
    return referenceBernoulliExp(rng, n % d, d)
  }
  let k = 1n
  while (rng.uniform(d * k) < n) k += 1n
  return k % 2n === 1n
}

t.test('the Number fast path of bernoulliExp follows the BigInt transcription byte for byte', async (t) => {
  const a = new Rng(seededSource('parity'))
  const b = new Rng(seededSource('parity'))
  let mismatches = 0
  // d near 2^47 makes d * k cross 2^48 within the loop, so the fast path
  // hands over to BigInt mid-way; small d stays on the Number path.
  const ds = [1, 2, 3, 7, 20, 1000, 2 ** 47 - 1, 2 ** 47 + 12345]
  for (let i = 0; i < 4000; i++) {
    const d = ds[i % ds.length]!
    const n = i % 3 === 0 ? d : Math.floor((d / 7) * (i % 29))
    if (a.bernoulliExpSmall(n, d) !== referenceBernoulliExp(b, BigInt(n), BigInt(d))) mismatches++
    if (BigInt(a.uniformSmall(d)) !== b.uniform(BigInt(d))) mismatches++
  }
  t.equal(mismatches, 0)
  t.equal(a.byte(), b.byte(), 'both consumed the same bytes')
})

t.test('a failing source is an error, never a fallback', async (t) => {
  const broken: RandomSource = {
    fill() {
      throw new Error('entropy source gone')
    },
  }
  const rng = new Rng(broken)
  const err = t.throws(() => rng.uniformSmall(10)) as unknown
  t.ok(err instanceof VeilboxError)
  t.equal((err as VeilboxError).code, 'VEILBOX_ERR_DP_RANDOMNESS_UNAVAILABLE')
  t.equal((err as VeilboxError).status, 500)
})

t.test('the default generator reads node:crypto', async (t) => {
  t.equal(defaultRng(), defaultRng(), 'one process-wide generator')
  const bytes = new Uint8Array(64)
  cryptoRandomSource.fill(bytes)
  t.ok(bytes.some((b) => b !== 0))
  t.equal(bitLengthSmall(1), 1)
  t.equal(bitLengthSmall(255), 8)
  t.equal(bitLengthSmall(256), 9)
  t.equal(bitLengthSmall(2 ** 40), 41)
  t.equal(bitLengthSmall(2 ** 48 - 1), 48)
})
