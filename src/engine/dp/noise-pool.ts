/**
 * Noise drawn ahead of need, so that releasing a value takes constant time.
 *
 * Why: the exact samplers are rejection loops whose running time grows with
 * the size of the sample they return (a larger |Z| needs a longer geometric
 * run). Sampling while answering would let anyone with a stopwatch estimate
 * the noise and subtract it: Jin et al., "Are We There Yet? Timing and
 * Floating-Point Attacks on Differential Privacy Systems" (IEEE S&P 2022).
 *
 * So each (distribution, parameter) has a pool of independent samples drawn
 * off the request path: `reserve(n)` draws before the exact answer exists
 * (the engine awaits it while the sandbox computes), and once a parameter is
 * in use again (a second `reserve`, or a second take that found the pool
 * empty) a refill is queued with setImmediate after every take, up to a
 * reserve: the largest demand the pool has seen (a reservation's n, or CHUNK),
 * at most STEADY. A parameter used once (an analyst trying one more epsilon)
 * gets exactly the samples its reservation asked for and no reserve: a fixed
 * reserve of STEADY for every scale, most never seen again, was most of the
 * noise work under a stream of distinct queries. `take()` removes a uniformly chosen
 * element (swap with the last, pop): O(1), and it unlinks which sample a
 * release used from when that sample was drawn, so the duration of a
 * background refill says nothing about any particular released value.
 *
 * A reservation holds its n samples: it draws until the pool holds every
 * sample reserved by the reservations still open, its own included, and returns
 * the function that ends the reservation once the release is over (values
 * taken, or the query failed first). Several mechanisms of one plan, or
 * several queries in flight, can share one pool (same distribution and
 * parameter); without reservations the second one saw the first one's
 * samples as its own, drew nothing, and its release found the pool empty.
 *
 * Residual channel, stated plainly: a take from an empty pool (a burst larger
 * than what was reserved) draws a chunk of CHUNK samples synchronously and
 * takes one of them at random. That release's duration then depends on the
 * sum of CHUNK draws, of which its own is one, which dilutes the correlation
 * by roughly 1/sqrt(CHUNK) but does not remove it. Reserve the
 * number of values you will release.
 */
import type { Rng } from './random.js'

/** Samples drawn per synchronous step, background or empty-pool. */
export const CHUNK = 64
/** At most this many samples are kept ready for a parameter between requests. */
export const STEADY = 256
/** Pools kept per generator; the least recently used is dropped past this. */
export const MAX_POOLS = 128

/** Ends a reservation of noise samples (see `reserve`); calling it again does nothing. */
export type EndReservation = () => void

let emptyTakes = 0

/** Takes that found their pool empty and drew on the release path, since the process started (each one is the residual channel above). */
export function emptyTakeCount(): number {
  return emptyTakes
}

export class NoisePool {
  private readonly items: bigint[] = []
  private refillQueued = false
  /** Times the pool was asked for samples (a reservation, or a take from empty); a reserve is kept from the second on. */
  private demands = 0
  /** The largest demand seen, at most STEADY. */
  private largest = 0
  /** Samples promised to open reservations (some may be taken already). */
  private reserved = 0

  constructor(
    private readonly rng: Rng,
    private readonly draw: () => bigint,
  ) {}

  get size(): number {
    return this.items.length
  }

  /** One pre-drawn sample, chosen uniformly among those ready. */
  take(): bigint {
    if (this.items.length === 0) {
      emptyTakes += 1
      this.demand(CHUNK)
      this.fill(CHUNK)
    }
    const last = this.items.length - 1
    const i = this.rng.uniformSmall(last + 1)
    const v = this.items[i]!
    this.items[i] = this.items[last]!
    this.items.pop()
    this.queueRefill()
    return v
  }

  /**
   * Reserves n samples: resolves once the pool holds every sample of the open
   * reservations, these n included. Draws in chunks and yields to the event
   * loop between them, so that other requests keep flowing. Call the function
   * it resolves to once the release is over; until then the n count as
   * promised, taken or not.
   */
  async reserve(n: number): Promise<EndReservation> {
    this.demand(n)
    this.reserved += n
    const end = this.ender(n)
    try {
      while (this.items.length < this.reserved) {
        this.fill(Math.min(CHUNK, this.reserved - this.items.length))
        if (this.items.length < this.reserved) await new Promise<void>((resolve) => setImmediate(resolve))
      }
    } catch (err) {
      end()
      throw err
    }
    return end
  }

  /**
   * The same as `reserve`, drawing on the caller's thread now (tests, and
   * releases too small to be worth a turn of the event loop).
   */
  reserveNow(n: number): EndReservation {
    this.demand(n)
    this.reserved += n
    const end = this.ender(n)
    try {
      if (this.items.length < this.reserved) this.fill(this.reserved - this.items.length)
    } catch (err) {
      end()
      throw err
    }
    return end
  }

  private ender(n: number): EndReservation {
    let open = true
    return () => {
      if (!open) return
      open = false
      this.reserved -= n
    }
  }

  /** Samples promised to reservations not yet ended. */
  get reservedCount(): number {
    return this.reserved
  }

  /** Samples kept ready between requests: none for a parameter asked for once. */
  get keptReady(): number {
    return this.demands >= 2 ? this.largest : 0
  }

  private demand(n: number): void {
    this.demands += 1
    this.largest = Math.max(this.largest, Math.min(n, STEADY))
  }

  private fill(count: number): void {
    for (let i = 0; i < count; i++) this.items.push(this.draw())
  }

  private queueRefill(): void {
    if (this.refillQueued || this.items.length >= this.keptReady) return
    this.refillQueued = true
    setImmediate(() => {
      this.refillQueued = false
      try {
        this.fill(Math.min(CHUNK, this.keptReady - this.items.length))
      } catch {
        // A failing random source must surface on the request path, where
        // the synchronous draw of the next take raises it; here it would
        // only crash the process.
        return
      }
      this.queueRefill()
    }).unref()
  }
}

const registry = new WeakMap<Rng, Map<string, NoisePool>>()

/** The shared pool of one generator for one distribution and parameter. */
export function poolFor(rng: Rng, key: string, draw: () => bigint): NoisePool {
  let pools = registry.get(rng)
  if (!pools) {
    pools = new Map()
    registry.set(rng, pools)
  }
  let pool = pools.get(key)
  if (pool) {
    // Map order is insertion order: re-inserting marks it most recently used.
    pools.delete(key)
  } else {
    pool = new NoisePool(rng, draw)
    if (pools.size >= MAX_POOLS) pools.delete(pools.keys().next().value!)
  }
  pools.set(key, pool)
  return pool
}
