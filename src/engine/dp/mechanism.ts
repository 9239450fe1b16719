/**
 * What the Laplace and Gaussian mechanisms share: exact inputs, the release
 * grid, rounding onto it, and the released value with its interval.
 *
 * The grid. A mechanism releases multiples of 2^k. k is chosen from public
 * parameters only (sensitivity, budget, declared input exponent), never from
 * the data: k = floor(log2(noise scale)) - GRID_BITS, raised to the input's
 * known exponent (so a COUNT, declared integer, is released on the integers).
 * The exact answer is rounded to the grid (half up, in integers), integer
 * noise is added, and the result is units * 2^k exactly. Floating-point
 * noise would leak the true value through its low bits (Mironov, "On
 * Significance of the Least Significant Bits for Differential Privacy",
 * CCS 2012).
 *
 * Rounding and sensitivity. If |x - x'| <= D then the rounded values differ
 * by at most ceil(D / 2^k) grid steps (floor(u + 1/2) - floor(v + 1/2) is an
 * integer below u - v + 1). When one privacy unit can change c released
 * coordinates (groups, bins), each coordinate may gain up to one step from
 * rounding: L1 grows to at most ceil(D / 2^k) + c - 1 steps, L2 to at most
 * D / 2^k + sqrt(c). No rounding happens when the input is known to lie on
 * the grid already, and then none of this is added.
 */
import { VeilboxError } from '../../errors/index.js'
import { Rational, decompose, floorDiv, pow2, scaleByPow2 } from './rational.js'
import { integerIn, invalid, openUnit, positiveInteger, type Amount } from './validate.js'
import type { EndReservation } from './noise-pool.js'
import type { Rng } from './random.js'

export type { EndReservation }

/** The grid is 2^GRID_BITS times finer than the noise scale (about 1e-6 of it). */
export const GRID_BITS = 20
/** Exponents are kept where 2^k is a normal or subnormal double. */
export const MIN_EXP = -1074
export const MAX_EXP = 1023

/** units * 2^exp, the exec layer's exact form (see src/engine/exec/types.ts). */
export interface ExactValue {
  readonly units: bigint
  readonly exp: number
}

/** An exact answer: a finite double, an integer, or units of 2^exp. */
export type ExactInput = number | bigint | ExactValue

/** A noisy value: units * 2^exp, exactly, with exp the mechanism's grid. */
export interface Released {
  readonly units: bigint
  readonly exp: number
  /** The nearest double; exact whenever |units| < 2^53 and 2^exp is in range. */
  readonly value: number
}

/** A confidence interval on a mechanism's grid, in value units. */
export interface GridInterval {
  readonly loUnits: bigint
  readonly hiUnits: bigint
  readonly exp: number
  /** Directed rounding: lo <= loUnits * 2^exp and hi >= hiUnits * 2^exp. */
  readonly lo: number
  readonly hi: number
  readonly confidence: number
}

export interface MechanismOptions {
  /**
   * The exact values are integers (COUNT, SUM of an integer column): the grid
   * is then at least 1 and integer answers are released as integers.
   */
  readonly integer?: boolean
  /**
   * Exact values are always multiples of 2^inputExp (a kernel's unit
   * exponent). The grid is never finer than that.
   */
  readonly inputExp?: number
  /**
   * How many released coordinates (groups, histogram bins) one privacy unit
   * can change at most; used only when rounding to the grid can happen.
   * Default 1.
   */
  readonly coordinates?: number
  /** Tests only: a generator over a deterministic source. */
  readonly rng?: Rng
}

export interface Mechanism {
  readonly kind: 'laplace' | 'gaussian'
  /** The sensitivity the mechanism was built for, in value units. */
  readonly sensitivity: Rational
  /** The grid exponent k: released values are multiples of 2^k. */
  readonly gridExp: number
  /** Whether an exact value can be off the grid (then it is rounded). */
  readonly roundsInput: boolean
  /** The noise scale in grid steps: b for Laplace, sigma for Gaussian (approximate double). */
  readonly noiseScaleSteps: number
  /** The same in value units. */
  readonly noiseScale: number
  /**
   * Reserves and draws n samples ahead, off the release path (the engine
   * awaits it while the sandbox computes). The reservation releases once.
   */
  reserve(n: number): Promise<Reservation>
  /** The same, drawing the n samples now on the caller's thread (tests, small releases). */
  reserveNow(n: number): Reservation
  /** Privacy map: the epsilon (Laplace) or rho (Gaussian) spent on inputs at distance dIn (L1 or L2). */
  privacyMap(dIn: Amount): Rational
  /** Half-width in grid steps at this confidence, rounding included. */
  halfWidthSteps(confidence: number): bigint
  /** The same in value units (rounded up to a double). */
  halfWidth(confidence: number): number
  /** The interval at this confidence around a value this mechanism released. */
  interval(released: Released, confidence: number): GridInterval
}

/**
 * Noise reserved for one release of up to n values. A mechanism is a
 * calibration shared by every query with its parameters (memo.ts); a
 * reservation is one query's use of it, and yields exactly one release: a
 * second call throws, as a second Result() does in Google's DP library.
 */
export interface Reservation {
  /** How many values the reservation covers. */
  readonly size: number
  /** Rounds each exact value to the grid and adds its noise; once, at most `size` values. Ends the reservation. */
  release(exact: readonly ExactInput[]): Released[]
  /**
   * The same release, giving the event loop a turn every `perTurn` values (a
   * release of 100,000 values must not hold the main thread). It is the
   * reservation's one release as well: either call uses it up.
   */
  releaseInTurns(exact: readonly ExactInput[], perTurn?: number): Promise<Released[]>
  /** Ends the reservation without releasing (the query failed); calling it again does nothing. */
  end(): void
}

export interface GridChoice {
  readonly gridExp: number
  readonly knownExp: number | undefined
  readonly roundsInput: boolean
  readonly coordinates: number
}

/**
 * Picks the grid from the noise scale in value units (b, or sigma via its
 * square) and the declared input exponent.
 */
export function chooseGrid(log2Scale: number, options: MechanismOptions): GridChoice {
  const inputExp =
    options.inputExp === undefined ? undefined : integerIn('inputExp', options.inputExp, MIN_EXP, MAX_EXP)
  if (options.integer !== undefined && typeof options.integer !== 'boolean')
    throw invalid('integer', 'a boolean', options.integer)
  const coordinates = options.coordinates === undefined ? 1 : positiveInteger('coordinates', options.coordinates)
  let knownExp = inputExp
  if (options.integer) knownExp = Math.max(knownExp ?? 0, 0)
  let gridExp = Math.min(MAX_EXP, Math.max(MIN_EXP, log2Scale - GRID_BITS))
  if (knownExp !== undefined) gridExp = Math.max(gridExp, knownExp)
  const roundsInput = knownExp === undefined || gridExp > knownExp
  return { gridExp, knownExp, roundsInput, coordinates }
}

/** An exact input as units * 2^exp, refusing anything that is not finite. */
export function toExact(x: ExactInput): ExactValue {
  if (typeof x === 'number') {
    if (!Number.isFinite(x)) {
      throw new VeilboxError('VEILBOX_ERR_INTERNAL', `an exact value handed to a mechanism must be finite, got ${x}`)
    }
    return decompose(x)
  }
  if (typeof x === 'bigint') return { units: x, exp: 0 }
  if (typeof x !== 'object' || x === null || typeof x.units !== 'bigint' || !Number.isSafeInteger(x.exp)) {
    throw new VeilboxError(
      'VEILBOX_ERR_INTERNAL',
      'an exact value must be a finite number, a bigint or { units: bigint, exp: integer }',
    )
  }
  return x
}

/** round-half-up(x / 2^k) for x = units * 2^exp, in integers. */
export function toGridSteps(x: ExactValue, k: number): bigint {
  if (x.exp >= k) return x.units << BigInt(x.exp - k)
  const d = k - x.exp
  return floorDiv(x.units + pow2(d - 1), pow2(d))
}

export function releasedOf(units: bigint, exp: number): Released {
  const value =
    units >= -(1n << 53n) && units <= 1n << 53n
      ? scaleByPow2(Number(units), exp)
      : Rational.dyadic(units, exp).toNumber()
  return Object.freeze({ units, exp, value })
}

/** Sensitivity in grid steps for a value-unit sensitivity d, L1 form. */
export function l1Steps(d: Rational, grid: GridChoice): bigint {
  const base = d.shift(-grid.gridExp).ceil()
  return grid.roundsInput ? base + BigInt(grid.coordinates - 1) : base
}

/** An exact upper bound on the L2 sensitivity in grid steps (ceil, so it is an integer). */
export function l2Steps(d: Rational, grid: GridChoice): bigint {
  const scaled = d.shift(-grid.gridExp)
  if (!grid.roundsInput) return scaled.ceil()
  // D/2^k + sqrt(c) <= D/2^k + ceil(sqrt(c))
  const c = BigInt(grid.coordinates)
  let r = BigInt(Math.ceil(Math.sqrt(grid.coordinates)))
  while (r * r < c) r += 1n
  while (r > 1n && (r - 1n) * (r - 1n) >= c) r -= 1n
  return scaled.add(Rational.of(r)).ceil()
}

/** The shared machinery of both mechanisms, given a noise source and a half-width rule. */
export function buildRelease(
  grid: GridChoice,
  noise: NoiseSource,
  noiseHalfWidth: (alpha: number) => bigint,
): Pick<Mechanism, 'reserve' | 'reserveNow' | 'halfWidthSteps' | 'halfWidth' | 'interval'> {
  const k = grid.gridExp
  const widths = new Map<number, bigint>()
  const halfWidthSteps = (confidence: number): bigint => {
    openUnit('confidence', confidence)
    let h = widths.get(confidence)
    if (h === undefined) {
      // The exact value may sit up to half a step from its rounded value: one
      // more step keeps it inside, and keeps the interval on the grid.
      h = noiseHalfWidth(1 - confidence) + (grid.roundsInput ? 1n : 0n)
      widths.set(confidence, h)
    }
    return h
  }
  const reservation = (n: number, endNoise: EndReservation): Reservation => {
    let state: 'open' | 'released' | 'ended' = 'open'
    const begin = (count: number): void => {
      if (state !== 'open') {
        throw new VeilboxError(
          'VEILBOX_ERR_INTERNAL',
          `a noise reservation releases once; this one has ${state === 'released' ? 'released already' : 'ended'}`,
        )
      }
      if (count > n) {
        // A caller bug like a second release: the reservation is used up either way.
        state = 'released'
        endNoise()
        throw new VeilboxError(
          'VEILBOX_ERR_INTERNAL',
          `a noise reservation of ${n} values was asked to release ${count}; nothing was released`,
        )
      }
      state = 'released'
    }
    const one = (v: ExactInput): Released => releasedOf(toGridSteps(toExact(v), k) + noise.take(), k)
    return Object.freeze({
      size: n,
      release: (exact: readonly ExactInput[]): Released[] => {
        begin(exact.length)
        try {
          return exact.map(one)
        } finally {
          endNoise()
        }
      },
      releaseInTurns: async (exact: readonly ExactInput[], perTurn = 2048): Promise<Released[]> => {
        begin(exact.length)
        try {
          const out: Released[] = []
          for (let i = 0; i < exact.length; i++) {
            out.push(one(exact[i]!))
            if ((i + 1) % perTurn === 0) await new Promise<void>((resolve) => setImmediate(resolve))
          }
          return out
        } finally {
          endNoise()
        }
      },
      end: (): void => {
        if (state === 'open') state = 'ended'
        endNoise()
      },
    })
  }
  return {
    reserve: async (n) => {
      positiveInteger('n', n, 1 << 20)
      return reservation(n, await noise.reserve(n))
    },
    reserveNow: (n) => {
      positiveInteger('n', n, 1 << 20)
      return reservation(n, noise.reserveNow(n))
    },
    halfWidthSteps,
    halfWidth: (confidence) => Rational.dyadic(halfWidthSteps(confidence), k).toNumber('up'),
    interval: (released, confidence) => {
      if (released.exp !== k) throw invalid('released.exp', `the mechanism's grid exponent ${k}`, released.exp)
      const h = halfWidthSteps(confidence)
      const loUnits = released.units - h
      const hiUnits = released.units + h
      return Object.freeze({
        loUnits,
        hiUnits,
        exp: k,
        lo: Rational.dyadic(loUnits, k).toNumber('down'),
        hi: Rational.dyadic(hiUnits, k).toNumber('up'),
        confidence,
      })
    },
  }
}

/** Where a mechanism's noise comes from: its pool (noise-pool.ts). */
export interface NoiseSource {
  take(): bigint
  reserve(n: number): Promise<EndReservation>
  reserveNow(n: number): EndReservation
}
