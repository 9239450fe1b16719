import t from 'tap'
import {
  FOLD_ROWS,
  pow2,
  quantize,
  quantumFor,
  quantumScale,
  squareUnits,
  sumExp,
  sumSquaresExp,
  unitsToDecimal,
  unitsToNumber,
  unitsToRational,
} from '../../../src/engine/exec/quantum.js'
import { rng } from './fixtures.js'

/** The exact value of a finite double as mantissa * 2^exponent, in BigInt. */
function exactParts(x: number): { m: bigint; e: number } {
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, x)
  const bits = view.getBigUint64(0)
  const sign = bits >> 63n ? -1n : 1n
  const biased = Number((bits >> 52n) & 0x7ffn)
  const frac = bits & ((1n << 52n) - 1n)
  return biased === 0 ? { m: sign * frac, e: -1074 } : { m: sign * (frac | (1n << 52n)), e: biased - 1075 }
}

/** floor(v + 1/2) computed exactly, for a finite double v. */
function exactRoundHalfUp(v: number): bigint {
  const { m, e } = exactParts(v)
  if (e >= 0) return m << BigInt(e)
  // floor((m + 2^(-e-1)) / 2^-e); BigInt >> floors toward -infinity.
  return (m + (1n << BigInt(-e - 1))) >> BigInt(-e)
}

t.test('quantumFor picks the smallest exp with max(|lower|, |upper|) * 2^-exp <= 2^31', async (t) => {
  t.equal(quantumFor(0, 1).exp, -31)
  t.equal(quantumFor(-5, 5).exp, -28)
  t.equal(quantumFor(0, 1e6).exp, -11)
  t.equal(quantumFor(-(2 ** 31), 2 ** 31 - 1).exp, 0)
  t.equal(quantumFor(0, 0.75).exp, -31)
  t.equal(quantumFor(-100, -5).exp, -24)
  t.equal(quantumFor(0, 2 ** -40).exp, -71)
  t.equal(quantumFor(-Number.MAX_VALUE, Number.MAX_VALUE).exp, 993)
  const r = rng(1)
  const wrong: string[] = []
  for (let k = 0; k < 2000; k++) {
    const a = (r() - 0.5) * 10 ** (r() * 40 - 20)
    const b = a + (Math.abs(a) + 1e-30) * (r() + 0.01) * 10 ** (r() * 10)
    const { exp } = quantumFor(a, b)
    const m = Math.max(Math.abs(a), Math.abs(b))
    // m * 2^-exp <= 2^31 < m * 2^-(exp - 1): fits, and one step finer would not.
    if (!(m * pow2(-exp) <= 2 ** 31 && m * pow2(-(exp - 1)) > 2 ** 31)) wrong.push(`[${a}, ${b}] -> ${exp}`)
  }
  t.same(wrong, [], 'minimal exp on 2000 random bounds')
})

t.test('quantumFor refuses bounds it cannot grid', async (t) => {
  const code = { code: 'VEILBOX_ERR_EXEC_BAD_ARGUMENT' }
  t.throws(() => quantumFor(1, 1), { ...code, detail: 'quantumFor needs lower < upper, got [1, 1]' })
  t.throws(() => quantumFor(2, 1), { ...code, detail: 'quantumFor needs lower < upper, got [2, 1]' })
  t.throws(() => quantumFor(Number.NaN, 1), { ...code, detail: 'quantumFor needs finite numeric bounds, got [NaN, 1]' })
  t.throws(() => quantumFor(0, Infinity), {
    ...code,
    detail: 'quantumFor needs finite numeric bounds, got [0, Infinity]',
  })
  t.throws(() => quantumFor(0, 2 ** -992), {
    ...code,
    detail: `quantumFor needs max(|lower|, |upper|) > 2^-992, got ${2 ** -992}`,
  })
  t.equal(quantumFor(0, 2 ** -991).exp, -1022)
})

t.test('quantize clamps, scales by a power of two and rounds half up', async (t) => {
  const q = quantumFor(0, 1)
  t.equal(quantize(1, 0, 1, q), 2 ** 31, 'the upper bound is 2^31 units')
  t.equal(quantize(7, 0, 1, q), 2 ** 31, 'beyond the upper bound clamps')
  t.equal(quantize(-Infinity, 0, 1, q), 0)
  t.equal(quantize(Infinity, 0, 1, q), 2 ** 31)
  t.equal(Object.is(quantize(-0, 0, 1, q), 0), true, '-0 quantizes to +0')
  t.equal(quantize(0.5 * 2 ** -31, 0, 1, q), 1, 'a half unit rounds up')
  t.equal(quantize(1.5 * 2 ** -31, 0, 1, q), 2)
  const s = quantumFor(-5, 5)
  t.equal(quantize(-5, -5, 5, s), -5 * 2 ** 28)
  t.equal(quantize(-0.5 * 2 ** -28, -5, 5, s), 0, 'a negative half unit rounds up, to 0')
  t.equal(quantize(-1.5 * 2 ** -28, -5, 5, s), -1)
  t.equal(quantize(-1e300, -5, 5, s), -5 * 2 ** 28)
  t.ok(Number.isNaN(quantize(Number.NaN, -5, 5, s)), 'NaN propagates, for the kernel to refuse')
  const big = quantumFor(-(2 ** 31), 2 ** 31 - 1)
  t.equal(quantize(-(2 ** 31), -(2 ** 31), 2 ** 31 - 1, big), -(2 ** 31), 'Int32 extremes are their own units')
  t.equal(quantize(2 ** 31 - 1, -(2 ** 31), 2 ** 31 - 1, big), 2 ** 31 - 1)
})

t.test('floor(v + 0.5) is exact round-half-up except at 0.5 - 2^-54', async (t) => {
  const q = quantumFor(0, 1)
  const quirk = 0.5 - 2 ** -54
  t.equal(quantize(quirk * 2 ** -31, 0, 1, q), 1, 'the one point where the double sum rounds up onto 1')
  t.equal(exactRoundHalfUp(quirk), 0n)
  // Near-ties around every binade and integer the kernels can meet.
  const probes: number[] = []
  for (let e = -60; e <= 31; e++) {
    for (const base of [2 ** e, 2 ** e - 0.5, 2 ** e + 0.5, -(2 ** e), -(2 ** e) - 0.5, -(2 ** e) + 0.5]) {
      let up = base
      let down = base
      for (let k = 0; k < 4; k++) {
        probes.push(up, down)
        up = nextUp(up)
        down = nextDown(down)
      }
    }
  }
  const r = rng(2)
  for (let k = 0; k < 20000; k++)
    probes.push((r() - 0.5) * 2 ** (r() * 64 - 32), Math.floor((r() - 0.5) * 2 ** 32) + 0.5)
  const mismatches = new Set<number>()
  for (const v of probes) {
    if (Math.abs(v) <= 2 ** 31 && BigInt(Math.floor(v + 0.5)) !== exactRoundHalfUp(v)) mismatches.add(v)
  }
  t.same([...mismatches], [quirk], `${probes.length} probes`)
})

t.test('squareUnits squares in doubles, as the contract defines', async (t) => {
  t.equal(squareUnits(0), 0)
  t.equal(squareUnits(1), 0)
  t.equal(squareUnits(2 ** 15), 1, 'exactly half a unit rounds up')
  t.equal(squareUnits(2 ** 31), 2 ** 31)
  t.equal(squareUnits(-(2 ** 31)), 2 ** 31)
  // q * q rounds to 53 bits here, and that moves the result: an exact int64
  // product would give 2143063822. The C++ kernel must square in doubles.
  const q = 2145272597
  t.equal(squareUnits(q), 2143063823)
  t.equal((BigInt(q) * BigInt(q) + (1n << 30n)) >> 31n, 2143063822n)
})

t.test('fold bound: 2^21 rows of 2^31 units stay exact in a double', async (t) => {
  t.equal(FOLD_ROWS, 2 ** 21)
  t.ok(FOLD_ROWS * 2 ** 31 <= 2 ** 52)
})

t.test('unit conversions are exact', async (t) => {
  const q = quantumFor(-5, 5)
  t.equal(sumExp(q), -28)
  t.equal(sumSquaresExp(q), -25)
  t.equal(quantumScale(q), 2 ** 28)
  t.same(unitsToRational(3n, -1), { num: 3n, den: 2n })
  t.same(unitsToRational(-3n, 4), { num: -48n, den: 1n })
  t.equal(unitsToDecimal(3n, -1), '1.5')
  t.equal(unitsToDecimal(-3n, -2), '-0.75')
  t.equal(unitsToDecimal(5n, 3), '40')
  t.equal(unitsToDecimal(0n, -5), '0')
  t.equal(unitsToDecimal(-4n, -2), '-1')
  t.equal(unitsToDecimal(1n, -31), '0.0000000004656612873077392578125')
  t.equal(unitsToDecimal(123456789n * 2n ** 40n, -40), '123456789')
  t.equal(unitsToNumber(3n, -1), 1.5)
  t.equal(unitsToNumber(0n, 2000), 0)
  t.equal(unitsToNumber(-(2n ** 62n), 1000), -Infinity, 'beyond the double range')
  t.equal(unitsToNumber(2n ** 60n + 1n, -60), 1, 'rounds once, to nearest')
  t.equal(unitsToNumber(2n ** 31n, 2 * -28 + 31), 2 ** 6)
  t.throws(() => unitsToDecimal(1n, 0.5), {
    code: 'VEILBOX_ERR_EXEC_BAD_ARGUMENT',
    detail: 'a unit exponent must be an integer in [-4096, 4096], got 0.5',
  })
})

t.test('pow2 builds exact powers of two', async (t) => {
  const wrong: number[] = []
  for (let k = -1022; k <= 1023; k++) if (pow2(k) !== 2 ** k) wrong.push(k)
  t.same(wrong, [])
  t.throws(() => pow2(1024), {
    code: 'VEILBOX_ERR_EXEC_BAD_ARGUMENT',
    detail: 'pow2 needs an integer exponent in [-1022, 1023], got 1024',
  })
})

function nextUp(x: number): number {
  if (x === 0) return Number.MIN_VALUE
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, x)
  const bits = view.getBigInt64(0)
  view.setBigInt64(0, x > 0 ? bits + 1n : bits - 1n)
  return view.getFloat64(0)
}

function nextDown(x: number): number {
  return -nextUp(-x)
}
