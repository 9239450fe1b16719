import { makeGaussian, type GaussianMechanism, type GaussianOptions } from './gaussian.js'
import { makeLaplace, type LaplaceMechanism, type LaplaceOptions } from './laplace.js'
import { makeHistogramQuantile, type HistogramQuantile, type HistogramQuantileOptions } from './quantile.js'
import { Rational } from './rational.js'

/**
 * Mechanisms are immutable values fixed by their parameters, so a planner may
 * reuse one for every query with the same parameters: building one is exact
 * rational arithmetic (grids, sensitivities in steps), dearer than the rest of
 * a plan. Noise is never shared by value: every release takes fresh samples
 * from the mechanism's pool. Options with an injected generator (tests) are
 * not cached.
 */
const LIMIT = 4096
const cache = new Map<string, unknown>()

function keyOf(kind: string, options: object): string | null {
  if ('rng' in options && (options as { rng?: unknown }).rng !== undefined) return null
  const parts = Object.entries(options)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v instanceof Rational ? `${v.num}/${v.den}` : String(v)}`)
  return `${kind}|${parts.join('|')}`
}

function memo<T>(kind: string, options: object, make: () => T): T {
  const key = keyOf(kind, options)
  if (key === null) return make()
  const hit = cache.get(key)
  if (hit !== undefined) {
    // Refresh its place: the cache evicts the least recently used.
    cache.delete(key)
    cache.set(key, hit)
    return hit as T
  }
  const made = make()
  if (cache.size >= LIMIT) cache.delete(cache.keys().next().value!)
  cache.set(key, made)
  return made
}

export function memoLaplace(options: LaplaceOptions): LaplaceMechanism {
  return memo('laplace', options, () => makeLaplace(options))
}

export function memoGaussian(options: GaussianOptions): GaussianMechanism {
  return memo('gaussian', options, () => makeGaussian(options))
}

export function memoHistogramQuantile(options: HistogramQuantileOptions): HistogramQuantile {
  return memo('histogram', options, () => makeHistogramQuantile(options))
}
