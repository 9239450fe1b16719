/**
 * A reservation of noise releases once (mechanism.ts): a second release,
 * by either call, is a bug in the caller and throws VEILBOX_ERR_INTERNAL, as a
 * second Result() does in Google's DP library; it releases at most the values
 * it reserved; and ending it, or releasing through it, frees its samples in the
 * pool.
 */
import t from 'tap'

import { makeGaussian } from '../../../src/engine/dp/gaussian.js'
import { makeLaplace } from '../../../src/engine/dp/laplace.js'
import { buildRelease, chooseGrid, type Reservation } from '../../../src/engine/dp/mechanism.js'
import { NoisePool, poolFor } from '../../../src/engine/dp/noise-pool.js'
import { Rng } from '../../../src/engine/dp/random.js'
import { seededSource } from './stats.js'
import { errorOf, rejectionOf } from '../../helpers/errors.js'

/** The release machinery over a pool of our own, so that the test can watch its reservedCount. */
function withPool(seed: string): {
  pool: NoisePool
  reserve: (n: number) => Promise<Reservation>
  reserveNow: (n: number) => Reservation
} {
  let n = 0
  const pool = new NoisePool(new Rng(seededSource(seed)), () => BigInt(n++ % 5) - 2n)
  const shared = buildRelease(chooseGrid(0, { integer: true }), pool, () => 2n)
  return { pool, reserve: shared.reserve, reserveNow: shared.reserveNow }
}

const MECHANISMS = [
  ['laplace', () => makeLaplace({ sensitivity: 1, epsilon: 0.5, integer: true })],
  ['gaussian', () => makeGaussian({ sensitivity: 1, rho: 0.05, integer: true })],
] as const

for (const [name, make] of MECHANISMS) {
  t.test(`${name}: a second release throws VEILBOX_ERR_INTERNAL`, async (t) => {
    const m = make()
    const r = m.reserveNow(3)
    t.equal(r.size, 3)
    const first = r.release([1, 2, 3])
    t.equal(first.length, 3)
    for (const v of first) t.equal(v.exp, m.gridExp)
    const again = errorOf(() => r.release([1]))
    t.equal(again.code, 'VEILBOX_ERR_INTERNAL')
    t.match(again.detail, /releases once; this one has released already/)
    t.equal(errorOf(() => r.release([])).code, 'VEILBOX_ERR_INTERNAL', 'even an empty second release')
  })

  t.test(`${name}: releaseInTurns after release, and release after releaseInTurns, throw`, async (t) => {
    const m = make()
    const r = await m.reserve(4)
    r.release([0, 0])
    const err = await rejectionOf(() => r.releaseInTurns([0, 0]))
    t.equal(err.code, 'VEILBOX_ERR_INTERNAL')

    const s = await m.reserve(4)
    const released = await s.releaseInTurns([5, 6, 7, 8], 1)
    t.equal(released.length, 4)
    t.equal(errorOf(() => s.release([5])).code, 'VEILBOX_ERR_INTERNAL')
    t.equal((await rejectionOf(() => s.releaseInTurns([5]))).code, 'VEILBOX_ERR_INTERNAL')

    // A release in turns uses the reservation up from its first step, not when it finishes.
    const u = m.reserveNow(4)
    const pending = u.releaseInTurns([1, 2, 3, 4], 1)
    t.equal(errorOf(() => u.release([1])).code, 'VEILBOX_ERR_INTERNAL', 'while the first is still yielding')
    t.equal((await pending).length, 4)
  })

  t.test(`${name}: at most size values`, async (t) => {
    const m = make()
    const r = m.reserveNow(2)
    const err = errorOf(() => r.release([1, 2, 3]))
    t.equal(err.code, 'VEILBOX_ERR_INTERNAL')
    t.equal(err.detail, 'a noise reservation of 2 values was asked to release 3; nothing was released')
    t.equal(errorOf(() => r.release([1])).code, 'VEILBOX_ERR_INTERNAL', 'and the reservation is used up')
    const s = m.reserveNow(2)
    t.equal((await rejectionOf(() => s.releaseInTurns([1, 2, 3]))).code, 'VEILBOX_ERR_INTERNAL')
    t.equal(m.reserveNow(2).release([9]).length, 1, 'fewer than size is allowed')
    r.end()
    s.end()
  })

  t.test(`${name}: end() then release throws`, async (t) => {
    const m = make()
    const r = m.reserveNow(2)
    r.end()
    const err = errorOf(() => r.release([1]))
    t.equal(err.code, 'VEILBOX_ERR_INTERNAL')
    t.match(err.detail, /releases once; this one has ended/)
    t.equal((await rejectionOf(() => r.releaseInTurns([1]))).code, 'VEILBOX_ERR_INTERNAL')
    r.end()
    t.pass('ending twice does nothing')
  })
}

t.test('ending a reservation frees its samples in the pool', async (t) => {
  const { pool, reserve, reserveNow } = withPool('end')
  const a = reserveNow(5)
  const b = await reserve(7)
  t.equal(pool.reservedCount, 12, 'both reservations hold their samples')
  t.ok(pool.size >= 12, 'and the samples are drawn')
  a.end()
  t.equal(pool.reservedCount, 7)
  a.end()
  t.equal(pool.reservedCount, 7, 'ending twice frees once')
  b.end()
  t.equal(pool.reservedCount, 0)
})

t.test('a release, whole or in turns, also frees the reservation, even one that fails', async (t) => {
  const { pool, reserve, reserveNow } = withPool('release')
  const a = reserveNow(3)
  const b = await reserve(4)
  const c = reserveNow(2)
  t.equal(pool.reservedCount, 9)
  a.release([1, 2])
  t.equal(pool.reservedCount, 6, 'a release of fewer than size frees all of it')
  a.end()
  t.equal(pool.reservedCount, 6, 'ending after the release frees nothing more')
  await b.releaseInTurns([1, 2, 3, 4], 1)
  t.equal(pool.reservedCount, 2)
  t.equal(errorOf(() => c.release([1, NaN])).code, 'VEILBOX_ERR_INTERNAL', 'a non-finite exact value')
  t.equal(pool.reservedCount, 0, 'a failed release frees its reservation')
  t.equal(errorOf(() => c.release([1])).code, 'VEILBOX_ERR_INTERNAL', 'and it stays used')
  const d = reserveNow(2)
  t.throws(() => d.release([1, 2, 3]))
  t.equal(pool.reservedCount, 0, 'too many values: nothing is released, and the reservation is used up and freed')
  t.throws(() => d.release([1, 2]), 'it does not release afterwards')
})

t.test("a mechanism's reservation holds samples in its shared pool until it ends", async (t) => {
  const rng = new Rng(seededSource('mechanism'))
  const m = makeLaplace({ sensitivity: 1, epsilon: 0.25, integer: true, rng })
  // The pool the mechanism shares with every mechanism of its parameter (noise-pool.ts poolFor).
  const pool = poolFor(rng, `laplace:${m.scaleSteps.num}/${m.scaleSteps.den}`, () => 0n)
  t.equal(pool.reservedCount, 0)
  const r = m.reserveNow(6)
  const s = await m.reserve(4)
  t.equal(pool.reservedCount, 10)
  r.end()
  t.equal(pool.reservedCount, 4)
  s.release([1, 2, 3, 4])
  t.equal(pool.reservedCount, 0)
})

t.test('reserve sizes are checked', async (t) => {
  const m = makeLaplace({ sensitivity: 1, epsilon: 1, integer: true })
  t.equal(errorOf(() => m.reserveNow(0)).code, 'VEILBOX_ERR_DP_INVALID_PARAMETER')
  t.equal(errorOf(() => m.reserveNow(1.5)).code, 'VEILBOX_ERR_DP_INVALID_PARAMETER')
  t.equal((await rejectionOf(() => m.reserve(-1))).code, 'VEILBOX_ERR_DP_INVALID_PARAMETER')
})
