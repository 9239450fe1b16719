import t from 'tap'

import {
  discreteGaussianHalfWidth,
  discreteLaplaceHalfWidth,
  discreteLaplaceTail,
  gaussianSumHalfWidth,
  laplaceSumHalfWidth,
  normalQuantileUpper,
  normalUpperTail,
  ratioInterval,
  toNumberInterval,
} from '../../../src/engine/dp/intervals.js'
import { Rational } from '../../../src/engine/dp/rational.js'
import { gaussianPmf, laplacePmf } from './stats.js'

/** P(|Z| > h) by summing a pmf directly. */
function bruteTail(pmf: (x: number) => number, h: number, window: number): number {
  let s = 0
  for (let x = h + 1; x <= window; x++) s += pmf(x) + pmf(-x)
  return s
}

t.test('the normal tail and quantile match reference values', async (t) => {
  // scipy.stats.norm.sf / isf
  const rel = (a: number, b: number): number => Math.abs(a - b) / b
  t.ok(rel(normalUpperTail(1), 0.15865525393145707) < 1e-12)
  t.ok(rel(normalUpperTail(3), 0.0013498980316301035) < 1e-12)
  t.ok(rel(normalUpperTail(10), 7.61985302416047e-24) < 1e-12)
  t.ok(rel(normalQuantileUpper(0.025), 1.959963984540054) < 1e-12)
  t.ok(rel(normalQuantileUpper(0.05), 1.6448536269514722) < 1e-12)
  t.ok(rel(normalQuantileUpper(5e-7), 4.891638475698588) < 1e-10)
})

t.test('discrete Laplace half-width: the smallest safe h, from the exact tail', async (t) => {
  for (const b of [0.5, 1, 3, 20, 1000]) {
    for (const alpha of [0.5, 0.1, 0.05, 0.01, 1e-6]) {
      const h = Number(discreteLaplaceHalfWidth(b, alpha))
      const window = Math.ceil(b * 80) + 50
      const pmf = laplacePmf(b)
      const tail = bruteTail(pmf, h, window)
      if (!(tail <= alpha)) t.fail(`b ${b}, alpha ${alpha}: P(|Z| > ${h}) = ${tail}`)
      if (h > 0 && !(bruteTail(pmf, h - 1, window) > alpha)) t.fail(`b ${b}, alpha ${alpha}: ${h} is not the smallest`)
      if (Math.abs(discreteLaplaceTail(b, h) - tail) > 1e-12) t.fail('closed form and brute force disagree')
      if (!(h <= Math.ceil(b * Math.log(1 / alpha)))) t.fail(`b ${b}, alpha ${alpha}: wider than ceil(b ln(1/alpha))`)
    }
  }
  t.pass('safe, smallest, and within the continuous bound for 25 cases')
})

t.test('discrete Gaussian half-width is safe against the exact tail', async (t) => {
  for (const s2 of [0.25, 1, 10, 400, 1e4]) {
    for (const alpha of [0.1, 0.05, 0.01, 1e-6]) {
      const h = Number(discreteGaussianHalfWidth(s2, alpha))
      const tail = bruteTail(gaussianPmf(s2), h, Math.ceil(40 * Math.sqrt(s2)) + 10)
      if (!(tail <= alpha)) t.fail(`sigma^2 ${s2}, alpha ${alpha}: P(|Z| > ${h}) = ${tail}`)
    }
  }
  t.pass('20 cases')
})

/** Exact pmf of the sum of k i.i.d. discrete Laplace noises, by convolution. */
function sumPmf(b: number, k: number, window: number): Map<number, number> {
  const base = laplacePmf(b)
  let cur = new Map<number, number>([[0, 1]])
  for (let i = 0; i < k; i++) {
    const next = new Map<number, number>()
    for (const [x, p] of cur) {
      for (let z = -window; z <= window; z++) {
        const y = x + z
        if (Math.abs(y) > window) continue
        next.set(y, (next.get(y) ?? 0) + p * base(z))
      }
    }
    cur = next
  }
  return cur
}

t.test('the Chernoff bound for sums of discrete Laplace noise holds against the exact law', async (t) => {
  for (const [b, k] of [
    [1, 1],
    [2, 4],
    [3, 8],
    [0.5, 16],
  ] as const) {
    const window = Math.ceil(b * 40 * Math.sqrt(k)) + 40
    const pmf = sumPmf(b, k, window)
    for (const alpha of [0.1, 0.01, 1e-4]) {
      const h = Number(laplaceSumHalfWidth(b, k, alpha))
      let tail = 0
      for (const [x, p] of pmf) if (Math.abs(x) > h) tail += p
      if (!(tail <= alpha)) t.fail(`b ${b}, k ${k}, alpha ${alpha}: P(|S| > ${h}) = ${tail}`)
    }
  }
  // For one noise the Chernoff bound can only be looser than the exact width.
  t.ok(laplaceSumHalfWidth(20, 1, 0.05) >= discreteLaplaceHalfWidth(20, 0.05))
  t.pass('12 cases')
})

t.test('the sub-Gaussian bound for sums of discrete Gaussians holds', async (t) => {
  for (const [s2, k] of [
    [1, 4],
    [10, 8],
  ] as const) {
    const base = gaussianPmf(s2)
    const w = Math.ceil(40 * Math.sqrt(s2 * k)) + 10
    let cur = new Map<number, number>([[0, 1]])
    for (let i = 0; i < k; i++) {
      const next = new Map<number, number>()
      for (const [x, p] of cur)
        for (let z = -w; z <= w; z++) if (Math.abs(x + z) <= w) next.set(x + z, (next.get(x + z) ?? 0) + p * base(z))
      cur = next
    }
    for (const alpha of [0.1, 1e-3]) {
      const h = Number(gaussianSumHalfWidth(s2, k, alpha))
      let tail = 0
      for (const [x, p] of cur) if (Math.abs(x) > h) tail += p
      t.ok(tail <= alpha, `sigma^2 ${s2}, k ${k}, alpha ${alpha}: ${tail}`)
    }
  }
})

t.test('ratio intervals: the corners of two intervals, clipped to the bounds', async (t) => {
  const r = (x: number): Rational => Rational.fromNumber(x)
  const iv = ratioInterval({ lo: r(900), hi: r(1100) }, { lo: r(90), hi: r(110) }, r(0), r(100))
  t.ok(iv.lo.eq(Rational.of(90n, 11n)))
  t.ok(iv.hi.eq(Rational.of(110n, 9n)))
  const open = ratioInterval({ lo: r(-5), hi: r(5) }, { lo: r(-1), hi: r(3) }, r(-2), r(7))
  t.ok(open.lo.eq(r(-2)) && open.hi.eq(r(7)), 'a count interval reaching 0 gives the whole bounds')
  const clipped = ratioInterval({ lo: r(1000), hi: r(2000) }, { lo: r(1), hi: r(2) }, r(0), r(100))
  t.ok(clipped.lo.eq(r(100)) && clipped.hi.eq(r(100)), 'clipped to the upper bound')
  const directed = toNumberInterval({ lo: Rational.of(1n, 3n), hi: Rational.of(2n, 3n) })
  t.ok(
    Rational.fromNumber(directed.lo).lte(Rational.of(1n, 3n)) &&
      Rational.fromNumber(directed.hi).gte(Rational.of(2n, 3n)),
    'rounded outward',
  )
})
