/**
 * Analyst bounds (issue 24, point 1): `SUM(income BOUNDS 0, 200000)` clamps
 * to the analyst's range, which lies inside the declared one, and the
 * sensitivity, the kernel's clamp and the stated bounds all follow it.
 */
import t from 'tap'

import { isVeilboxError } from '../../../../src/errors/index.js'
import { DEMO_SPEC } from '../../../../src/demo/binzhou.js'
import { plan } from '../../fixtures.js'

const T = DEMO_SPEC.id

function halfWidthOf(sql: string, mechanism: 'laplace' | 'gaussian'): number {
  const p = plan(DEMO_SPEC, sql, { epsilon: 0.1, mechanism })
  const h = p.perAggregate[0]!.halfWidth
  if (h === null) throw new Error('no half-width')
  return h
}

t.test(
  'done-when: SUM with BOUNDS 0, 200000 previews a half-width 5x narrower than the declared 0 to 1,000,000',
  async (t) => {
    const income = DEMO_SPEC.columns.find((c) => c.name === 'income')!
    t.equal(income.lower, 0)
    t.equal(income.upper, 1_000_000)
    for (const mechanism of ['laplace', 'gaussian'] as const) {
      const declared = halfWidthOf(`SELECT SUM(income) FROM ${T}`, mechanism)
      const narrowed = halfWidthOf(`SELECT SUM(income BOUNDS 0, 200000) FROM ${T}`, mechanism)
      const ratio = declared / narrowed
      // The kernel's quantized bounds differ from the real ones by at most half a unit of a fine grid.
      t.ok(Math.abs(ratio - 5) < 1e-3, `${mechanism}: ${declared} / ${narrowed} = ${ratio}`)
    }
  },
)

t.test('the kernel clamps to the analyst bounds, and the answer states them with their source', async (t) => {
  const p = plan(DEMO_SPEC, `SELECT SUM(income BOUNDS 1000, 200000) AS s, SUM(income) AS d FROM ${T}`)
  const moments = p.exec.measures.filter((m) => m.kind === 'moments')
  t.same(
    moments.map((m) => [m.column, m.lower, m.upper]),
    [
      ['income', 1000, 200000],
      ['income', 0, 1_000_000],
    ],
    'one column with two ranges is two measures, each clamped to its own range',
  )
  t.same(p.perAggregate[0]!.bounds, { lower: 1000, upper: 200000, source: 'analyst' })
  t.same(p.perAggregate[1]!.bounds, { lower: 0, upper: 1_000_000, source: 'declared' })
})

t.test('AVG, VAR, STDDEV and quantiles clamp to the analyst bounds too', async (t) => {
  const p = plan(
    DEMO_SPEC,
    `SELECT AVG(income BOUNDS 0, 200000) AS a, VAR(income BOUNDS 0, 200000) AS v, STDDEV(income BOUNDS 0, 200000) AS sd, ` +
      `MEDIAN(income BOUNDS 0, 200000) AS med, QUANTILE(income BOUNDS 0, 200000, 0.9) AS q9 FROM ${T}`,
  )
  for (const m of p.exec.measures) {
    if (m.kind === 'moments' || m.kind === 'histogram') t.same([m.lower, m.upper], [0, 200000], m.kind)
  }
  t.equal(
    p.exec.measures.filter((m) => m.kind === 'histogram').length,
    1,
    'quantiles with one range share one histogram',
  )
  for (const a of p.perAggregate) t.same(a.bounds, { lower: 0, upper: 200000, source: 'analyst' }, a.name)
  const narrowed = plan(DEMO_SPEC, `SELECT AVG(income BOUNDS 0, 200000) AS a FROM ${T}`)
  const declared = plan(DEMO_SPEC, `SELECT AVG(income) AS a FROM ${T}`)
  t.ok(narrowed.perAggregate[0]!.noise.sum! < declared.perAggregate[0]!.noise.sum!, "AVG's sum gets less noise")
})

t.test('bounds outside the declared ones are refused, naming both ranges', async (t) => {
  for (const b of ['-1, 200000', '0, 1000001', '-5, 2000000']) {
    try {
      plan(DEMO_SPEC, `SELECT SUM(income BOUNDS ${b}) FROM ${T}`)
      t.fail(`BOUNDS ${b} accepted`)
    } catch (err) {
      t.ok(isVeilboxError(err) && err.code === 'VEILBOX_ERR_QUERY_BOUNDS_OUTSIDE_DECLARED', String(err))
      const detail = isVeilboxError(err) ? err.detail : ''
      t.match(detail, /declared bounds 0 to 1000000/)
      t.match(detail, new RegExp(`the bounds ${b.replace(', ', ' to ')}`))
    }
  }
  t.doesNotThrow(() => plan(DEMO_SPEC, `SELECT SUM(income BOUNDS 0, 1000000) FROM ${T}`), 'the declared range itself')
})

t.test('AVG and quantiles state a bound on their error, from public facts, tighter with analyst bounds', async (t) => {
  const bound = (sql: string) => plan(DEMO_SPEC, sql, { epsilon: 1 }).perAggregate[0]!.errorBound
  const avg = bound(`SELECT AVG(income) FROM ${T}`)
  const narrow = bound(`SELECT AVG(income BOUNDS 0, 200000) FROM ${T}`)
  if (avg?.kind !== 'avg' || narrow?.kind !== 'avg') throw new Error('no avg bound')
  t.equal(avg.maxAbs, 1_000_000)
  t.equal(narrow.maxAbs, 200_000)
  t.ok(avg.sumHalfWidth > 0 && avg.countHalfWidth > 0)
  t.ok(Math.abs(avg.sumHalfWidth / narrow.sumHalfWidth - 5) < 1e-3)
  // Each component at confidence 0.975 (both at once with probability 0.95): wider than the same mechanism at 0.95.
  const count = plan(DEMO_SPEC, `SELECT COUNT(*) FROM ${T}`, { epsilon: 0.5 }).perAggregate[0]!.halfWidth!
  t.ok(avg.countHalfWidth > count, `${avg.countHalfWidth} > ${count}`)
  const q = bound(`SELECT MEDIAN(income BOUNDS 0, 128000) FROM ${T}`)
  if (q?.kind !== 'quantile') throw new Error('no quantile bound')
  t.equal(q.binWidth, 1000, '128 bins over 0 to 128,000')
  t.ok(q.rankHalfWidth > 0)
  t.equal(bound(`SELECT SUM(income) FROM ${T}`), undefined, 'SUM has its half-width')
})
