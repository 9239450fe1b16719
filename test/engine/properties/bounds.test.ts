/**
 * Finding 4 of the fault review: bounds the engine cannot serve. Every
 * aggregate, both mechanisms, the smallest and largest epsilon a request may
 * carry, at both ends of the accepted range: the preview's figures and every
 * released value and interval are finite numbers. Outside the range,
 * registration refuses the bounds, naming the range.
 */
import t from 'tap'
import type { CodeColumn } from '../../../src/engine/exec/grouping.js'
import type { ColumnArray } from '../../../src/engine/exec/types.js'
import { BOUND_MAX_MAGNITUDE, BOUND_MIN_MAGNITUDE, registrationSpecSchema } from '../../../src/schema.js'
import { exactOf, plan, releaseOf, spec } from '../fixtures.js'
import { testApp } from '../../helpers/app.js'

const ROWS = 64

function dataset(lower: number, upper: number) {
  return spec({
    id: 'edge',
    title: 'edge',
    classification: 'internal',
    privacyUnit: 'pid',
    maxRowsPerUnit: 1000,
    columns: [
      { name: 'pid', type: 'id', protection: 'public' },
      { name: 'g', type: 'category', protection: 'public', categories: ['a', 'b'] },
      { name: 'x', type: 'number', protection: 'dp', lower, upper },
    ],
  })
}

const AGGREGATES = ['COUNT(*)', 'COUNT(x)', 'SUM(x)', 'AVG(x)', 'VAR(x)', 'STDDEV(x)', 'MEDIAN(x)', 'QUANTILE(x, 0.9)']

t.test('at both ends of the accepted range every aggregate previews and releases finite numbers', async (t) => {
  const cases: [number, number][] = [
    [0, BOUND_MIN_MAGNITUDE],
    [-BOUND_MIN_MAGNITUDE, BOUND_MIN_MAGNITUDE],
    [0, BOUND_MAX_MAGNITUDE],
    [-BOUND_MAX_MAGNITUDE, BOUND_MAX_MAGNITUDE],
    [-BOUND_MAX_MAGNITUDE, 0],
  ]
  let checked = 0
  for (const [lower, upper] of cases) {
    const ds = dataset(lower, upper)
    // Every row at the extreme the sum can reach, one unit owning them all (maxRowsPerUnit 1000).
    const columns = new Map<string, ColumnArray>([
      ['pid', { kind: 'code', values: new Uint32Array(ROWS), dictionary: ['u'], nulls: null } as CodeColumn],
      [
        'g',
        {
          kind: 'code',
          values: Uint8Array.from({ length: ROWS }, (_, i) => i % 2),
          dictionary: ['a', 'b'],
          nulls: null,
        } as CodeColumn,
      ],
      [
        'x',
        {
          kind: 'f64' as const,
          values: new Float64Array(ROWS).fill(Math.abs(upper) >= Math.abs(lower) ? upper : lower),
          nulls: null,
        },
      ],
    ])
    for (const mechanism of ['laplace', 'gaussian'] as const) {
      // 1e-5: the smallest epsilon every aggregate here can split into its components (a micro-unit each).
      for (const epsilon of [0.00001, 1_000_000]) {
        for (const agg of AGGREGATES) {
          const p = plan(ds, `SELECT g, ${agg} FROM edge GROUP BY g`, { mechanism, epsilon, delta: 1e-5 })
          for (const a of p.perAggregate) {
            for (const v of [...Object.values(a.noise), a.halfWidth ?? 0])
              t.ok(Number.isFinite(v), `${lower}..${upper} ${mechanism} ${epsilon} ${agg}: preview figure ${v}`)
          }
          const answer = await releaseOf(p, exactOf(p, { rows: ROWS, keep: new Uint8Array(ROWS).fill(1), columns }))
          const numbers = [
            ...answer.rows.flat().filter((c) => typeof c !== 'string'),
            ...answer.intervals.flat().flatMap((iv) => iv ?? []),
          ]
          t.ok(
            numbers.length > 0 && numbers.every((v) => typeof v === 'number' && Number.isFinite(v)),
            `${lower}..${upper} ${mechanism} ${epsilon} ${agg}: finite values and intervals`,
          )
          checked += 1
        }
      }
    }
  }
  t.equal(checked, 5 * 2 * 2 * AGGREGATES.length)
})

t.test(
  'registration refuses bounds outside the range and names it; the planner refuses them in specs stored before the rule',
  async (t) => {
    for (const [lower, upper] of [
      [0, 1e-299],
      [0, 1e154],
      [-1.7e308, 1.7e308],
      [-2e15, 0],
      [0, 5e-10],
    ]) {
      const parsed = registrationSpecSchema.safeParse({ ...dataset(0, 1), columns: dataset(lower!, upper!).columns })
      t.notOk(parsed.success, `[${lower}, ${upper}] refused`)
      if (!parsed.success) t.match(parsed.error.issues[0]!.message, /between 1e-9 and 1000000000000000/)
    }
    t.ok(registrationSpecSchema.safeParse(dataset(-1e15, 1e15)).success, 'the ends of the range are accepted')
    // A spec stored earlier with such bounds: its aggregates are refused with a 4xx, COUNT(*) still answers.
    const legacy = dataset(0, 1e154)
    t.throws(() => plan(legacy, 'SELECT SUM(x) FROM edge'), {
      code: 'VEILBOX_ERR_QUERY_UNBOUNDED_COLUMN',
      message: /between 1e-9 and/,
    })
    t.ok(plan(legacy, 'SELECT COUNT(*) FROM edge'))

    const { call } = await testApp(t)
    const res = await call('operator', { method: 'POST', url: '/v1/datasets', payload: { ...dataset(0, 1.7e308) } })
    t.equal(res.statusCode, 400)
    t.match(res.json(), {
      code: 'VEILBOX_ERR_DATASET_INVALID_SCHEMA',
      errors: [{ path: 'columns[2].upper', message: /between 1e-9 and 1000000000000000/ }],
    })
  },
)
