/**
 * Calendar-period answers as lines (issue 24): a query grouped by YEAR(d),
 * MONTH(d), WEEK(d) or DAY(d) alone is answered with one row per period, its
 * key the period's text (2024, 2024-03, 2024-W09, 2024-03-15), every period
 * of the declared range present. Such an answer is drawn as a line through
 * the released values with its intervals as a band. No DOM and no JSX here:
 * the geometry is unit-tested under Node (test/e2e/periods.test.ts), and
 * charts.tsx draws it.
 */
import { aggregateColumns } from './buckets.js'
import { niceTicks } from './scale.js'
import type { Answer } from './types.js'

type Table = Pick<Answer, 'columns' | 'rows' | 'intervals'>

const PERIOD = [/^\d{4}$/, /^\d{4}-\d{2}$/, /^\d{4}-W\d{2}$/, /^\d{4}-\d{2}-\d{2}$/]

/** The answer's period key and aggregates, when one group column holds periods of one kind in every row (two or more); else null. */
export function periodKey(answer: Table): { key: number; aggregates: number[] } | null {
  const aggregates = aggregateColumns(answer)
  const groups = answer.columns.map((_, i) => i).filter((i) => !aggregates.includes(i))
  if (groups.length !== 1 || aggregates.length === 0 || answer.rows.length < 2) return null
  const key = groups[0]!
  const cells = answer.rows.map((row) => row[key])
  const form = PERIOD.find((re) => cells.every((c) => typeof c === 'string' && re.test(c)))
  return form === undefined ? null : { key, aggregates }
}

export interface PeriodPoint {
  label: string
  value: number | null
  interval: [number, number] | null
  row: number
}

/** One point per row, in period order (the text sorts as time does) whatever the answer's ORDER BY. */
export function periodPoints(answer: Table, key: number, column: number): PeriodPoint[] {
  return answer.rows
    .map((row, r) => {
      const cell = row[column]
      return {
        label: String(row[key]),
        value: typeof cell === 'number' && Number.isFinite(cell) ? cell : null,
        interval: answer.intervals[r]?.[column] ?? null,
        row: r,
      }
    })
    .sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0))
}

export interface LineLayout {
  width: number
  height: number
  plot: { left: number; right: number; top: number; bottom: number }
  zero: number
  ticks: { value: number; y: number }[]
  /** the SVG path of the line (M/L through the points with a value; a point without one breaks it) */
  line: string
  /** the SVG path of the band: the intervals' upper edge forward, the lower edge back */
  band: string
  points: { point: PeriodPoint; x: number; y: number | null }[]
  labels: { x: number; text: string }[]
}

/** At most this many period labels under the axis; every point keeps its label in its <title>. */
export const MAX_PERIOD_LABELS = 12

export function layoutPeriods(
  points: readonly PeriodPoint[],
  size: { width: number; height: number } = { width: 640, height: 320 },
): LineLayout {
  const plot = { left: 76, right: size.width - 16, top: 28, bottom: size.height - 52 }
  const lows = points.flatMap((p) => (p.value === null ? [] : [p.value, p.interval?.[0] ?? p.value]))
  const highs = points.flatMap((p) => (p.value === null ? [] : [p.value, p.interval?.[1] ?? p.value]))
  const values = niceTicks(Math.min(0, ...lows), Math.max(0, ...highs))
  const lo = values[0] ?? 0
  const hi = values[values.length - 1] ?? 1
  const y = (v: number) => plot.bottom - ((v - lo) / (hi - lo || 1)) * (plot.bottom - plot.top)
  const step = points.length > 1 ? (plot.right - plot.left) / (points.length - 1) : 0
  const xs = points.map((_, i) => (points.length > 1 ? plot.left + i * step : (plot.left + plot.right) / 2))
  let line = ''
  let pen = false
  points.forEach((p, i) => {
    if (p.value === null) pen = false
    else {
      line += `${pen ? 'L' : 'M'}${xs[i]!.toFixed(1)},${y(p.value).toFixed(1)}`
      pen = true
    }
  })
  const banded = points.map((p, i) => ({ p, x: xs[i]! })).filter(({ p }) => p.interval !== null)
  const band =
    banded.length === 0
      ? ''
      : `M${banded.map(({ p, x }) => `${x.toFixed(1)},${y(p.interval![1]).toFixed(1)}`).join('L')}` +
        `L${[...banded]
          .reverse()
          .map(({ p, x }) => `${x.toFixed(1)},${y(p.interval![0]).toFixed(1)}`)
          .join('L')}Z`
  const every = Math.max(1, Math.ceil(points.length / MAX_PERIOD_LABELS))
  return {
    width: size.width,
    height: size.height,
    plot,
    zero: y(0),
    ticks: values.map((v) => ({ value: v, y: y(v) })),
    line,
    band,
    points: points.map((p, i) => ({ point: p, x: xs[i]!, y: p.value === null ? null : y(p.value) })),
    labels: points.flatMap((p, i) => (i % every === 0 ? [{ x: xs[i]!, text: p.label }] : [])),
  }
}
