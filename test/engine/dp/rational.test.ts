import t from 'tap'

import {
  Rational,
  bitLength,
  ceilDiv,
  decompose,
  floorDiv,
  isqrt,
  nextDown,
  nextUp,
  sqrtUp,
} from '../../../src/engine/dp/rational.js'

t.test('numbers in: their exact binary value, or the decimal they print as', async (t) => {
  t.ok(Rational.fromNumber(0.5).eq(Rational.of(1n, 2n)))
  t.ok(Rational.fromNumber(0.1).eq(Rational.of(3602879701896397n, 1n << 55n)), '0.1 is 3602879701896397 / 2^55')
  t.ok(Rational.fromDecimal(0.1).eq(Rational.of(1n, 10n)))
  t.ok(Rational.fromDecimal(1e-7).eq(Rational.of(1n, 10n ** 7n)))
  t.ok(Rational.fromDecimal(1.5e21).eq(Rational.of(15n * 10n ** 20n)))
  t.ok(Rational.fromDecimal(-2.25).eq(Rational.of(-9n, 4n)))
  t.ok(Rational.fromNumber(-3 * 2 ** -1074).eq(Rational.of(-3n, 1n << 1074n)), 'subnormals')
  t.ok(Rational.fromNumber(2 ** 60).eq(Rational.of(1n << 60n)))
  t.same(decompose(12), { units: 12n, exp: 0 })
  t.same(decompose(0.75), { units: 3n, exp: -2 })
  t.same(decompose(-(2 ** 70)), { units: -1n, exp: 70 })
  t.throws(() => Rational.fromNumber(NaN))
  t.throws(() => Rational.parseDecimal('1.2.3'))
})

t.test('arithmetic is exact and normalized', async (t) => {
  const a = Rational.of(1n, 3n)
  const b = Rational.of(1n, 6n)
  t.equal(a.add(b).toString(), '1/2')
  t.equal(a.sub(b).toString(), '1/6')
  t.equal(a.mul(b).toString(), '1/18')
  t.equal(a.div(b).toString(), '2')
  t.equal(Rational.of(4n, -6n).toString(), '-2/3')
  t.equal(Rational.of(-7n, 2n).floor(), -4n)
  t.equal(Rational.of(-7n, 2n).ceil(), -3n)
  t.equal(floorDiv(-7n, 2n), -4n)
  t.equal(ceilDiv(7n, 2n), 4n)
  t.equal(Rational.of(3n, 4n).shift(2).toString(), '3')
  t.throws(() => Rational.of(1n, 0n))
})

t.test('floor(log2), isqrt and an upper bound of sqrt, exactly', async (t) => {
  t.equal(Rational.of(1n).log2Floor(), 0)
  t.equal(Rational.of(20n).log2Floor(), 4)
  t.equal(Rational.of(1n, 3n).log2Floor(), -2)
  t.equal(Rational.of(1n, 4n).log2Floor(), -2)
  t.equal(Rational.of((1n << 100n) - 1n).log2Floor(), 99)
  t.equal(bitLength(255n), 8)
  t.equal(bitLength(256n), 9)
  t.equal(isqrt(99n), 9n)
  t.equal(isqrt(100n), 10n)
  t.equal(isqrt((1n << 200n) + 5n), 1n << 100n)
  const r = sqrtUp(Rational.of(2n))
  t.ok(r.mul(r).gte(Rational.of(2n)) && r.toNumber() - Math.SQRT2 < 1e-9)
  t.ok(sqrtUp(Rational.of(9n, 4n)).eq(Rational.of(3n, 2n)), 'exact squares stay exact')
})

t.test('to a double: nearest, or rounded outward', async (t) => {
  const third = Rational.of(1n, 3n)
  t.equal(third.toNumber(), 1 / 3)
  t.ok(Rational.fromNumber(third.toNumber('down')).lte(third))
  t.ok(Rational.fromNumber(third.toNumber('up')).gte(third))
  t.equal(nextUp(third.toNumber('down')), third.toNumber('up'))
  const huge = Rational.of((1n << 200n) + 1n, 3n)
  t.equal(huge.toNumber(), 2 ** 200 / 3)
  t.ok(Rational.fromNumber(huge.toNumber('down')).lte(huge) && Rational.fromNumber(huge.toNumber('up')).gte(huge))
  t.equal(Rational.of(5n).toNumber('down'), 5, 'exact values are not moved')
  t.equal(nextDown(1), 1 - 2 ** -53)
  t.equal(nextUp(-0), Number.MIN_VALUE)
})
