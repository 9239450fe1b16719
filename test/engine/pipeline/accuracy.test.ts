/**
 * Accuracy-first previews (issue 24, point 3): the epsilon found for a
 * target half-width meets it, and that epsilon minus one micro-unit does
 * not, for Laplace and Gaussian and for COUNT and SUM (grouped or not, with
 * declared or analyst bounds), on the plan's own half-widths.
 */
import t from 'tap'

import { isVeilboxError } from '../../../src/errors/index.js'
import { parse, units, type Epsilon } from '../../../src/engine/dp/budget.js'
import { epsilonForTarget, planAt, type AccuracyTarget } from '../../../src/engine/pipeline/accuracy.js'
import type { PreparedQuery } from '../../../src/engine/pipeline/types.js'
import { DEMO_SPEC } from '../../../src/demo/binzhou.js'
import { bound, planOptions } from '../fixtures.js'
import { planQuery } from '../../../src/engine/plan/index.js'

const T = DEMO_SPEC.id
const CEILING = parse('epsilon', 1000, 'up')

/** The parts of a prepared query the search reads: its bound query, its plan and the options it was planned with. */
function prepared(sql: string, mechanism: 'laplace' | 'gaussian'): PreparedQuery {
  const b = bound(DEMO_SPEC, sql)
  const options = planOptions({ mechanism, epsilon: 1, delta: mechanism === 'gaussian' ? 1e-6 : 0 })
  const plan = planQuery(b, options)
  return {
    bound: b,
    plan,
    delta: options.delta,
    heProfile: null,
    grant: { maxGroupsContributed: null },
  } as unknown as PreparedQuery
}

function widths(p: PreparedQuery, e: Epsilon): Map<string, number> {
  const plan = planAt(p, e)
  if (plan === null) return new Map()
  return new Map(plan.perAggregate.filter((a) => a.halfWidth !== null).map((a) => [a.name, a.halfWidth!]))
}

function meetsAt(p: PreparedQuery, e: bigint, targets: ReadonlyMap<string, number>): boolean {
  const w = widths(p, units('epsilon', e))
  return [...targets].every(([name, limit]) => (w.get(name) ?? Number.POSITIVE_INFINITY) <= limit)
}

const QUERIES = [
  `SELECT COUNT(*) FROM ${T}`,
  `SELECT SUM(income) FROM ${T}`,
  `SELECT SUM(income BOUNDS 0, 200000) FROM ${T}`,
  `SELECT district, COUNT(*) AS n, SUM(income) AS s, AVG(income) AS a FROM ${T} GROUP BY district`,
  `SELECT COUNT(DISTINCT household_id) AS units FROM ${T}`,
]

t.test('the epsilon found meets the target and one micro-unit less does not', async (t) => {
  for (const mechanism of ['laplace', 'gaussian'] as const) {
    for (const sql of QUERIES) {
      const p = prepared(sql, mechanism)
      const at1 = widths(p, parse('epsilon', 1, 'up'))
      // Targets around what epsilon 1 gives: a looser one, and tighter ones.
      for (const factor of [3, 1, 0.37, 0.05]) {
        const worst = Math.max(...at1.values())
        const target: AccuracyTarget = { halfWidth: worst * factor }
        const found = epsilonForTarget(p, target, CEILING)
        const label = `${mechanism} ${sql} x${factor}`
        if (found.epsilon === null) {
          // A count's half-width is a whole number: below 1 it may be out of reach at any epsilon up to the ceiling.
          t.ok(factor < 0.1 && !meetsAt(p, CEILING, new Map(found.aggregates.map((a) => [a.name, a.target]))), label)
          continue
        }
        const limits = new Map(found.aggregates.map((a) => [a.name, a.target]))
        t.ok(meetsAt(p, found.epsilon, limits), `${label}: ${found.epsilon} micro meets it`)
        t.notOk(meetsAt(p, found.epsilon - 1n, limits), `${label}: ${found.epsilon - 1n} micro does not`)
        for (const a of found.aggregates) t.ok(a.halfWidth <= a.target, `${label}: ${a.name} stated within`)
      }
    }
  }
})

t.test('a relative target is relative to the expected value the analyst states, per output', async (t) => {
  const p = prepared(`SELECT COUNT(*) AS n, SUM(income) AS s FROM ${T}`, 'laplace')
  const target: AccuracyTarget = { relative: 0.05, expected: { s: 5e9 } }
  const found = epsilonForTarget(p, target, CEILING)
  t.same(
    found.aggregates.map((a) => [a.name, a.target]),
    [['s', 2.5e8]],
  )
  t.ok(found.epsilon !== null)
  const limits = new Map([['s', 2.5e8]])
  t.ok(meetsAt(p, found.epsilon!, limits))
  t.notOk(meetsAt(p, found.epsilon! - 1n, limits))
})

t.test('unreachable within the ceiling: no epsilon, the half-widths at the ceiling stated', async (t) => {
  const p = prepared(`SELECT SUM(income) FROM ${T}`, 'laplace')
  const found = epsilonForTarget(p, { halfWidth: 1e-3 }, parse('epsilon', 1, 'up'))
  t.equal(found.epsilon, null)
  t.ok(found.aggregates[0]!.halfWidth > 1e-3)
})

t.test('bad targets are refused with a stable code', async (t) => {
  const code = (sql: string, target: AccuracyTarget) => {
    try {
      epsilonForTarget(prepared(sql, 'laplace'), target, CEILING)
    } catch (err) {
      return isVeilboxError(err) ? err.code : String(err)
    }
    return 'accepted'
  }
  const sum = `SELECT SUM(income) AS s FROM ${T}`
  t.equal(code(`SELECT AVG(income) FROM ${T}`, { halfWidth: 10 }), 'VEILBOX_ERR_DP_INVALID_PARAMETER', 'AVG alone')
  t.equal(code(sum, {}), 'VEILBOX_ERR_DP_INVALID_PARAMETER', 'neither')
  t.equal(code(sum, { halfWidth: 1, relative: 0.1 }), 'VEILBOX_ERR_DP_INVALID_PARAMETER', 'both')
  t.equal(code(sum, { relative: 0.1 }), 'VEILBOX_ERR_DP_INVALID_PARAMETER', 'no expected value')
  t.equal(code(sum, { relative: 0.1, expected: { x: 5 } }), 'VEILBOX_ERR_DP_INVALID_PARAMETER', 'unknown output')
  t.equal(code(sum, { relative: 0.1, expected: { s: 0 } }), 'VEILBOX_ERR_DP_INVALID_PARAMETER', 'zero expected')
  t.equal(code(sum, { halfWidth: -1 }), 'VEILBOX_ERR_DP_INVALID_PARAMETER')
  t.equal(code(sum, { relative: 0.1, expected: { s: 5e9 } }), 'accepted')
})
