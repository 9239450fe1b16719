/**
 * The noise pool draws ahead of need (timing, see noise-pool.ts) and keeps a
 * reserve only for parameters that come back: a scale used once gets exactly
 * what its reservation asked for, one used again keeps its largest demand ready.
 */
import t from 'tap'
import { CHUNK, NoisePool, STEADY, emptyTakeCount, poolFor } from '../../../src/engine/dp/noise-pool.js'
import { Rng } from '../../../src/engine/dp/random.js'
import { seededSource } from './stats.js'

/** Runs queued setImmediate callbacks until the pool stops growing. */
async function settle(): Promise<void> {
  for (let i = 0; i < 64; i++) await new Promise<void>((r) => setImmediate(r))
}

function counted(seed: string): { pool: NoisePool; draws: () => number } {
  let n = 0
  const pool = new NoisePool(new Rng(seededSource(seed)), () => BigInt(n++))
  return { pool, draws: () => n }
}

t.test('a parameter reserved once draws what was asked and keeps no reserve', async (t) => {
  const { pool, draws } = counted('once')
  const end = await pool.reserve(21)
  t.equal(draws(), 21)
  for (let i = 0; i < 21; i++) pool.take()
  end()
  await settle()
  t.equal(draws(), 21, 'no background refill for a one-off scale')
  t.equal(pool.size, 0)
  t.equal(pool.keptReady, 0)
})

t.test('a parameter used again keeps its largest demand ready between requests', async (t) => {
  const { pool, draws } = counted('again')
  const first = await pool.reserve(5)
  for (let i = 0; i < 5; i++) pool.take()
  first()
  const second = await pool.reserve(30)
  t.equal(pool.keptReady, 30)
  pool.take()
  await settle()
  t.equal(pool.size, 30, 'refilled to the reserve')
  t.equal(draws(), 5 + 30 + 1, 'every draw is in the pool or was taken')
  second()
  const third = await pool.reserve(1000)
  t.equal(pool.size, 1000, 'a reservation draws all it asks for')
  t.equal(pool.keptReady, STEADY, 'the reserve is capped')
  third()
})

t.test('reservations that share a pool reserve their samples on top of each other', async (t) => {
  const { pool, draws } = counted('shared')
  const before = emptyTakeCount()
  // Two mechanisms of one plan, or two queries in flight, with one noise parameter.
  const [a, b] = await Promise.all([pool.reserve(7), pool.reserve(7)])
  t.equal(pool.size, 14, 'both reservations are drawn')
  t.equal(pool.reservedCount, 14)
  for (let i = 0; i < 14; i++) pool.take()
  t.equal(emptyTakeCount(), before, 'no release found the pool empty')
  a()
  a()
  t.equal(pool.reservedCount, 7, 'ending a reservation twice ends it once')
  b()
  t.equal(pool.reservedCount, 0)
  const c = await pool.reserve(3)
  t.equal(draws(), 17, 'a later reservation draws only its own')
  c()
})

t.test('a reservation whose draw fails ends itself', async (t) => {
  let fail = false
  let n = 0
  const pool = new NoisePool(new Rng(seededSource('fails')), () => {
    if (fail) throw new Error('no randomness')
    return BigInt(n++)
  })
  const ok = await pool.reserve(2)
  fail = true
  await t.rejects(pool.reserve(5), /no randomness/)
  t.equal(pool.reservedCount, 2, 'only the open reservation is counted')
  ok()
})

t.test('a take from an empty pool counts as an empty take', async (t) => {
  const { pool } = counted('counted-empty')
  const before = emptyTakeCount()
  pool.take()
  t.equal(emptyTakeCount(), before + 1)
})

t.test('a take from an empty pool draws a chunk and marks the parameter as in use', async (t) => {
  const { pool, draws } = counted('empty')
  const v = pool.take()
  t.ok(v >= 0n && v < BigInt(CHUNK), 'the value is one of the chunk just drawn')
  t.equal(draws(), CHUNK)
  t.equal(pool.size, CHUNK - 1)
  t.equal(pool.keptReady, 0, 'one demand is not yet a reserve')
  for (let i = 0; i < CHUNK - 1; i++) pool.take()
  pool.take()
  t.equal(pool.keptReady, CHUNK, 'the second empty take is')
  await settle()
  t.equal(pool.size, CHUNK)
})

t.test('each sample is taken once', async (t) => {
  const { pool } = counted('distinct')
  const end = await pool.reserve(200)
  t.teardown(end)
  const seen = new Set<bigint>()
  for (let i = 0; i < 200; i++) seen.add(pool.take())
  t.equal(seen.size, 200, 'no sample released twice')
})

t.test('poolFor shares one pool per generator and key', async (t) => {
  const rng = new Rng(seededSource('registry'))
  const a = poolFor(rng, 'k', () => 1n)
  t.equal(
    poolFor(rng, 'k', () => 2n),
    a,
  )
  t.not(
    poolFor(rng, 'other', () => 3n),
    a,
  )
  t.not(
    poolFor(new Rng(seededSource('registry-2')), 'k', () => 4n),
    a,
  )
})

t.test('reserveNow draws on the spot, on top of the open reservations, and ends like reserve', async (t) => {
  const { pool, draws } = counted('now')
  const a = await pool.reserve(4)
  const b = pool.reserveNow(6)
  t.equal(draws(), 10, 'drawn before reserveNow returns, without a turn of the event loop')
  t.equal(pool.size, 10)
  t.equal(pool.reservedCount, 10)
  for (let i = 0; i < 4; i++) pool.take()
  a()
  const c = pool.reserveNow(3)
  t.equal(draws(), 13, "the pool held b's 6, so c draws its own 3")
  t.equal(pool.reservedCount, 9)
  t.ok(pool.size >= 9)
  b()
  b()
  t.equal(pool.reservedCount, 3, 'ending twice ends once')
  c()
  t.equal(pool.reservedCount, 0)
})

t.test('a reserveNow whose draw fails ends its own reservation and throws', async (t) => {
  let fail = false
  const pool = new NoisePool(new Rng(seededSource('now-fail')), () => {
    if (fail) throw new Error('no randomness')
    return 1n
  })
  const ok = pool.reserveNow(2)
  fail = true
  t.throws(() => pool.reserveNow(5), /no randomness/)
  t.equal(pool.reservedCount, 2, 'only the open reservation is counted')
  ok()
  t.equal(pool.reservedCount, 0)
})
