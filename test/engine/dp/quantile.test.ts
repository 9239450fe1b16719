import t from 'tap'

import { VeilboxError } from '../../../src/errors/index.js'
import { makeHistogramQuantile } from '../../../src/engine/dp/quantile.js'
import { Z_LIMIT } from './stats.js'

function detailOf(fn: () => unknown): string {
  try {
    fn()
  } catch (e) {
    if (e instanceof VeilboxError) return e.detail
    throw e
  }
  throw new Error('did not throw')
}

async function rejectionOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (e) {
    if (e instanceof VeilboxError) return e.detail
    throw e
  }
  throw new Error('did not reject')
}

const BINS = 32
// A skewed histogram of 10,000 rows over [0, 100].
const COUNTS = Array.from({ length: BINS }, (_, i) => Math.round(600 * Math.exp(-i / 6)) + 5)
const N = COUNTS.reduce((a, c) => a + c, 0)

/** The bin holding the exact p-quantile: the first whose prefix reaches p N. */
function trueBin(p: number): number {
  let run = 0
  for (let j = 0; j < BINS; j++) {
    run += COUNTS[j]!
    if (run >= p * N) return j
  }
  return BINS - 1
}

t.test('constructor refuses bad arguments', async (t) => {
  const base = { lower: 0, upper: 100, bins: 32, maxRowsPerUnit: 1, epsilon: 1 }
  t.equal(
    detailOf(() => makeHistogramQuantile({ ...base, bins: 0 })),
    'bins must be an integer from 1 to 65536, got 0',
  )
  t.equal(
    detailOf(() => makeHistogramQuantile({ ...base, upper: 0 })),
    'upper must be greater than lower (0), got 0',
  )
  t.equal(
    detailOf(() => makeHistogramQuantile({ ...base, rho: 1 })),
    'epsilon or rho must be given, exactly one of the two, got "both or neither"',
  )
  t.equal(
    detailOf(() => makeHistogramQuantile({ ...base, epsilon: 0 })),
    'epsilon must be a finite number greater than 0, got 0',
  )
  const q = makeHistogramQuantile(base)
  const [noisy] = await q.noisyHistograms(q.reserveNow(), COUNTS)
  t.equal(
    detailOf(() => q.quantiles(noisy!, [1.5], 0.9)),
    'ps[0] must be a finite number between 0 and 1, got 1.5',
  )
  t.equal(
    await rejectionOf(q.noisyHistograms(q.reserveNow(), [1, 2])),
    'counts.length must be a positive multiple of 32 (one per bin, per group), got 2',
  )
  t.equal(
    await rejectionOf(q.noisyHistograms(q.reserveNow(2), [...COUNTS, ...COUNTS, 1])),
    'counts.length must be a positive multiple of 32 (one per bin, per group), got 65',
  )
})

for (const noise of [{ epsilon: 0.5 }, { rho: 0.02 }]) {
  const name = 'epsilon' in noise ? 'Laplace' : 'Gaussian'
  t.test(`${name}: intervals cover the true quantile's bin, estimates lie inside their intervals`, async (t) => {
    const q = makeHistogramQuantile({ lower: 0, upper: 100, bins: BINS, maxRowsPerUnit: 2, ...noise })
    const ps = [0, 0.1, 0.5, 0.9, 1]
    const trials = 300
    // One histogram per trial, released at once as `trials` groups of one reservation.
    const all = await q.noisyHistograms(await q.reserve(trials), Array.from({ length: trials }, () => COUNTS).flat())
    t.equal(all.length, trials)
    let misses = 0
    for (const noisy of all) {
      if (noisy.length !== BINS) t.fail(`a histogram of ${noisy.length} bins`)
      for (const r of q.quantiles(noisy, ps, 0.9)) {
        const j = trueBin(r.p)
        const lo = (100 * j) / BINS
        const hi = (100 * (j + 1)) / BINS
        if (!(r.interval.lo <= lo && hi <= r.interval.hi)) misses++
        if (!(r.interval.lo <= r.value && r.value <= r.interval.hi))
          t.fail(`estimate ${r.value} outside [${r.interval.lo}, ${r.interval.hi}]`)
      }
    }
    const n = trials * ps.length
    // Each interval misses with probability <= 0.1 (the bound is conservative).
    t.ok(misses <= n * 0.1 + Z_LIMIT * Math.sqrt(n * 0.09), `${misses} misses in ${n}`)
  })
}

t.test('quantiles are post-processing: the same noisy histogram gives the same answers', async (t) => {
  const q = makeHistogramQuantile({ lower: -50, upper: 50, bins: BINS, maxRowsPerUnit: 1, epsilon: 1 })
  const [noisy] = await q.noisyHistograms(q.reserveNow(), COUNTS)
  t.same(q.quantiles(noisy!, [0.25, 0.5], 0.95), q.quantiles(noisy!, [0.25, 0.5], 0.95))
  const m = q.mechanism
  if (m.kind !== 'laplace') throw new Error('expected the Laplace mechanism')
  t.ok(m.privacyMap(1).eq(m.epsilon), 'one unit (m = 1) costs epsilon')
})

t.test('with little noise the estimate is close to the exact quantile', async (t) => {
  const q = makeHistogramQuantile({ lower: 0, upper: 100, bins: BINS, maxRowsPerUnit: 1, epsilon: 100 })
  const [noisy] = await q.noisyHistograms(q.reserveNow(), COUNTS)
  const [median] = q.quantiles(noisy!, [0.5], 0.95)
  const j = trueBin(0.5)
  t.ok(Math.abs(median!.bin - j) <= 1, `bin ${median!.bin} vs ${j}`)
  t.ok(median!.interval.hi - median!.interval.lo <= (100 / BINS) * 3, 'a narrow interval')
  t.equal(q.mechanism.sensitivity.toString(), '1')
})
