import t from 'tap'
import { aggregateChunked, chunkable } from '../../../src/engine/exec/chunked.js'
import { tsKernel, type Kernel } from '../../../src/engine/exec/kernel.js'
import { loadKernel } from '../../../src/engine/exec/loader.js'
import { tsLoops, type Loops } from '../../../src/engine/exec/loops.js'
import { quantumFor } from '../../../src/engine/exec/quantum.js'
import { aggregateTask, type ExecTask, type TaskColumns } from '../../../src/engine/exec/task.js'
import type { ColumnArray } from '../../../src/engine/exec/types.js'
import { bitmap, codeColumn, f64, i32, int, rng } from './fixtures.js'

/**
 * Row ranges (exec/chunked.ts) against the whole-column path (aggregateTask):
 * the same results, bit for bit, and the same refusals, for the TypeScript
 * kernel and loops and, when the addon loads, the native ones, at range sizes
 * that cut rows, null bytes and groups at every boundary.
 */

const choice = loadKernel({ native: true })
const setups: [string, Kernel, Loops][] = [['ts', tsKernel, tsLoops]]
if (choice.kernel.name === 'native') setups.push(['native', choice.kernel, choice.loops])

const DICT = ['a', 'b', 'c', 'd', 'e', 'f', 'g']
const ZONES = Array.from({ length: 300 }, (_, i) => `z${i}`)

function data(rows: number, seed: number): TaskColumns {
  const r = rng(seed)
  const x = Array.from({ length: rows }, () => -100 + r() * 1200)
  const n = Array.from({ length: rows }, () => int(r, 2000) - 1000)
  const g = Uint8Array.from({ length: rows }, () => int(r, DICT.length))
  const z = Uint16Array.from({ length: rows }, () => int(r, ZONES.length))
  const flag = Uint8Array.from({ length: rows }, () => (r() < 0.7 ? 1 : 0))
  const keep = Uint8Array.from({ length: rows }, () => (r() < 0.9 ? 1 : 0))
  const columns = new Map<string, ColumnArray>([
    ['ni', i32(n)],
    [
      'x',
      f64(
        x,
        bitmap(rows, () => r() < 0.1),
      ),
    ],
    ['xx', f64(x)],
    [
      'n',
      i32(
        n,
        bitmap(rows, () => r() < 0.2),
      ),
    ],
    ['g', codeColumn(g, DICT)],
    [
      'gn',
      codeColumn(
        g.slice(),
        DICT,
        bitmap(rows, () => r() < 0.15),
      ),
    ],
    ['z', codeColumn(z, ZONES)],
    ['flag', codeColumn(flag, ['false', 'true'])],
  ])
  return { rows, columns, keep }
}

const moments = (column: string, squares: boolean) => ({
  kind: 'moments' as const,
  column,
  lower: 0,
  upper: 1000,
  exp: quantumFor(0, 1000).exp,
  squares,
})

const where = {
  kind: 'and' as const,
  operands: [
    { kind: 'cmp' as const, column: 'flag', op: '=' as const, value: true },
    {
      kind: 'or' as const,
      operands: [
        { kind: 'cmp' as const, column: 'x', op: '>' as const, value: 100 },
        { kind: 'not' as const, operand: { kind: 'in' as const, column: 'n', values: [1, 2, 3, -5], negated: false } },
        { kind: 'isNull' as const, column: 'gn', negated: false },
      ],
    },
    { kind: 'between' as const, column: 'xx', low: -50, high: 900, negated: false },
    { kind: 'in' as const, column: 'g', values: ['a', 'c', 'd', 'g'], negated: false },
  ],
}

const tasks: [string, ExecTask][] = [
  ['COUNT(*)', { dataset: 'd', version: 1, where: null, groupBy: [], measures: [] }],
  ['SUM, squares, no WHERE', { dataset: 'd', version: 1, where: null, groupBy: [], measures: [moments('x', true)] }],
  [
    'GROUP BY 7, SUM, WHERE',
    {
      dataset: 'd',
      version: 1,
      where,
      groupBy: [{ column: 'g', dictionary: DICT, nullable: false }],
      measures: [moments('xx', false), moments('n', true)],
    },
  ],
  [
    'GROUP BY nullable x zones, histogram, nonNull',
    {
      dataset: 'd',
      version: 1,
      where,
      groupBy: [
        { column: 'gn', dictionary: DICT, nullable: true },
        { column: 'z', dictionary: ZONES, nullable: false },
      ],
      measures: [
        { kind: 'histogram', column: 'x', lower: 0, upper: 1000, bins: 5 },
        { kind: 'nonNull', column: 'n' },
        { kind: 'nonNull', column: 'xx' },
      ],
    },
  ],
  [
    'GROUP BY buckets',
    {
      dataset: 'd',
      version: 1,
      where: { kind: 'between', column: 'xx', low: 0, high: 1000, negated: false },
      groupBy: [{ column: 'xx', dictionary: ['0', '1', '2', '3'], nullable: false, bucket: { lower: 0, upper: 1000 } }],
      measures: [moments('x', false)],
    },
  ],
]

/** WHEREs with a comparison on the summed column, which the native kernel applies in its pass (fusedFilter). */
const wheres: NonNullable<ExecTask['where']>[] = [
  { kind: 'cmp', column: 'xx', op: '>', value: 100 },
  { kind: 'cmp', column: 'xx', op: '<=', value: 300.5 },
  { kind: 'between', column: 'xx', low: 10, high: 700, negated: false },
  { kind: 'between', column: 'xx', low: 700, high: 10, negated: false },
  {
    kind: 'and',
    operands: [
      { kind: 'cmp', column: 'flag', op: '=', value: true },
      { kind: 'cmp', column: 'xx', op: '>=', value: 100 },
      { kind: 'isNull', column: 'gn', negated: true },
    ],
  },
  { kind: 'and', operands: [{ kind: 'cmp', column: 'xx', op: '<', value: 500 }] },
  { kind: 'cmp', column: 'xx', op: '<>', value: 5 },
]
const fusable: [string, ExecTask][] = wheres.flatMap((w): [string, ExecTask][] => [
  [
    `GROUP BY 7, SUM, ${JSON.stringify(w)}`,
    {
      dataset: 'd',
      version: 1,
      where: w,
      groupBy: [{ column: 'g', dictionary: DICT, nullable: false }],
      measures: [moments('xx', false)],
    },
  ],
  [
    `SUM, squares, ${JSON.stringify(w)}`,
    { dataset: 'd', version: 1, where: w, groupBy: [], measures: [moments('xx', true)] },
  ],
])
fusable.push([
  'an i32 column, =',
  {
    dataset: 'd',
    version: 1,
    where: { kind: 'cmp', column: 'ni', op: '=', value: 17 },
    groupBy: [{ column: 'z', dictionary: ZONES, nullable: false }],
    measures: [moments('ni', false)],
  },
])

for (const [kernelName, kernel, loops] of setups) {
  t.test(`${kernelName}: a comparison on the summed column gives aggregateTask's results`, async (t) => {
    for (const rows of [0, 5, 100, 4099]) {
      const src = data(rows, rows + 1)
      const x = Float64Array.from(src.columns.get('xx')!.values)
      // NaN fails every comparison but <>: never selected, never refused.
      for (let i = 0; i < rows; i += 13) x[i] = Number.NaN
      const cols = new Map(src.columns)
      cols.set('xx', f64(x))
      const withNaN = { ...src, columns: cols }
      for (const [name, task] of fusable) {
        const s = JSON.stringify(task.where).includes('"<>"') ? src : withNaN
        const whole = aggregateTask(kernel, task, s, loops).result
        for (const chunk of [8, 64, 4096])
          t.same(aggregateChunked(kernel, task, s, loops, chunk), whole, `${name}, ${rows} by ${chunk}`)
      }
    }
  })

  t.test(`${kernelName}: row ranges give aggregateTask's results`, async (t) => {
    for (const rows of [0, 1, 7, 8, 100, 1003, 4096]) {
      const src = data(rows, rows)
      for (const [name, task] of tasks) {
        t.ok(chunkable(task))
        const whole = aggregateTask(kernel, task, src, loops).result
        for (const chunk of [8, 16, 64, 1000, 4096]) {
          t.same(aggregateChunked(kernel, task, src, loops, chunk), whole, `${name}, ${rows} rows by ${chunk}`)
        }
      }
    }
  })

  t.test(`${kernelName}: the same refusals as the whole columns, with the same rows named`, async (t) => {
    const src = data(1000, 3)
    const bad = new Uint8Array((src.columns.get('g')!.values as Uint8Array).slice())
    bad[700] = 9
    const cols = new Map(src.columns)
    cols.set('g', codeColumn(bad, DICT))
    const x = Float64Array.from(src.columns.get('xx')!.values)
    x[900] = Number.NaN
    cols.set('xx', f64(x))
    const broken = { ...src, columns: cols }
    const [, grouped] = tasks[2]!
    const expectThrow = (fn: () => unknown) => {
      try {
        fn()
      } catch (e) {
        return e
      }
      return null
    }
    const wholeErr = expectThrow(() => aggregateTask(kernel, grouped, broken, loops))
    t.match(wholeErr, { code: 'VEILBOX_ERR_EXEC_BAD_ARGUMENT', message: /row 700/ })
    t.same(
      expectThrow(() => aggregateChunked(kernel, grouped, broken, loops, 64)),
      wholeErr,
    )
    const sum: ExecTask = { dataset: 'd', version: 1, where: null, groupBy: [], measures: [moments('xx', false)] }
    const nanErr = expectThrow(() => aggregateTask(kernel, sum, broken, loops))
    t.match(nanErr, { message: /NaN/ })
    t.same(
      expectThrow(() => aggregateChunked(kernel, sum, broken, loops, 64)),
      nanErr,
    )
    const missing: ExecTask = { ...sum, measures: [moments('nope', false)] }
    t.same(
      expectThrow(() => aggregateChunked(kernel, missing, src, loops, 64)),
      expectThrow(() => aggregateTask(kernel, missing, src, loops)),
    )
  })
}

t.test('tasks that need every row at once are not cut', async (t) => {
  t.notOk(chunkable({ ...tasks[0]![1], measures: [{ kind: 'distinctUnits', column: 'g', maxRowsPerUnit: 1 }] }))
  t.notOk(chunkable({ ...tasks[0]![1], encrypted: [{ column: 'x', squares: false }] }))
  t.throws(() => aggregateChunked(tsKernel, tasks[0]![1], data(10, 1), tsLoops, 12))
})
