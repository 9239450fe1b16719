/**
 * The console's histograms without a browser: which answers are bucketed
 * (console/src/buckets.ts) and where their bars, whiskers and labels go. Part
 * of `npm test`; test/e2e/histogram.e2e.ts draws one in Chromium.
 */
import t from 'tap'
import {
  aggregateColumns,
  type Bin,
  bucketKey,
  bucketWidth,
  histogramBins,
  layoutHistogram,
  MAX_X_LABELS,
} from '../../console/src/buckets.js'
import type { Answer, Cell } from '../../console/src/types.js'

type Table = Pick<Answer, 'columns' | 'rows' | 'intervals'>

/** An answer as POST /v1/queries gives it: group cells without intervals, aggregates with [lo, hi]. */
function table(columns: string[], groups: number, rows: Cell[][], halfWidth = 5): Table {
  return {
    columns,
    rows,
    intervals: rows.map((row) =>
      row.map((v, i) => (i < groups ? null : typeof v === 'number' ? [v - halfWidth, v + halfWidth] : null)),
    ),
  }
}

const DECADES = table(['decade', 'n', 'avg_income'], 1, [
  [20, 120, 41000],
  [40, 310, 52000],
  [60, 280, 47000],
  [80, 90, 30000],
])

const range = (lo: number, hi: number) => `${lo}–${hi}`

/** The y of value v on a layout, read back from its first and last ticks (the axis is linear). */
function yOf(layout: ReturnType<typeof layoutHistogram>, v: number): number {
  const a = layout.ticks[0]!
  const b = layout.ticks[layout.ticks.length - 1]!
  return a.y + ((v - a.value) / (b.value - a.value)) * (b.y - a.y)
}

const close = (a: number, b: number) => Math.abs(a - b) < 1e-9

t.test('an answer whose only group column holds numbers is bucketed', async (t) => {
  t.same(bucketKey(DECADES), { key: 0, aggregates: [1, 2] }, 'BUCKET(age, 20, 100, 20) with two aggregates')
  t.same(aggregateColumns(DECADES), [1, 2])
  const keyLast = table(['n', 'decade'], 0, [
    [5, 20],
    [7, 40],
  ])
  keyLast.intervals = keyLast.rows.map((row) => [[(row[0] as number) - 1, (row[0] as number) + 1], null])
  t.same(bucketKey(keyLast), { key: 1, aggregates: [0] }, 'the key need not come first')
})

t.test('any other shape keeps the table and bar chart', async (t) => {
  const bands = table(['age_band', 'n'], 1, [
    ['18-29', 10],
    ['30-44', 20],
  ])
  t.equal(bucketKey(bands), null, 'a declared category key (strings)')
  t.equal(
    bucketKey(
      table(['insured', 'n'], 1, [
        [true, 10],
        [false, 20],
      ]),
    ),
    null,
    'a boolean key',
  )
  t.equal(
    bucketKey(
      table(['decade', 'district', 'n'], 2, [
        [20, 'Bincheng', 10],
        [20, 'Boxing', 12],
        [40, 'Bincheng', 20],
        [40, 'Boxing', 22],
      ]),
    ),
    null,
    'a bucket beside another group key',
  )
  t.equal(
    bucketKey(
      table(['decade', 'band', 'n'], 2, [
        [20, 1, 10],
        [40, 2, 12],
      ]),
    ),
    null,
    'two numeric keys',
  )
  t.equal(bucketKey(table(['n', 'avg'], 0, [[10, 3.5]])), null, 'no group key')
  t.equal(bucketKey(table(['decade', 'n'], 1, [[20, 10]])), null, 'one bucket: no width to read')
  t.equal(
    bucketKey(
      table(['decade', 'n'], 1, [
        [20, 10],
        [null, 3],
      ]),
    ),
    null,
    'a key that is not a number in every row',
  )
  t.equal(bucketKey(table(['decade'], 1, [[20], [40]])), null, 'no aggregate to draw')
  t.equal(bucketKey(table(['decade', 'n'], 1, [])), null, 'no rows')
})

t.test('bins: edge order, upper edges, gaps and rounding', async (t) => {
  const shuffled = table(['decade', 'n'], 1, [
    [60, 3],
    [20, 1],
    [80, 4],
    [40, 2],
  ])
  const bins = histogramBins(shuffled, 0, 1)
  t.same(
    bins.map((b) => [b.lo, b.hi, b.slot, b.value, b.row]),
    [
      [20, 40, 0, 1, 1],
      [40, 60, 1, 2, 3],
      [60, 80, 2, 3, 0],
      [80, 100, 3, 4, 2],
    ],
    'sorted by edge whatever ORDER BY did; the last bucket ends at its edge plus the width',
  )
  t.same(bins[0]!.interval, [-4, 6], 'each bin keeps its row’s interval')

  // HAVING dropped the 40–60 bucket: the others keep their places.
  const gap = histogramBins(
    table(['decade', 'n'], 1, [
      [20, 1],
      [60, 3],
      [80, 4],
    ]),
    0,
    1,
  )
  t.same(
    gap.map((b) => [b.lo, b.hi, b.slot]),
    [
      [20, 40, 0],
      [60, 80, 2],
      [80, 100, 3],
    ],
  )

  // BUCKET(x, 0, 1, 0.1): edges computed in binary64, 0.30000000000000004 included.
  const edges = Array.from({ length: 10 }, (_, i) => (1 * i) / 10 + (i === 3 ? 0.1 + 0.2 - 0.3 : 0))
  t.ok(close(bucketWidth(edges), 0.1), 'the width is the smallest step')
  const tenths = histogramBins(
    table(
      ['x', 'n'],
      1,
      edges.map((e) => [e, 1]),
    ),
    0,
    1,
  )
  t.same(
    tenths.map((b) => b.slot),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  )
  t.equal(tenths[2]!.hi, tenths[3]!.lo, 'a bucket ends exactly where the next begins')
  t.ok(close(tenths[9]!.hi, 1), 'the last ends at upper')

  const missing = histogramBins(
    table(['decade', 'n'], 1, [
      [20, null],
      [40, 2],
    ]),
    0,
    1,
  )
  t.equal(missing[0]!.value, null, 'an empty cell is no value, not a zero')
})

t.test('layout: one bar per bucket from zero, whiskers at the interval, range labels', async (t) => {
  const bins = histogramBins(DECADES, 0, 1)
  const g = layoutHistogram(bins, range)
  t.equal(g.bars.length, 4)
  t.same(
    g.labels.map((l) => l.text),
    ['20–40', '40–60', '60–80', '80–100'],
  )
  t.equal(g.slanted, false, 'short labels stay level')
  t.ok(
    g.ticks.some((tk) => tk.value === 0),
    'zero is a tick',
  )
  t.ok(close(g.zero, g.plot.bottom), 'all values positive: zero is the bottom of the plot')
  t.ok(g.ticks[g.ticks.length - 1]!.value >= 315, 'the axis reaches the highest interval end (310 + 5)')
  for (const [i, b] of g.bars.entries()) {
    const v = bins[i]!.value!
    t.ok(close(b.rect!.y + b.rect!.height, g.zero), `bar ${b.label} stands on zero`)
    t.ok(close(b.rect!.y, yOf(g, v)), `and reaches its value ${v}`)
    t.ok(close(b.err!.y1, yOf(g, v - 5)) && close(b.err!.y2, yOf(g, v + 5)), 'its whisker spans [lo, hi]')
    t.ok(b.err!.y1 > b.err!.y2, 'lo is drawn below hi')
    t.ok(close(b.err!.x, b.x + b.width / 2), 'the whisker is centred on the bar')
    t.ok(b.err!.cap > 0 && b.err!.cap <= b.width / 4, 'its caps stay inside the bar')
    t.ok(close(g.labels[i]!.x, b.err!.x), 'the label sits under its bar')
    t.ok(b.rect!.y >= g.plot.top && b.err!.y2 >= g.plot.top, 'inside the plot')
  }
  for (let i = 1; i < g.bars.length; i++) {
    t.ok(close(g.bars[i]!.slot[0], g.bars[i - 1]!.slot[1]), 'buckets are adjacent')
    t.ok(g.bars[i]!.x > g.bars[i - 1]!.x + g.bars[i - 1]!.width, 'with a hairline between bars')
  }
  t.ok(close(g.bars[0]!.slot[0], g.plot.left) && close(g.bars[3]!.slot[1], g.plot.right), 'they fill the plot')
})

t.test('layout: a negative noisy value hangs below zero', async (t) => {
  const noisy = table(
    ['decade', 'n'],
    1,
    [
      [20, -3],
      [40, 12],
      [60, 0],
    ],
    4,
  )
  const bins = histogramBins(noisy, 0, 1)
  const g = layoutHistogram(bins, range)
  t.ok(g.ticks[0]!.value <= -7, 'the axis goes down to the lowest interval end (-3 - 4)')
  t.ok(g.zero < g.plot.bottom && g.zero > g.plot.top, 'zero is inside the plot')
  const [neg, pos, nil] = g.bars
  t.ok(close(neg!.rect!.y, g.zero), 'the negative bar starts at zero')
  t.ok(close(neg!.rect!.y + neg!.rect!.height, yOf(g, -3)), 'and goes down to its value')
  t.ok(neg!.err!.y1 > neg!.err!.y2 && close(neg!.err!.y1, yOf(g, -7)), 'its whisker too')
  t.ok(close(pos!.rect!.y + pos!.rect!.height, g.zero), 'a positive one stands on zero')
  t.ok(close(nil!.rect!.y, g.zero) && nil!.rect!.height === 1, 'a zero is a hairline on the axis')
})

t.test('layout: an empty cell leaves its slot empty; many buckets thin the labels', async (t) => {
  const empty = layoutHistogram(
    histogramBins(
      table(['decade', 'n'], 1, [
        [20, null],
        [40, 5],
      ]),
      0,
      1,
    ),
    range,
  )
  t.equal(empty.bars[0]!.rect, null, 'no bar')
  t.equal(empty.bars[0]!.err, null, 'no whisker')
  t.equal(empty.labels.length, 2, 'its range is still labelled')

  const many: Bin[] = histogramBins(
    table(
      ['income', 'n'],
      1,
      Array.from({ length: 50 }, (_, i) => [i * 20000, 100 + i]),
    ),
    0,
    1,
  )
  const g = layoutHistogram(many, range)
  t.equal(g.bars.length, 50, 'every bucket has its bar')
  t.ok(g.labels.length <= MAX_X_LABELS, `at most ${MAX_X_LABELS} labels (${g.labels.length})`)
  t.equal(g.labels[0]!.text, '0–20000')
  t.equal(g.slanted, true, 'long labels are slanted')
  t.ok(g.plot.bottom < 320 - 52, 'and given more room below the plot')
})
