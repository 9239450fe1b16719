/**
 * Statistics for the sampler tests: chi-square goodness of fit with pooled
 * tails, the critical value for a false-failure probability of 1e-6, and a
 * deterministic byte source for reproducible parity tests.
 *
 * Every threshold is set so that a correct sampler fails a test with
 * probability below 1e-6: chi-square at the Wilson-Hilferty 1e-6 quantile
 * times a margin (checked against the exact quantile in stats.test.ts), and
 * z-tests at |z| < 5 (two-sided 5.7e-7).
 */
import { createHash } from 'node:crypto'

import type { RandomSource } from '../../../src/engine/dp/random.js'

/** z with P(N(0,1) > z) = 1e-6. */
export const Z_1E6 = 4.753424308822899
/** Two-sided z-test threshold: P(|N(0,1)| > 5) = 5.7e-7 < 1e-6. */
export const Z_LIMIT = 5

/** Wilson-Hilferty approximation of the upper-p chi-square quantile, times a safety margin. */
export function chiSquareCritical(df: number, z = Z_1E6, margin = 1.05): number {
  const c = 2 / (9 * df)
  return df * (1 - c + z * Math.sqrt(c)) ** 3 * margin
}

function lnGamma(x: number): number {
  // Lanczos, g = 7, n = 9 (about 15 significant digits).
  const g = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ]
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x)
  x -= 1
  let a = g[0]!
  const t = x + 7.5
  for (let i = 1; i < 9; i++) a += g[i]! / (x + i)
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a)
}

/** Regularized upper incomplete gamma Q(a, x) (series or continued fraction). */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1
  const lead = -x + a * Math.log(x) - lnGamma(a)
  if (x < a + 1) {
    let sum = 1 / a
    let term = sum
    for (let n = 1; n < 10000; n++) {
      term *= x / (a + n)
      sum += term
      if (Math.abs(term) < Math.abs(sum) * 1e-16) break
    }
    return 1 - sum * Math.exp(lead)
  }
  let b = x + 1 - a
  let c = 1 / 1e-300
  let d = 1 / b
  let h = d
  for (let i = 1; i < 10000; i++) {
    const an = -i * (i - a)
    b += 2
    d = an * d + b
    if (Math.abs(d) < 1e-300) d = 1e-300
    c = b + an / c
    if (Math.abs(c) < 1e-300) c = 1e-300
    d = 1 / d
    const delta = d * c
    h *= delta
    if (Math.abs(delta - 1) < 1e-16) break
  }
  return Math.exp(lead) * h
}

/** P(chi-square with df degrees of freedom > x). */
export function chiSquareSurvival(x: number, df: number): number {
  return gammaQ(df / 2, x / 2)
}

export interface GofResult {
  readonly stat: number
  readonly df: number
  readonly critical: number
  readonly pass: boolean
  readonly bins: number
}

/**
 * Chi-square goodness of fit of integer samples against a pmf on a window
 * [-R, R] outside which the pmf is negligible. Bins: every integer whose
 * expected count is >= 5 in the central run around `center`, and two tail
 * bins (merged into their neighbours when their expectation is below 5).
 */
export function chiSquareGof(
  counts: Map<number, number>,
  n: number,
  pmf: (x: number) => number,
  window: number,
  center = 0,
): GofResult {
  const p = (x: number): number => pmf(x)
  let lo = center
  let hi = center
  while (n * p(lo - 1) >= 5) lo--
  while (n * p(hi + 1) >= 5) hi++
  const expected: number[] = []
  const observed: number[] = []
  for (let x = lo; x <= hi; x++) {
    expected.push(n * p(x))
    observed.push(counts.get(x) ?? 0)
  }
  let leftE = 0
  let rightE = 0
  for (let x = center - window; x < lo; x++) leftE += n * p(x)
  for (let x = hi + 1; x <= center + window; x++) rightE += n * p(x)
  let leftO = 0
  let rightO = 0
  for (const [x, c] of counts) {
    if (x < lo) leftO += c
    else if (x > hi) rightO += c
  }
  if (leftE >= 5) {
    expected.unshift(leftE)
    observed.unshift(leftO)
  } else {
    expected[0]! += leftE
    observed[0]! += leftO
  }
  if (rightE >= 5) {
    expected.push(rightE)
    observed.push(rightO)
  } else {
    expected[expected.length - 1]! += rightE
    observed[observed.length - 1]! += rightO
  }
  let stat = 0
  for (let i = 0; i < expected.length; i++) stat += (observed[i]! - expected[i]!) ** 2 / expected[i]!
  const df = expected.length - 1
  const critical = chiSquareCritical(df)
  return { stat, df, critical, pass: stat <= critical, bins: expected.length }
}

/**
 * Symmetry: for each x >= 1 with enough samples on both sides, c(x) and
 * c(-x) split c(x) + c(-x) as Binomial(., 1/2); the sum of squared z-scores
 * is chi-square with one degree of freedom per pair.
 */
export function symmetryTest(counts: Map<number, number>, minPair = 20): GofResult {
  let stat = 0
  let df = 0
  for (const [x, c] of counts) {
    if (x <= 0) continue
    const d = counts.get(-x) ?? 0
    if (c + d < minPair) continue
    stat += (c - d) ** 2 / (c + d)
    df += 1
  }
  const critical = chiSquareCritical(Math.max(df, 1))
  return { stat, df, critical, pass: stat <= critical, bins: df }
}

/** z-score of an observed count against Binomial(n, p). */
export function binomialZ(observed: number, n: number, p: number): number {
  return (observed - n * p) / Math.sqrt(n * p * (1 - p))
}

export function tally(draw: () => number | bigint, n: number): Map<number, number> {
  const counts = new Map<number, number>()
  for (let i = 0; i < n; i++) {
    const x = Number(draw())
    counts.set(x, (counts.get(x) ?? 0) + 1)
  }
  return counts
}

/** Deterministic bytes: SHA-256 in counter mode over a seed. Tests only. */
export function seededSource(seed: string): RandomSource {
  let counter = 0
  let block = Buffer.alloc(0)
  let pos = 0
  return {
    fill(bytes: Uint8Array): void {
      for (let i = 0; i < bytes.length; i++) {
        if (pos === block.length) {
          block = createHash('sha256').update(`${seed}:${counter++}`).digest()
          pos = 0
        }
        bytes[i] = block[pos++]!
      }
    },
  }
}

/** A source that replays the given bytes, then zeros. */
export function scriptedSource(bytes: readonly number[]): RandomSource {
  let pos = 0
  return {
    fill(out: Uint8Array): void {
      for (let i = 0; i < out.length; i++) out[i] = pos < bytes.length ? bytes[pos++]! : 0
    },
  }
}

export function pearson(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length
  let mx = 0
  let my = 0
  for (let i = 0; i < n; i++) {
    mx += xs[i]!
    my += ys[i]!
  }
  mx /= n
  my /= n
  let sxy = 0
  let sxx = 0
  let syy = 0
  for (let i = 0; i < n; i++) {
    const dx = xs[i]! - mx
    const dy = ys[i]! - my
    sxy += dx * dy
    sxx += dx * dx
    syy += dy * dy
  }
  return sxy / Math.sqrt(sxx * syy)
}

/** Ranks with ties averaged (for Spearman's rho = Pearson on ranks). */
export function ranks(xs: readonly number[]): number[] {
  const order = xs.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0])
  const out = new Array<number>(xs.length)
  for (let i = 0; i < order.length; ) {
    let j = i
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++
    const avg = (i + j) / 2
    for (let k = i; k <= j; k++) out[order[k]![1]] = avg
    i = j + 1
  }
  return out
}

export function spearman(xs: readonly number[], ys: readonly number[]): number {
  return pearson(ranks(xs), ranks(ys))
}

/** Exact discrete Laplace pmf with scale b. */
export function laplacePmf(b: number): (x: number) => number {
  const q = Math.exp(-1 / b)
  const c = -Math.expm1(-1 / b) / (1 + q)
  return (x) => c * Math.exp(-Math.abs(x) / b)
}

/** Exact discrete Gaussian pmf with parameter sigma^2, normalized over a wide window. */
export function gaussianPmf(sigma2: number): (x: number) => number {
  const r = Math.ceil(40 * Math.sqrt(sigma2)) + 10
  let z = 0
  for (let x = -r; x <= r; x++) z += Math.exp(-(x * x) / (2 * sigma2))
  return (x) => Math.exp(-(x * x) / (2 * sigma2)) / z
}
