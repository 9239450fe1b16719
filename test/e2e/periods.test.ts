/**
 * The console's calendar-period lines without a browser (console/src/periods.ts):
 * which answers are periods, in what order their points go, and where the
 * line and its band are drawn. Part of `npm test`.
 */
import t from 'tap'
import { layoutPeriods, periodKey, periodPoints } from '../../console/src/periods.js'
import type { Answer, Cell } from '../../console/src/types.js'

type Table = Pick<Answer, 'columns' | 'rows' | 'intervals'>

function table(rows: Cell[][], halfWidth = 5): Table {
  return {
    columns: ['month', 'n'],
    rows,
    intervals: rows.map((row) =>
      row.map((v, i) => (i === 0 ? null : typeof v === 'number' ? [v - halfWidth, v + halfWidth] : null)),
    ),
  }
}

t.test('an answer grouped by periods alone is a line; others are not', async (t) => {
  const months = table([
    ['2024-02', 12],
    ['2024-01', 10],
    ['2024-03', -1],
  ])
  t.same(periodKey(months), { key: 0, aggregates: [1] })
  t.same(
    periodPoints(months, 0, 1).map((p) => p.label),
    ['2024-01', '2024-02', '2024-03'],
    'in time order whatever the ORDER BY',
  )
  for (const labels of [
    ['2024-W01', '2024-W02'],
    ['2024', '2025'],
    ['2024-01-01', '2024-01-02'],
  ])
    t.ok(periodKey(table(labels.map((l) => [l, 1]))), labels.join(', '))
  t.equal(periodKey(table([['2024-01', 1]])), null, 'one period draws no line')
  t.equal(
    periodKey(
      table([
        ['2024-01', 1],
        ['滨城区', 2],
      ]),
    ),
    null,
    'a category is no period',
  )
  t.equal(
    periodKey(
      table([
        ['2024-01', 1],
        ['2024-01-02', 2],
      ]),
    ),
    null,
    'periods of one kind only',
  )
  t.equal(
    periodKey(
      table([
        [2024, 1],
        [2025, 2],
      ]),
    ),
    null,
    'bucket edges are histograms',
  )
})

t.test('the line goes through each value and the band spans each interval', async (t) => {
  const pts = periodPoints(
    table([
      ['2024-01', 10],
      ['2024-02', null],
      ['2024-03', 30],
    ]),
    0,
    1,
  )
  const g = layoutPeriods(pts)
  t.equal(g.points.length, 3)
  t.equal(g.points[1]!.y, null, 'a null value has no point')
  t.equal((g.line.match(/M/g) ?? []).length, 2, 'and breaks the line')
  t.ok(g.points[0]!.x < g.points[2]!.x, 'time runs left to right')
  t.ok(g.points[2]!.y! < g.points[0]!.y!, 'a larger value is higher')
  t.match(g.band, /^M.*Z$/, 'the band is a closed path')
  t.equal(g.labels.length, 3)
  const many = layoutPeriods(
    Array.from({ length: 366 }, (_, i) => ({
      label: `d${i}`,
      value: i,
      interval: [i - 1, i + 1] as [number, number],
      row: i,
    })),
  )
  t.ok(many.labels.length <= 12, 'at most 12 labels')
})
