import t from 'tap'
import { VeilboxError } from '../../../src/errors/index.js'
import { aggregate } from '../../../src/engine/exec/kernel-ts.js'
import type { Kernel } from '../../../src/engine/exec/kernel.js'
import { requireNativeKernel, resultDifference } from '../../../src/engine/exec/loader.js'
import {
  aggregateNative,
  createNativeKernel,
  type NativeBinding,
  type NativeKernels,
} from '../../../src/engine/exec/native.js'
import { FOLD_ROWS, quantumFor } from '../../../src/engine/exec/quantum.js'
import { aggregateReference } from '../../../src/engine/exec/reference.js'
import {
  MAX_GROUPS,
  type AggregateRequest,
  type AggregateResult,
  type Measure,
  type NumericColumn,
} from '../../../src/engine/exec/types.js'
import { vouchForGrouping } from '../../../src/engine/exec/validate.js'
import { bitmap, codeColumn, f64, i32, int, pick, rng, selectionOf } from './fixtures.js'

/**
 * The native kernel against the TypeScript kernel and the naive reference,
 * exactly, in every instruction-set variant this machine runs. CI builds the
 * addon in `npm ci`, so a missing addon is a failure here, not a skip; the
 * fallback has its own tests (loader.test.ts).
 */

const choice = requireNativeKernel()
const binding = (() => {
  const holder = { exports: {} as unknown }
  process.dlopen(holder, choice.binding!)
  return holder.exports as NativeBinding
})()
const variants: [string, Kernel][] = Object.keys(binding.variants).map((isa) => [
  isa,
  createNativeKernel(binding, { isa }),
])

type Tap = Pick<typeof t, 'equal'>

/** Every variant agrees with the TS kernel; with `reference`, the TS kernel with the naive one too. */
function parity(t: Tap, req: AggregateRequest, label: string, reference = true): AggregateResult {
  const expected = aggregate(req)
  if (reference) t.equal(resultDifference(expected, aggregateReference(req)), null, `${label}: ts = reference`)
  for (const [isa, kernel] of variants)
    t.equal(resultDifference(expected, kernel.aggregate(req)), null, `${label}: ${isa} = ts`)
  return expected
}

function nastyValue(r: () => number, lower: number, upper: number, kind: 'f64' | 'i32'): number {
  const span = upper - lower
  const choice = r()
  let x: number
  if (choice < 0.6) x = lower + r() * span
  else if (choice < 0.7) x = lower
  else if (choice < 0.8) x = upper
  else if (choice < 0.9) x = r() < 0.5 ? lower - r() * span * 3 : upper + r() * span * 3
  else if (kind === 'f64') x = pick(r, [Infinity, -Infinity, -0, 1e300, -1e300, Number.MIN_VALUE, -Number.MIN_VALUE])
  else x = pick(r, [-(2 ** 31), 2 ** 31 - 1, 0])
  if (kind === 'i32') return Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, Math.round(x)))
  return x
}

/** A column whose null rows hold NaN, as a store using NaN as its null placeholder would. */
function numericColumn(
  r: () => number,
  rows: number,
  kind: 'f64' | 'i32',
  lower: number,
  upper: number,
  nullRate: number,
): NumericColumn {
  const values = Array.from({ length: rows }, () => nastyValue(r, lower, upper, kind))
  const nulls = nullRate > 0 ? bitmap(rows, () => r() < nullRate) : null
  if (kind === 'f64' && nulls !== null)
    for (let i = 0; i < rows; i++) if ((nulls[i >> 3]! >> (i & 7)) & 1) values[i] = Number.NaN
  return kind === 'f64' ? f64(values, nulls) : i32(values, nulls)
}

const BOUNDS: readonly (readonly [number, number])[] = [
  [0, 1],
  [-5, 5],
  [0, 1e6],
  [-100, -5],
  [-(2 ** 31), 2 ** 31 - 1],
  [-(2 ** 31), 2 ** 31],
  [0.1, 0.3],
  [-1e-3, 2.5e7],
  [-1e300, 1e300],
]

function randomRequest(r: () => number, rows: number): AggregateRequest {
  const groups = pick(r, [0, 1, 7, 300, 1000, 4096, 4097, 70_000])
  const codes = () =>
    groups <= 256
      ? Uint8Array.from({ length: rows }, () => int(r, groups))
      : groups <= 65_536 && r() < 0.7
        ? Uint16Array.from({ length: rows }, () => int(r, groups))
        : Uint32Array.from({ length: rows }, () => int(r, groups))
  const grouping = groups === 0 ? null : { codes: codes(), count: groups }
  const selection = r() < 0.6 ? selectionOf(r, rows, pick(r, [0, 0.3, 0.9, 1])) : null
  if (selection !== null && r() < 0.3)
    for (let i = 0; i < rows; i++) if (selection[i] !== 0) selection[i] = 1 + int(r, 255)
  const measures: Measure[] = []
  const n = 1 + int(r, 4)
  for (let k = 0; k < n; k++) {
    const [lower, upper] = pick(r, BOUNDS)
    const column = numericColumn(r, rows, r() < 0.5 ? 'f64' : 'i32', lower, upper, pick(r, [0, 0, 0.1, 0.9]))
    const kind = pick(r, ['moments', 'moments', 'nonNull', 'histogram'] as const)
    if (kind === 'moments')
      measures.push({ kind, column, lower, upper, quantum: quantumFor(lower, upper), squares: r() < 0.5 })
    else if (kind === 'histogram' && Number.isFinite(upper - lower))
      measures.push({ kind, column, lower, upper, bins: pick(r, [1, 2, 10, 37]) })
    else measures.push({ kind: 'nonNull', column })
  }
  if (r() < 0.2) {
    const dict = ['a', 'b', 'c']
    measures.push({
      kind: 'nonNull',
      column: codeColumn(
        Uint8Array.from({ length: rows }, () => int(r, 3)),
        dict,
        bitmap(rows, () => r() < 0.3),
      ),
    })
  }
  return { rows, selection, grouping, measures }
}

t.test('the addon loaded, with at least the baseline variant', async (t) => {
  t.equal(choice.kernel.name, 'native')
  t.ok(variants.length >= 1)
  t.ok(['sse2', 'generic'].includes(variants[variants.length - 1]![0]), 'the baseline variant is always there')
  const info = binding.info()
  t.strictSame(
    info.isas,
    variants.map(([isa]) => isa),
  )
  t.match(info.flags, /-ffp-contract=off/)
})

t.test('random requests: native = ts = reference', async (t) => {
  const r = rng(4242)
  for (let k = 0; k < 120; k++) {
    const rows = pick(r, [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 63, 64, 65, 500, 2047, 2048, 2049, 4099, 16_385])
    parity(t, randomRequest(r, rows), `case ${k}, ${rows} rows`, rows <= 4099)
  }
})

t.test('every path: grouped (laned and not) x selection x nulls x squares x f64/i32', async (t) => {
  const r = rng(77)
  const rows = 5000
  const [lower, upper] = [-5, 5]
  for (const groups of [0, 7, 5000]) {
    for (const selected of [false, true]) {
      for (const nullRate of [0, 0.25]) {
        for (const squares of [false, true]) {
          for (const kind of ['f64', 'i32'] as const) {
            const column = numericColumn(r, rows, kind, lower, upper, nullRate)
            const req: AggregateRequest = {
              rows,
              selection: selected ? selectionOf(r, rows, 0.5) : null,
              grouping:
                groups === 0
                  ? null
                  : { codes: Uint16Array.from({ length: rows }, () => int(r, groups)), count: groups },
              measures: [
                { kind: 'moments', column, lower, upper, quantum: quantumFor(lower, upper), squares },
                { kind: 'histogram', column, lower, upper, bins: 4 },
                { kind: 'nonNull', column },
              ],
            }
            parity(t, req, `groups=${groups} selected=${selected} nulls=${nullRate} squares=${squares} ${kind}`)
          }
        }
      }
    }
  }
})

t.test('zero rows, one row, all rows filtered out, empty groups', async (t) => {
  const q = quantumFor(0, 10)
  const moments = (column: NumericColumn): Measure => ({
    kind: 'moments',
    column,
    lower: 0,
    upper: 10,
    quantum: q,
    squares: true,
  })
  const zero = parity(t, { rows: 0, selection: null, grouping: null, measures: [moments(f64([]))] }, 'zero rows')
  t.equal(zero.count[0], 0)
  parity(
    t,
    {
      rows: 0,
      selection: new Uint8Array(0),
      grouping: { codes: new Uint8Array(0), count: 3 },
      measures: [moments(f64([])), { kind: 'histogram', column: f64([]), lower: 0, upper: 1, bins: 2 }],
    },
    'zero rows, grouped',
  )
  parity(t, { rows: 1, selection: null, grouping: null, measures: [moments(f64([2.5]))] }, 'one row')
  parity(
    t,
    {
      rows: 1,
      selection: Uint8Array.of(7),
      grouping: { codes: Uint32Array.of(2), count: 3 },
      measures: [moments(i32([9]))],
    },
    'one row, grouped',
  )
  const none = parity(
    t,
    {
      rows: 3,
      selection: new Uint8Array(3),
      grouping: { codes: Uint8Array.of(0, 1, 2), count: 3 },
      measures: [moments(f64([1, 2, 3]))],
    },
    'all rows filtered out',
  )
  t.strictSame([...none.count], [0, 0, 0])
  const r = rng(5)
  const big = 10_000
  parity(
    t,
    {
      rows: big,
      selection: new Uint8Array(big),
      grouping: { codes: Uint8Array.from({ length: big }, () => int(r, 9)), count: 9 },
      measures: [moments(numericColumn(r, big, 'f64', 0, 10, 0.3))],
    },
    'all of 10,000 rows filtered out, with NaN under nulls',
  )
  parity(
    t,
    {
      rows: 4,
      selection: null,
      grouping: { codes: Uint8Array.of(4, 4, 0, 4), count: 9 },
      measures: [moments(f64([1, 2, 3, 4]))],
    },
    'empty groups are zeros',
  )
})

t.test('values at the bounds and the rounding edges', async (t) => {
  const q = quantumFor(-10, 10)
  const unit = 2 ** q.exp
  const edges = [
    -10,
    10,
    -10 - 1e-9,
    10 + 1e-9,
    0,
    -0,
    0.49999999999999994 * unit,
    0.5 * unit,
    1.5 * unit,
    -0.5 * unit,
    -1.5 * unit,
    2.5 * unit,
    Infinity,
    -Infinity,
  ]
  const values = Array.from({ length: 203 }, (_, i) => edges[i % edges.length]!)
  const column = f64(values)
  parity(
    t,
    {
      rows: values.length,
      selection: null,
      grouping: { codes: Uint8Array.from(values, (_, i) => i % 3), count: 3 },
      measures: [
        { kind: 'moments', column, lower: -10, upper: 10, quantum: q, squares: true },
        { kind: 'histogram', column, lower: -10, upper: 10, bins: 20 },
      ],
    },
    'grid edges',
  )
  // |q| = 2^31 - 3 squares to a product that needs 62 bits: the double product rounds, by definition.
  const big = f64([2145272597, -2145272597, 2 ** 31, -(2 ** 31), 2 ** 31 - 1, 46341, 46340.5])
  const res = parity(
    t,
    {
      rows: 7,
      selection: null,
      grouping: null,
      measures: [
        {
          kind: 'moments',
          column: big,
          lower: -(2 ** 31),
          upper: 2 ** 31,
          quantum: quantumFor(-(2 ** 31), 2 ** 31),
          squares: true,
        },
      ],
    },
    'squares near 2^31',
  )
  const m = res.measures[0]!
  t.equal(m.kind === 'moments' && m.sum[0], 46341n + 46341n + 2n ** 31n - 1n)
})

t.test('the largest group code', async (t) => {
  const rows = 50
  const codes = new Uint32Array(rows)
  codes[0] = MAX_GROUPS - 1
  codes[rows - 1] = MAX_GROUPS - 1
  const column = f64(Array.from({ length: rows }, (_, i) => i))
  const res = parity(
    t,
    {
      rows,
      selection: null,
      grouping: { codes, count: MAX_GROUPS },
      measures: [
        { kind: 'moments', column, lower: 0, upper: 100, quantum: quantumFor(0, 100), squares: true },
        { kind: 'histogram', column, lower: 0, upper: 100, bins: 16 },
      ],
    },
    'code MAX_GROUPS - 1',
    false,
  )
  t.equal(res.count[MAX_GROUPS - 1], 2)
  parity(
    t,
    { rows: 3, selection: null, grouping: { codes: Uint8Array.of(255, 0, 255), count: 256 }, measures: [] },
    'code 255 of a Uint8Array',
  )
  parity(
    t,
    { rows: 3, selection: null, grouping: { codes: Uint16Array.of(65_535, 0, 65_535), count: 65_536 }, measures: [] },
    'code 65535 of a Uint16Array',
  )
})

t.test('Int32 extremes', async (t) => {
  const lo = -(2 ** 31)
  const hi = 2 ** 31 - 1
  const column = i32([lo, hi, hi, lo, 0, -1, 1, lo, lo, lo])
  for (const [lower, upper] of [
    [lo, hi],
    [lo, 2 ** 31],
    [-5, 5],
    [-(2 ** 40), 2 ** 40],
  ] as const) {
    parity(
      t,
      {
        rows: 10,
        selection: null,
        grouping: { codes: Uint8Array.of(0, 1, 0, 1, 0, 1, 0, 1, 0, 1), count: 2 },
        measures: [{ kind: 'moments', column, lower, upper, quantum: quantumFor(lower, upper), squares: true }],
      },
      `int32 extremes in [${lower}, ${upper}]`,
    )
  }
})

t.test('more than 2^21 rows, and packed accumulators at their limit', async (t) => {
  // Every value at the bound: 2^31 units a row, the most a packed accumulator
  // can take (2^14 rows of them fill 2^45 of its 2^46). Some rows at -1 unit.
  const rows = 3 * FOLD_ROWS + 5
  const q = quantumFor(-1, 1)
  for (const sign of [1, -1]) {
    const values = new Float64Array(rows).fill(sign)
    let small = 0
    for (let i = 0; i < rows; i += 1000, small++) values[i] = -(2 ** -31)
    const expected = BigInt(sign) * BigInt(rows - small) * 2n ** 31n - BigInt(small)
    const squares = BigInt(rows - small) * 2n ** 31n
    const column = f64(values)
    const grouping7 = { codes: Uint8Array.from({ length: rows }, (_, i) => i % 7), count: 7 }
    const grouping1 = { codes: new Uint8Array(rows), count: 1 }
    vouchForGrouping(grouping7)
    vouchForGrouping(grouping1)
    const selection = new Uint8Array(rows).fill(1)
    for (const [isa, kernel] of variants) {
      for (const [label, req] of [
        ['ungrouped', { rows, selection: null, grouping: null }],
        ['ungrouped, selected', { rows, selection, grouping: null }],
        ['one group', { rows, selection: null, grouping: grouping1 }],
        ['one group, null path', { rows, selection, grouping: grouping1, nulls: true }],
      ] as const) {
        const col = 'nulls' in req ? f64(values, new Uint8Array(Math.ceil(rows / 8))) : column
        const res = kernel.aggregate({
          rows,
          selection: req.selection,
          grouping: req.grouping,
          measures: [{ kind: 'moments', column: col, lower: -1, upper: 1, quantum: q, squares: true }],
        })
        const m = res.measures[0]!
        t.strictSame(
          m.kind === 'moments' && [m.sum[0], m.sumSquares![0], m.nonNull[0]],
          [expected, squares, rows],
          `${isa} ${label}, sign ${sign}`,
        )
      }
      const seven = {
        rows,
        selection,
        grouping: grouping7,
        measures: [{ kind: 'moments', column, lower: -1, upper: 1, quantum: q, squares: true } as const],
      }
      t.equal(resultDifference(aggregate(seven), kernel.aggregate(seven)), null, `${isa} seven groups, sign ${sign}`)
    }
  }
  const n = FOLD_ROWS + 4099
  const r = rng(11)
  const column = numericColumn(r, n, 'f64', -1, 1, 0.05)
  parity(
    t,
    {
      rows: n,
      selection: selectionOf(r, n, 0.8),
      grouping: { codes: Uint8Array.from({ length: n }, (_, i) => i % 3), count: 3 },
      measures: [{ kind: 'moments', column, lower: -1, upper: 1, quantum: q, squares: true }],
    },
    'grouped, selected, nulls, across a fold',
  )
})

t.test('COUNT(*) and COUNT(col) without a null-free measure column', async (t) => {
  const rows = 2051
  const r = rng(3)
  const nulls = bitmap(rows, (i) => i % 3 === 0)
  const column = f64(
    Array.from({ length: rows }, () => r()),
    nulls,
  )
  const codes = codeColumn(
    Uint8Array.from({ length: rows }, (_, i) => i % 2),
    ['x', 'y'],
    bitmap(rows, (i) => i % 5 === 0),
  )
  for (const groups of [4, 5000]) {
    const grouping = { codes: Uint16Array.from({ length: rows }, (_, i) => i % groups), count: groups }
    const selection = selectionOf(r, rows, 0.6)
    parity(t, { rows, selection, grouping, measures: [] }, `no measures, ${groups} groups, selected`)
    parity(t, { rows, selection: null, grouping, measures: [] }, `no measures, ${groups} groups`)
    parity(t, { rows, selection, grouping: null, measures: [] }, 'no measures, selected')
    parity(
      t,
      {
        rows,
        selection,
        grouping,
        measures: [
          { kind: 'nonNull', column },
          { kind: 'nonNull', column: codes },
        ],
      },
      `nonNull over nullable columns, ${groups} groups`,
    )
  }
})

t.test('unaligned views over shared memory', async (t) => {
  const r = rng(13)
  const rows = 10_007
  const sab = new SharedArrayBuffer(8 * (rows + 1) + 4 * (rows + 1) + 2 * (rows + 3) + 8)
  const values = new Float64Array(sab, 8, rows)
  const ints = new Int32Array(sab, 8 * (rows + 1), rows)
  const selBase = new Uint8Array(sab, 8 * (rows + 1) + 4 * (rows + 1), rows + 3)
  for (let i = 0; i < rows; i++) {
    values[i] = nastyValue(r, -5, 5, 'f64')
    ints[i] = nastyValue(r, -5, 5, 'i32')
  }
  for (let i = 0; i < rows + 3; i++) selBase[i] = r() < 0.7 ? 1 : 0
  const selection = selBase.subarray(3)
  const nullsBase = bitmap(rows + 8, () => r() < 0.2)
  const nulls = nullsBase.subarray(1)
  for (const col of [{ kind: 'f64', values, nulls } as const, { kind: 'i32', values: ints, nulls } as const]) {
    parity(
      t,
      {
        rows,
        selection,
        grouping: { codes: Uint8Array.from({ length: rows }, () => int(r, 5)), count: 5 },
        measures: [
          { kind: 'moments', column: col, lower: -5, upper: 5, quantum: quantumFor(-5, 5), squares: true },
          { kind: 'nonNull', column: col },
          { kind: 'histogram', column: col, lower: -5, upper: 5, bins: 6 },
        ],
      },
      `${col.kind} views at odd offsets of a SharedArrayBuffer`,
    )
  }
})

t.test('NaN in a selected non-null row is refused with the TS kernel error; elsewhere it is ignored', async (t) => {
  const column = f64([1, Number.NaN, 3, 4, 5, 6, 7, 8, 9])
  const q = quantumFor(0, 10)
  const detail = 'measures[0].column holds NaN in a selected non-null row'
  for (const [isa, kernel] of variants) {
    for (const grouping of [
      null,
      { codes: Uint8Array.of(0, 1, 0, 1, 0, 1, 0, 1, 0), count: 2 },
      { codes: Uint16Array.from({ length: 9 }, (_, i) => i), count: 5000 },
    ]) {
      const req: AggregateRequest = {
        rows: 9,
        selection: null,
        grouping,
        measures: [{ kind: 'moments', column, lower: 0, upper: 10, quantum: q, squares: true }],
      }
      t.throws(() => kernel.aggregate(req), { code: 'VEILBOX_ERR_EXEC_BAD_ARGUMENT', detail }, `${isa} moments`)
      t.throws(
        () => kernel.aggregate({ ...req, measures: [{ kind: 'histogram', column, lower: 0, upper: 10, bins: 3 }] }),
        { code: 'VEILBOX_ERR_EXEC_BAD_ARGUMENT', detail },
        `${isa} histogram`,
      )
      const unselected = kernel.aggregate({ ...req, selection: Uint8Array.of(1, 0, 1, 1, 1, 1, 1, 1, 1) })
      t.equal(
        unselected.count.reduce((a, b) => a + b, 0),
        8,
        `${isa}: a NaN in an unselected row is never summed`,
      )
      const nullNaN = kernel.aggregate({
        ...req,
        measures: [
          {
            kind: 'moments',
            column: f64(
              [...column.values],
              bitmap(9, (i) => i === 1),
            ),
            lower: 0,
            upper: 10,
            quantum: q,
            squares: true,
          },
        ],
      })
      t.equal(
        nullNaN.count.reduce((a, b) => a + b, 0),
        9,
        `${isa}: nor one under a null bit`,
      )
    }
  }
})

t.test('bad arguments throw the same typed errors as the TS kernel, and never crash', async (t) => {
  const q = quantumFor(0, 1)
  const good: AggregateRequest = {
    rows: 3,
    selection: null,
    grouping: { codes: Uint8Array.of(0, 1, 1), count: 2 },
    measures: [{ kind: 'moments', column: f64([0.1, 0.2, 0.3]), lower: 0, upper: 1, quantum: q, squares: false }],
  }
  const bad: [string, AggregateRequest][] = [
    [
      'wrong value array type',
      {
        ...good,
        measures: [
          {
            ...good.measures[0]!,
            column: { kind: 'f64', values: new Float32Array(3) as unknown as Float64Array, nulls: null },
          } as Measure,
        ],
      },
    ],
    [
      'i32 column holding a Float64Array',
      {
        ...good,
        measures: [
          {
            ...good.measures[0]!,
            column: { kind: 'i32', values: new Float64Array(3) as unknown as Int32Array, nulls: null },
          } as Measure,
        ],
      },
    ],
    ['values shorter than rows', { ...good, measures: [{ ...good.measures[0]!, column: f64([1, 2]) } as Measure] }],
    ['selection longer than rows', { ...good, selection: new Uint8Array(4) }],
    ['codes of the wrong type', { ...good, grouping: { codes: new Int8Array(3) as unknown as Uint8Array, count: 2 } }],
    ['codes shorter than rows', { ...good, grouping: { codes: new Uint8Array(2), count: 2 } }],
    ['a code out of range', { ...good, grouping: { codes: Uint8Array.of(0, 2, 1), count: 2 } }],
    ['a code far out of range', { ...good, grouping: { codes: Uint32Array.of(0, 4_000_000_000, 1), count: 2 } }],
    ['too many groups', { ...good, grouping: { codes: new Uint32Array(3), count: MAX_GROUPS + 1 } }],
    [
      'a null bitmap too short',
      {
        ...good,
        rows: 9,
        grouping: null,
        measures: [{ ...good.measures[0]!, column: f64(new Array(9).fill(0), new Uint8Array(1)) } as Measure],
      },
    ],
    ['a quantum too fine', { ...good, measures: [{ ...good.measures[0]!, quantum: { exp: -40 } } as Measure] }],
    ['rows not an integer', { ...good, rows: 2.5 }],
  ]
  for (const [label, req] of bad) {
    let expected: unknown
    try {
      aggregate(req)
    } catch (e) {
      expected = e
    }
    t.type(expected, VeilboxError, `${label}: the TS kernel refuses it`)
    for (const [isa, kernel] of variants) {
      t.throws(
        () => kernel.aggregate(req),
        { code: (expected as VeilboxError).code, detail: (expected as VeilboxError).detail },
        `${isa}: ${label}`,
      )
    }
  }
})

t.test('a code changed after validation is caught by the addon itself', async (t) => {
  // grouping.ts vouches for its codes, so the validator skips the scan; the
  // addon still clamps every code it reads and reports the bad one.
  const codes = Uint8Array.of(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0)
  const grouping = { codes, count: 2 }
  vouchForGrouping(grouping)
  codes[11] = 200
  const column = f64(Array.from({ length: 13 }, (_, i) => i))
  const detail = 'grouping.codes holds code 200, not below grouping.count = 2'
  for (const [isa, kernel] of variants) {
    for (const measures of [
      [{ kind: 'moments', column, lower: 0, upper: 20, quantum: quantumFor(0, 20), squares: true }],
      [{ kind: 'histogram', column, lower: 0, upper: 20, bins: 3 }],
      [],
    ] as Measure[][]) {
      t.throws(
        () => kernel.aggregate({ rows: 13, selection: null, grouping, measures }),
        { code: 'VEILBOX_ERR_EXEC_BAD_ARGUMENT', detail },
        `${isa}, ${measures[0]?.kind ?? 'count'}`,
      )
    }
  }
})

t.test('the addon refuses bad calls with a typed error instead of reading out of bounds', async (t) => {
  const out = new Float64Array(1)
  const sum = new BigInt64Array(1)
  const v = new Float64Array(4)
  const calls: [string, () => unknown][] = [
    ['values too short', () => binding.moments(5, null, null, 1, v, null, 0, 1, 1, false, out, sum, null, null)],
    [
      'selection too short',
      () => binding.moments(4, new Uint8Array(3), null, 1, v, null, 0, 1, 1, false, out, sum, null, null),
    ],
    [
      'nulls too short',
      () =>
        binding.moments(9, null, null, 1, new Float64Array(9), new Uint8Array(1), 0, 1, 1, false, out, sum, null, null),
    ],
    ['codes too short', () => binding.counts(4, null, new Uint8Array(3), 1, null, out)],
    ['output too short', () => binding.counts(4, null, new Uint8Array(4), 2, null, out)],
    ['groups without codes', () => binding.counts(4, null, null, 2, null, new Float64Array(2))],
    [
      'a scale that breaks |q| <= 2^31',
      () => binding.moments(4, null, null, 1, v, null, 0, 1, 2 ** 32, false, out, sum, null, null),
    ],
    ['NaN bounds', () => binding.moments(4, null, null, 1, v, null, Number.NaN, 1, 1, false, out, sum, null, null)],
    ['too few histogram cells', () => binding.histogram(4, null, null, 1, v, null, 0, 1, 3, new Float64Array(2))],
    ['rows past 2^32 - 1', () => binding.counts(2 ** 32, null, null, 1, null, out)],
    [
      'not a typed array',
      () =>
        binding.moments(
          4,
          null,
          null,
          1,
          [0, 0, 0, 0] as unknown as Float64Array,
          null,
          0,
          1,
          1,
          false,
          out,
          sum,
          null,
          null,
        ),
    ],
    ['too few arguments', () => (binding.counts as unknown as (...a: unknown[]) => number)(4, null)],
  ]
  for (const [label, call] of calls) t.throws(call, { code: 'VEILBOX_ERR_NATIVE_BAD_CALL' }, label)
  t.equal(
    binding.counts(4, null, Uint8Array.of(0, 9, 1, 0), 2, null, new Float64Array(2)),
    2,
    'an out-of-range code is a status, not a crash',
  )
})

t.test('whatever the addon throws becomes a VeilboxError', async (t) => {
  const req: AggregateRequest = { rows: 1, selection: null, grouping: null, measures: [] }
  const throwing = (e: unknown): NativeKernels => ({
    moments: () => 0,
    histogram: () => 0,
    counts: () => {
      throw e
    },
  })
  t.throws(
    () => aggregateNative(throwing(Object.assign(new Error('no'), { code: 'VEILBOX_ERR_NATIVE_BAD_CALL' })), req),
    { code: 'VEILBOX_ERR_NATIVE_BAD_CALL' },
  )
  t.throws(() => aggregateNative(throwing(new RangeError('boom')), req), {
    code: 'VEILBOX_ERR_NATIVE_FAILURE',
    detail: 'native kernel: boom',
  })
  t.throws(() => aggregateNative(throwing('a string'), req), { code: 'VEILBOX_ERR_NATIVE_FAILURE' })
  t.throws(
    () => aggregateNative({ moments: () => 0, histogram: () => 0, counts: () => 99 }, req),
    { code: 'VEILBOX_ERR_NATIVE_FAILURE' },
    'an unknown status',
  )
})
