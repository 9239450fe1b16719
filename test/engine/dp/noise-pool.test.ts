/**
 * The noise pool draws ahead of need (timing, see noise-pool.ts) and keeps a
 * reserve only for parameters that come back: a scale used once gets exactly
 * what its prepare asked for, one used again keeps its largest demand ready.
 */
import t from 'tap'
import { CHUNK, NoisePool, STEADY, poolFor } from '../../../src/engine/dp/noise-pool.js'
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

t.test('a parameter prepared once draws what was asked and keeps no reserve', async (t) => {
  const { pool, draws } = counted('once')
  await pool.prepare(21)
  t.equal(draws(), 21)
  for (let i = 0; i < 21; i++) pool.take()
  await settle()
  t.equal(draws(), 21, 'no background refill for a one-off scale')
  t.equal(pool.size, 0)
  t.equal(pool.reserve, 0)
})

t.test('a parameter used again keeps its largest demand ready between requests', async (t) => {
  const { pool, draws } = counted('again')
  await pool.prepare(5)
  for (let i = 0; i < 5; i++) pool.take()
  await pool.prepare(30)
  t.equal(pool.reserve, 30)
  pool.take()
  await settle()
  t.equal(pool.size, 30, 'refilled to the reserve')
  t.equal(draws(), 5 + 30 + 1, 'every draw is in the pool or was taken')
  await pool.prepare(1000)
  t.equal(pool.size, 1000, 'a prepare draws all it asks for')
  t.equal(pool.reserve, STEADY, 'the reserve is capped')
})

t.test('a take from an empty pool draws a chunk and marks the parameter as in use', async (t) => {
  const { pool, draws } = counted('empty')
  const v = pool.take()
  t.ok(v >= 0n && v < BigInt(CHUNK), 'the value is one of the chunk just drawn')
  t.equal(draws(), CHUNK)
  t.equal(pool.size, CHUNK - 1)
  t.equal(pool.reserve, 0, 'one demand is not yet a reserve')
  for (let i = 0; i < CHUNK - 1; i++) pool.take()
  pool.take()
  t.equal(pool.reserve, CHUNK, 'the second empty take is')
  await settle()
  t.equal(pool.size, CHUNK)
})

t.test('each sample is taken once', async (t) => {
  const { pool } = counted('distinct')
  await pool.prepare(200)
  const seen = new Set<bigint>()
  for (let i = 0; i < 200; i++) seen.add(pool.take())
  t.equal(seen.size, 200, 'no sample released twice')
})

t.test('poolFor shares one pool per generator and key', async (t) => {
  const rng = new Rng(seededSource('registry'))
  const a = poolFor(rng, 'k', () => 1n)
  t.equal(poolFor(rng, 'k', () => 2n), a)
  t.not(poolFor(rng, 'other', () => 3n), a)
  t.not(poolFor(new Rng(seededSource('registry-2')), 'k', () => 4n), a)
})
