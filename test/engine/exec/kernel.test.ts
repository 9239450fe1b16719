import t from 'tap'
import { tsKernel } from '../../../src/engine/exec/kernel.js'
import { aggregate } from '../../../src/engine/exec/kernel-ts.js'
import { FOLD_ROWS, quantumFor } from '../../../src/engine/exec/quantum.js'
import { aggregateReference } from '../../../src/engine/exec/reference.js'
import {
  MAX_GROUPS,
  type AggregateRequest,
  type AggregateResult,
  type Measure,
  type NumericColumn,
} from '../../../src/engine/exec/types.js'
import { bitmap, codeColumn, f64, i32, int, pick, rng, selectionOf } from './fixtures.js'

type Tap = Pick<typeof t, 'equal'>

/** Plain arrays, so that a mismatch prints readably and typed-array kinds cannot hide one. */
function plain(r: AggregateResult): unknown {
  return {
    count: [...r.count],
    measures: r.measures.map((m) =>
      m.kind === 'moments'
        ? {
            kind: m.kind,
            nonNull: [...m.nonNull],
            sum: m.sum.map(String),
            sumSquares: m.sumSquares?.map(String) ?? null,
          }
        : m.kind === 'nonNull'
          ? { kind: m.kind, nonNull: [...m.nonNull] }
          : { kind: m.kind, bins: m.bins, counts: [...m.counts] },
    ),
  }
}

/** The first place two results differ, or null; cheaper than a deep diff of a million groups. */
function difference(a: AggregateResult, b: AggregateResult): string | null {
  const seq = (x: ArrayLike<unknown>, y: ArrayLike<unknown>, at: string): string | null => {
    if (x.length !== y.length) return `${at}: length ${x.length} vs ${y.length}`
    for (let i = 0; i < x.length; i++)
      if (!Object.is(x[i], y[i])) return `${at}[${i}]: ${String(x[i])} vs ${String(y[i])}`
    return null
  }
  const found = seq(a.count, b.count, 'count')
  if (found !== null) return found
  if (a.measures.length !== b.measures.length) return 'measure count'
  for (let k = 0; k < a.measures.length; k++) {
    const x = a.measures[k]!
    const y = b.measures[k]!
    const at = `measures[${k}]`
    if (x.kind !== y.kind) return `${at}.kind`
    const d =
      x.kind === 'moments' && y.kind === 'moments'
        ? (seq(x.nonNull, y.nonNull, `${at}.nonNull`) ??
          seq(x.sum, y.sum, `${at}.sum`) ??
          (x.sumSquares === null || y.sumSquares === null
            ? x.sumSquares === y.sumSquares
              ? null
              : `${at}.sumSquares presence`
            : seq(x.sumSquares, y.sumSquares, `${at}.sumSquares`)))
        : x.kind === 'histogram' && y.kind === 'histogram'
          ? x.bins === y.bins
            ? seq(x.counts, y.counts, `${at}.counts`)
            : `${at}.bins`
          : x.kind === 'nonNull' && y.kind === 'nonNull'
            ? seq(x.nonNull, y.nonNull, `${at}.nonNull`)
            : `${at}.kind`
    if (d !== null) return d
  }
  return null
}

function parity(t: Tap, req: AggregateRequest, label: string): AggregateResult {
  const fast = aggregate(req)
  t.equal(difference(fast, aggregateReference(req)), null, label)
  return fast
}

/** Values that hit every clamp case: inside, exactly at a bound, beyond, infinite, -0. */
function nastyValue(r: () => number, lower: number, upper: number, kind: 'f64' | 'i32'): number {
  const span = upper - lower
  const choice = r()
  let x: number
  if (choice < 0.6) x = lower + r() * span
  else if (choice < 0.7) x = lower
  else if (choice < 0.8) x = upper
  else if (choice < 0.9) x = r() < 0.5 ? lower - r() * span * 3 : upper + r() * span * 3
  else if (kind === 'f64') x = pick(r, [Infinity, -Infinity, -0, 1e300, -1e300])
  else x = pick(r, [-(2 ** 31), 2 ** 31 - 1, 0])
  if (kind === 'i32') return Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, Math.round(x)))
  return x
}

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
  return kind === 'f64' ? f64(values, nulls) : i32(values, nulls)
}

const BOUNDS: readonly (readonly [number, number])[] = [
  [0, 1],
  [-5, 5],
  [0, 1e6],
  [-100, -5],
  [-(2 ** 31), 2 ** 31 - 1],
  [0.1, 0.3],
  [-1e-3, 2.5e7],
]

function randomRequest(r: () => number, rows: number): AggregateRequest {
  const groups = pick(r, [0, 1, 7, 300, 1000])
  const grouping =
    groups === 0
      ? null
      : {
          codes:
            groups <= 256
              ? Uint8Array.from({ length: rows }, () => int(r, groups))
              : Uint16Array.from({ length: rows }, () => int(r, groups)),
          count: groups,
        }
  const selection = r() < 0.6 ? selectionOf(r, rows, pick(r, [0, 0.3, 0.9, 1])) : null
  const measures: Measure[] = []
  const n = 1 + int(r, 4)
  for (let k = 0; k < n; k++) {
    const [lower, upper] = pick(r, BOUNDS)
    const column = numericColumn(r, rows, r() < 0.5 ? 'f64' : 'i32', lower, upper, pick(r, [0, 0, 0.1, 0.9]))
    const kind = pick(r, ['moments', 'moments', 'nonNull', 'histogram'] as const)
    if (kind === 'moments')
      measures.push({ kind, column, lower, upper, quantum: quantumFor(lower, upper), squares: r() < 0.5 })
    else if (kind === 'histogram') measures.push({ kind, column, lower, upper, bins: pick(r, [1, 2, 10, 37]) })
    else measures.push({ kind, column })
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

t.test('random requests: the TS kernel matches the naive reference exactly', async (t) => {
  const r = rng(42)
  for (let k = 0; k < 150; k++) {
    const rows = pick(r, [0, 1, 2, 7, 8, 9, 63, 64, 65, 500, 4099])
    parity(t, randomRequest(r, rows), `case ${k}, ${rows} rows`)
  }
})

t.test('every specialized loop: grouped x selection x nulls x squares x f64/i32', async (t) => {
  const r = rng(7)
  const rows = 1000
  const [lower, upper] = [-5, 5]
  for (const grouped of [false, true]) {
    for (const selected of [false, true]) {
      for (const nullRate of [0, 0.25]) {
        for (const squares of [false, true]) {
          for (const kind of ['f64', 'i32'] as const) {
            const column = numericColumn(r, rows, kind, lower, upper, nullRate)
            const req: AggregateRequest = {
              rows,
              selection: selected ? selectionOf(r, rows, 0.5) : null,
              grouping: grouped ? { codes: Uint8Array.from({ length: rows }, () => int(r, 7)), count: 7 } : null,
              measures: [
                { kind: 'moments', column, lower, upper, quantum: quantumFor(lower, upper), squares },
                { kind: 'histogram', column, lower, upper, bins: 4 },
                { kind: 'nonNull', column },
              ],
            }
            parity(t, req, `grouped=${grouped} selected=${selected} nulls=${nullRate} squares=${squares} ${kind}`)
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
  t.strictSame(plain(zero), {
    count: [0],
    measures: [{ kind: 'moments', nonNull: [0], sum: ['0'], sumSquares: ['0'] }],
  })

  const one = parity(t, { rows: 1, selection: null, grouping: null, measures: [moments(f64([2.5]))] }, 'one row')
  t.strictSame(plain(one), {
    count: [1],
    measures: [{ kind: 'moments', nonNull: [1], sum: [String(2.5 * 2 ** 27)], sumSquares: [String(6.25 * 2 ** 23)] }],
  })

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
  t.strictSame(plain(none), {
    count: [0, 0, 0],
    measures: [{ kind: 'moments', nonNull: [0, 0, 0], sum: ['0', '0', '0'], sumSquares: ['0', '0', '0'] }],
  })

  const sparse = parity(
    t,
    {
      rows: 4,
      selection: null,
      grouping: { codes: Uint8Array.of(4, 4, 0, 4), count: 9 },
      measures: [moments(f64([1, 2, 3, 4]))],
    },
    'groups 1-3 and 5-8 are empty and reported as zeros',
  )
  t.strictSame([...sparse.count], [1, 0, 0, 0, 3, 0, 0, 0, 0])
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
      measures: [{ kind: 'moments', column, lower: 0, upper: 100, quantum: quantumFor(0, 100), squares: false }],
    },
    'code MAX_GROUPS - 1',
  )
  t.equal(res.count[MAX_GROUPS - 1], 2)
  t.equal(res.count[0], rows - 2)
  const m = res.measures[0]!
  t.equal(m.kind === 'moments' && m.sum[MAX_GROUPS - 1], BigInt(rows - 1) * 2n ** 24n)
})

t.test('Int32 extremes and negative bounds', async (t) => {
  const lo = -(2 ** 31)
  const hi = 2 ** 31 - 1
  const column = i32([lo, hi, hi, lo, 0, -1, 1])
  const q = quantumFor(lo, hi)
  t.equal(q.exp, 0)
  const res = parity(
    t,
    {
      rows: 7,
      selection: null,
      grouping: null,
      measures: [{ kind: 'moments', column, lower: lo, upper: hi, quantum: q, squares: true }],
    },
    'full int32 range',
  )
  const m = res.measures[0]!
  t.equal(m.kind === 'moments' && m.sum[0], -2n)
  // (2^31)^2 / 2^31 = 2^31; (2^31 - 1)^2 / 2^31 rounds to 2^31 - 2; 1 / 2^31 rounds to 0.
  t.equal(m.kind === 'moments' && m.sumSquares![0], 2n * 2n ** 31n + 2n * (2n ** 31n - 2n))

  const neg = i32([-200, -100, -50, -5, 0, 7])
  const nq = quantumFor(-100, -5)
  const nres = parity(
    t,
    {
      rows: 6,
      selection: null,
      grouping: null,
      measures: [{ kind: 'moments', column: neg, lower: -100, upper: -5, quantum: nq, squares: false }],
    },
    'negative bounds',
  )
  const nm = nres.measures[0]!
  t.equal(nm.kind === 'moments' && nm.sum[0], BigInt(-100 - 100 - 50 - 5 - 5 - 5) * 2n ** 24n)
})

t.test('more than 2^21 rows: partials fold before they lose exactness', async (t) => {
  // Values at the bound are 2^31 units, the largest; every 1000th row is one
  // unit. Unfolded, a partial would pass 2^53 after 2^22 rows, where the odd
  // units could no longer be represented; folded every 2^21 rows, it cannot.
  const rows = 3 * FOLD_ROWS
  const values = new Float64Array(rows).fill(1)
  let ones = 0
  for (let i = 0; i < rows; i += 1000, ones++) values[i] = 2 ** -31
  const q = quantumFor(-1, 1)
  const expected = BigInt(rows - ones) * 2n ** 31n + BigInt(ones)
  const moments = (column: NumericColumn): Measure => ({
    kind: 'moments',
    column,
    lower: -1,
    upper: 1,
    quantum: q,
    squares: true,
  })
  const sums = (req: AggregateRequest): [bigint, bigint] => {
    const m = aggregate(req).measures[0]!
    return m.kind === 'moments' ? [m.sum[0]!, m.sumSquares![0]!] : [0n, 0n]
  }
  // (2^-31)^2 quantizes to floor(2^-31 + 0.5) = 0 square units; 1 to 2^31.
  const squares = BigInt(rows - ones) * 2n ** 31n
  const grouping = { codes: new Uint8Array(rows), count: 2 }
  const selection = new Uint8Array(rows).fill(1)
  t.strictSame(
    sums({ rows, selection: null, grouping: null, measures: [moments(f64(values))] }),
    [expected, squares],
    'ungrouped',
  )
  t.strictSame(
    sums({ rows, selection, grouping: null, measures: [moments(f64(values))] }),
    [expected, squares],
    'ungrouped, selected',
  )
  t.strictSame(
    sums({ rows, selection: null, grouping, measures: [moments(f64(values))] }),
    [expected, squares],
    'grouped',
  )
  t.strictSame(
    sums({ rows, selection, grouping, measures: [moments(f64(values, new Uint8Array(rows / 8)))] }),
    [expected, squares],
    'grouped, through the null path',
  )

  // And the reference agrees across a fold boundary on every path at once.
  const n = FOLD_ROWS + 4099
  const r = rng(11)
  const column = numericColumn(r, n, 'f64', -1, 1, 0.05)
  const req: AggregateRequest = {
    rows: n,
    selection: selectionOf(r, n, 0.8),
    grouping: { codes: Uint8Array.from({ length: n }, (_, i) => i % 3), count: 3 },
    measures: [moments(column)],
  }
  parity(t, req, 'grouped, selected, nulls, across a fold')
})

t.test('histogram edge bins', async (t) => {
  const column = f64([0, 0.1, 0.2, 0.3, 0.7, 0.9, 0.9999999999999999, 1, -3, 42, 0.5])
  const res = parity(
    t,
    {
      rows: 11,
      selection: null,
      grouping: null,
      measures: [{ kind: 'histogram', column, lower: 0, upper: 1, bins: 10 }],
    },
    '10 bins of [0, 1]',
  )
  const h = res.measures[0]!
  // 0.3 / 1 * 10 = 3.0000000000000004 and 0.7 * 10 = 7 exactly: the formula's own rounding decides.
  t.strictSame(h.kind === 'histogram' && [...h.counts], [2, 1, 1, 1, 0, 1, 0, 1, 0, 4])
  const one = parity(
    t,
    {
      rows: 11,
      selection: null,
      grouping: null,
      measures: [{ kind: 'histogram', column, lower: 0, upper: 1, bins: 1 }],
    },
    'one bin',
  )
  const h1 = one.measures[0]!
  t.strictSame(h1.kind === 'histogram' && [...h1.counts], [11])
  const neg = i32([-10, -6, -5, -4, 0])
  parity(
    t,
    {
      rows: 5,
      selection: null,
      grouping: { codes: Uint8Array.of(1, 1, 0, 0, 1), count: 2 },
      measures: [{ kind: 'histogram', column: neg, lower: -10, upper: -4, bins: 3 }],
    },
    'negative bounds, grouped',
  )
})

t.test('COUNT(*) and COUNT(col) without any null-free measure column', async (t) => {
  const rows = 20
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
  const grouping = { codes: Uint8Array.from({ length: rows }, (_, i) => i % 4), count: 4 }
  const selection = selectionOf(r, rows, 0.6)
  parity(t, { rows, selection, grouping, measures: [] }, 'no measures, grouped, selected')
  parity(t, { rows, selection: null, grouping, measures: [] }, 'no measures, grouped')
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
    'nonNull over nullable columns',
  )
})

t.test('a selection that is an unaligned view, with nulls and a ragged tail', async (t) => {
  const r = rng(13)
  for (const rows of [13, 70_003]) {
    for (const offset of [1, 3]) {
      const backing = selectionOf(r, rows + offset, 0.7)
      const selection = backing.subarray(offset)
      const column = numericColumn(r, rows, 'f64', -5, 5, 0.2)
      for (const grouping of [null, { codes: Uint8Array.from({ length: rows }, () => int(r, 5)), count: 5 }]) {
        parity(
          t,
          {
            rows,
            selection,
            grouping,
            measures: [
              { kind: 'moments', column, lower: -5, upper: 5, quantum: quantumFor(-5, 5), squares: true },
              { kind: 'nonNull', column },
              { kind: 'histogram', column, lower: -5, upper: 5, bins: 6 },
            ],
          },
          `${rows} rows, offset ${offset}, grouped=${grouping !== null}`,
        )
      }
    }
  }
})

t.test('any non-zero selection byte selects the row, in both kernels', async (t) => {
  const column = f64([1, 2, 3, 4])
  const res = parity(
    t,
    {
      rows: 4,
      selection: Uint8Array.of(0, 2, 255, 1),
      grouping: null,
      measures: [{ kind: 'moments', column, lower: 0, upper: 4, quantum: quantumFor(0, 4), squares: false }],
    },
    'bytes 2 and 255',
  )
  t.strictSame([...res.count], [3])
})

t.test('a NaN value is refused, not summed', async (t) => {
  const column = f64([1, Number.NaN, 3])
  const q = quantumFor(0, 4)
  const moments: Measure = { kind: 'moments', column, lower: 0, upper: 4, quantum: q, squares: false }
  const detail = 'measures[0].column holds NaN in a selected non-null row'
  for (const grouping of [null, { codes: Uint8Array.of(0, 1, 0), count: 2 }]) {
    const req: AggregateRequest = { rows: 3, selection: null, grouping, measures: [moments] }
    t.throws(() => aggregate(req), { code: 'VEILBOX_ERR_EXEC_BAD_ARGUMENT', detail })
    t.throws(() => aggregateReference(req), { code: 'VEILBOX_ERR_EXEC_BAD_ARGUMENT', detail })
    t.throws(() => aggregate({ ...req, measures: [{ kind: 'histogram', column, lower: 0, upper: 4, bins: 2 }] }), {
      code: 'VEILBOX_ERR_EXEC_BAD_ARGUMENT',
      detail,
    })
  }
  const unselected = aggregate({ rows: 3, selection: Uint8Array.of(1, 0, 1), grouping: null, measures: [moments] })
  t.equal(unselected.count[0], 2, 'a NaN in an unselected row is never read')
  const nullNaN = aggregate({
    rows: 3,
    selection: null,
    grouping: null,
    measures: [
      {
        ...moments,
        column: f64(
          [1, Number.NaN, 3],
          bitmap(3, (i) => i === 1),
        ),
      },
    ],
  })
  t.equal(nullNaN.count[0], 3, 'nor one under a null bit')
})

t.test('the exported kernel is the TS kernel', async (t) => {
  t.equal(tsKernel.name, 'ts')
  t.equal(tsKernel.aggregate, aggregate)
})
