import t from 'tap'
import { Rational } from '../../../src/engine/dp/rational.js'
import { chooseProfile, columnPlan } from '../../../src/engine/he/profile.js'
import { bindQuery, parseQuery } from '../../../src/engine/query/index.js'
import { parse, ZERO_DELTA } from '../../../src/engine/dp/budget.js'
import { planQuery } from '../../../src/engine/plan/index.js'
import { heSensitivity, heToGrid } from '../../../src/engine/release/he.js'
import type { DatasetSpec } from '../../../src/schema.js'
import { toUnits } from '../../../src/engine/he/units.js'
import { rng } from '../he/fixtures.js'

/**
 * The release step of encrypted aggregates: exact rounding of the custodian's
 * decimal values to a mechanism's power-of-two grid, the sensitivities of
 * encrypted sums (checked against neighbouring datasets), and what the
 * planner makes of he columns.
 */

const spec: DatasetSpec = {
  id: 'ledger',
  title: 'ledger',
  classification: 'internal',
  privacyUnit: 'pid',
  maxRowsPerUnit: 3,
  columns: [
    { name: 'pid', type: 'id', protection: 'public' },
    { name: 'kind', type: 'category', protection: 'public', categories: ['a', 'b', 'c'] },
    { name: 'amount', type: 'number', protection: 'he', lower: -12.5, upper: 99.99, scale: 2 },
    { name: 'count', type: 'integer', protection: 'he', lower: 0, upper: 7 },
    { name: 'temp', type: 'number', protection: 'he', lower: -5, upper: 35 },
  ],
}
const profile = chooseProfile(spec, { maxRows: 5000, polyModulusDegree: 8192, ckksColumns: ['temp'] })

t.test('decimal values are rounded to the grid exactly, halves up', async (t) => {
  // 1.25 on a grid of 2^-1: 2.5 steps -> 3; -1.25 -> -2.5 steps -> -2 (half up); 1.2 -> 2.4 -> 2.
  t.same(heToGrid({ units: 125n, base: 10, exponent: -2 }, -1), { units: 3n, exp: -1 })
  t.same(heToGrid({ units: -125n, base: 10, exponent: -2 }, -1), { units: -2n, exp: -1 })
  t.same(heToGrid({ units: 12n, base: 10, exponent: -1 }, -1), { units: 2n, exp: -1 })
  t.same(heToGrid({ units: 7n, base: 10, exponent: 2 }, 3), { units: 88n, exp: 3 }, '700 / 8 = 87.5 -> 88')
  t.same(
    heToGrid({ units: 5n, base: 2, exponent: -4 }, -4),
    { units: 5n, exp: -4 },
    'a CKKS value already on the grid is kept',
  )
  t.same(
    heToGrid({ units: 0n, base: 10, exponent: -2 }, 5),
    { units: 0n, exp: 5 },
    'an empty group decrypts to exactly 0',
  )
  // Against exact rationals, on random values and grids.
  const r = rng(3)
  for (let i = 0; i < 2000; i++) {
    const units = BigInt(Math.floor((r() - 0.5) * 2 ** 40))
    const exponent = -Math.floor(r() * 7)
    const k = Math.floor(r() * 60) - 40
    const x = Rational.of(units, 10n ** BigInt(-exponent))
    const want = x.shift(-k).add(Rational.of(1n, 2n)).floor()
    const got = heToGrid({ units, base: 10, exponent }, k)
    if (got.units !== want || got.exp !== k) t.fail(`${units}e${exponent} on 2^${k}: ${got.units}, want ${want}`)
  }
  t.pass('2000 random roundings agree with exact rational rounding')
})

t.test('sensitivities of encrypted sums bound what one unit can change', async (t) => {
  const amount = columnPlan(profile, 'amount')
  const s = heSensitivity(amount, 3, 1, false)
  t.ok(s.l1.eq(Rational.of(3n * 9999n, 100n)), 'SUM: m * max|round(x * 10^s)| / 10^s = 3 * 99.99')
  t.ok(heSensitivity(amount, 3, 1, true).l1.eq(Rational.of(3n * 9999n * 9999n, 10_000n)), 'squares: m * M^2 / 10^2s')
  t.equal(s.integer, false)
  t.equal(
    heSensitivity(columnPlan(profile, 'count'), 3, 1, false).integer,
    true,
    'an integer column at scale 0 sums to integers',
  )
  const temp = columnPlan(profile, 'temp')
  const grid = Rational.dyadic(1n, temp.sumGridExp!)
  t.ok(
    heSensitivity(temp, 3, 1, false).l1.eq(Rational.of(105n).add(grid.mul(Rational.of(2n)))),
    'CKKS: m * M plus twice the grid step',
  )
  t.ok(
    heSensitivity(temp, 3, 7, false).l1.eq(Rational.of(105n).add(grid.mul(Rational.of(14n)))),
    'per group: every group may round differently',
  )
  t.equal(heSensitivity(temp, 3, 1, false).inputExp, temp.sumGridExp)

  // Neighbouring datasets: drop one unit's (up to 3) rows; the exact sum moves by no more than l1.
  const r = rng(9)
  let worst = Rational.ZERO
  for (let trial = 0; trial < 300; trial++) {
    const n = 1 + Math.floor(r() * 50)
    const values = Array.from({ length: n }, () =>
      r() < 0.2 ? (r() < 0.5 ? -12.5 : 99.99) : Math.round((r() * 112.49 - 12.5) * 100) / 100,
    )
    const units = values.map((v) => toUnits(v, 2))
    const owned = Math.min(3, n)
    const total = units.reduce((a, b) => a + b, 0n)
    const rest = units.slice(owned).reduce((a, b) => a + b, 0n)
    const d = Rational.of(total - rest, 100n).abs()
    if (d.gt(worst)) worst = d
    if (d.gt(s.l1)) t.fail(`a unit moved the sum by ${d}, beyond ${s.l1}`)
  }
  t.ok(worst.lte(s.l1), `largest move ${worst.toNumber()} <= ${s.l1.toNumber()}`)
})

t.test('the planner plans he columns as encrypted measures with these mechanisms', async (t) => {
  const plan = (sql: string, heProfile = profile) =>
    planQuery(bindQuery(parseQuery(sql), spec), {
      mechanism: 'laplace',
      epsilon: parse('epsilon', 1, 'up'),
      delta: ZERO_DELTA,
      confidence: 0.95,
      heProfile,
    })
  const p = plan('SELECT kind, COUNT(amount), SUM(amount), AVG(count), VAR(temp) FROM ledger GROUP BY kind')
  t.same(p.exec.encrypted, [
    { column: 'amount', squares: false },
    { column: 'count', squares: false },
    { column: 'temp', squares: true },
  ])
  t.same(p.exec.measures, [], 'no plaintext measure reads an he column')
  t.match(p.outputs[1], { kind: 'count', source: 'rows' }, 'COUNT of an he column is read off the mask')
  const sum = p.outputs[2] as { kind: string; encrypted: number; mech: { sensitivity: Rational; roundsInput: boolean } }
  t.equal(sum.encrypted, 0)
  t.ok(sum.mech.sensitivity.eq(heSensitivity(columnPlan(profile, 'amount'), 3, 3, false).l1))
  t.equal(sum.mech.roundsInput, true, 'a decimal value is rounded onto the grid, and the mechanism accounts for it')
  t.same(plan('SELECT COUNT(*) FROM ledger').exec.encrypted, undefined, 'a plaintext-only plan has no encrypted part')
  t.throws(() => plan('SELECT SUM(amount) FROM ledger', null as never), { code: 'VEILBOX_ERR_HE_KEYS_MISSING' })
  t.doesNotThrow(() => plan('SELECT COUNT(amount) FROM ledger', null as never), 'COUNT needs no keys')
  const noVariance = chooseProfile(spec, {
    maxRows: 5000,
    polyModulusDegree: 8192,
    ckksColumns: ['temp'],
    variance: false,
  })
  t.throws(() => plan('SELECT STDDEV(amount) FROM ledger', noVariance), {
    code: 'VEILBOX_ERR_HE_UNSUPPORTED_COLUMN',
    message: /without variance/,
  })
})
