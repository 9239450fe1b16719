/**
 * Bucketed answers as histograms. A query grouped by BUCKET(col, lower,
 * upper, width) (or WIDTH_BUCKET) is answered with one row per bucket, the
 * key cell being the bucket's lower edge, a number; a declared category key
 * is a string or a boolean. So an answer whose only group column (interval
 * null) holds numbers in every row is a histogram: each bucket runs from its
 * edge to the next, `width` apart. No DOM and no JSX here: the geometry is
 * unit-tested under Node (test/e2e/buckets.test.ts), and charts.tsx draws it.
 */
import { niceTicks } from './scale.js'
import type { Answer } from './types.js'

type Table = Pick<Answer, 'columns' | 'rows' | 'intervals'>

export interface BucketKey {
  /** the index of the bucket column */
  key: number
  /** the indices of the aggregate columns, in answer order */
  aggregates: number[]
}

/** Columns with an interval in some row are aggregates; the others are group keys. */
export function aggregateColumns(answer: Table): number[] {
  return answer.columns.map((_, i) => i).filter((i) => answer.intervals.some((row) => row[i] != null))
}

/**
 * The answer's bucket key, when it is its only group column and there is an
 * aggregate to draw; null otherwise (several group keys, a category key, no
 * group key, or fewer than two buckets: a lone edge tells no width).
 */
export function bucketKey(answer: Table): BucketKey | null {
  const aggregates = aggregateColumns(answer)
  const groups = answer.columns.map((_, i) => i).filter((i) => !aggregates.includes(i))
  if (groups.length !== 1 || aggregates.length === 0) return null
  const key = groups[0]!
  const edges = answer.rows.map((row) => row[key])
  if (edges.length < 2 || !edges.every((v) => typeof v === 'number' && Number.isFinite(v))) return null
  if (new Set(edges).size !== edges.length) return null
  return { key, aggregates }
}

/** The bucket width: the smallest step between sorted edges (HAVING or LIMIT may leave gaps, never a narrower step). */
export function bucketWidth(edges: readonly number[]): number {
  const sorted = [...edges].sort((a, b) => a - b)
  let width = Number.POSITIVE_INFINITY
  for (let i = 1; i < sorted.length; i++) width = Math.min(width, sorted[i]! - sorted[i - 1]!)
  return width
}

export interface Bin {
  /** the bucket's lower edge (the key cell) */
  lo: number
  /** its upper edge: the next bucket's edge, or the last edge plus the width */
  hi: number
  /** the bucket's position counted in widths from the first edge (a gap left by HAVING keeps its place) */
  slot: number
  /** the released value, null when the cell holds none */
  value: number | null
  interval: [number, number] | null
  /** the answer row it comes from */
  row: number
}

/** One bin per row, in edge order whatever the answer's ORDER BY, for aggregate column `column`. */
export function histogramBins(answer: Table, key: number, column: number): Bin[] {
  const rows = answer.rows.map((row, r) => ({ edge: row[key] as number, row: r }))
  rows.sort((a, b) => a.edge - b.edge)
  const width = bucketWidth(rows.map((x) => x.edge))
  const first = rows[0]?.edge ?? 0
  return rows.map(({ edge, row }, i) => {
    const slot = Math.round((edge - first) / width)
    const next = rows[i + 1]
    // The next edge itself when it is adjacent: no 0.1 + 0.2 drift in the labels.
    const hi = next && Math.round((next.edge - first) / width) === slot + 1 ? next.edge : edge + width
    const cell = answer.rows[row]![column]
    return {
      lo: edge,
      hi,
      slot,
      value: typeof cell === 'number' && Number.isFinite(cell) ? cell : null,
      interval: answer.intervals[row]?.[column] ?? null,
      row,
    }
  })
}

export interface HistogramBar {
  bin: Bin
  /** "20–40" */
  label: string
  x: number
  width: number
  /** the bar's drawn slot, without its gap: [x0, x1] */
  slot: [number, number]
  /** null when the bin has no value: its slot stays empty */
  rect: { y: number; height: number } | null
  /** whisker from interval lo (y1) to hi (y2), centred on the bar, with caps `cap` wide each side */
  err: { x: number; y1: number; y2: number; cap: number } | null
}

export interface HistogramLayout {
  width: number
  height: number
  plot: { left: number; right: number; top: number; bottom: number }
  /** y of the value 0: bars grow up from it, negative ones down */
  zero: number
  ticks: { value: number; y: number }[]
  bars: HistogramBar[]
  /** the x labels drawn (every `every`-th bar's when there are many) */
  labels: { x: number; text: string }[]
  slanted: boolean
}

/** At most this many range labels under the axis; every bar keeps its range in its <title>. */
export const MAX_X_LABELS = 12

/**
 * Where everything goes in a `width` x `height` drawing. `range` writes a
 * bucket's edges ("20–40"), in the page's number format.
 */
export function layoutHistogram(
  bins: readonly Bin[],
  range: (lo: number, hi: number) => string,
  size: { width: number; height: number } = { width: 640, height: 320 },
): HistogramLayout {
  const labelsAll = bins.map((b) => range(b.lo, b.hi))
  const slots = bins.length === 0 ? 1 : bins[bins.length - 1]!.slot + 1
  const left = 76
  const right = size.width - 16
  const slotW = (right - left) / slots
  const every = Math.max(1, Math.ceil(bins.length / MAX_X_LABELS))
  // About 6.5 px a character at the chart's 11 px: longer labels than their room are slanted.
  const slanted = labelsAll.some((l) => l.length * 6.5 > slotW * every - 4)
  // Room above the plot for the value axis's title, below it for the range labels and the bucket axis's title.
  const plot = { left, right, top: 28, bottom: size.height - (slanted ? 84 : 52) }

  const lows = bins.flatMap((b) => (b.value === null ? [] : [b.value, b.interval?.[0] ?? b.value]))
  const highs = bins.flatMap((b) => (b.value === null ? [] : [b.value, b.interval?.[1] ?? b.value]))
  const values = niceTicks(Math.min(0, ...lows), Math.max(0, ...highs))
  const y0 = values[0]!
  const y1 = values[values.length - 1]!
  const y = (v: number) => plot.bottom - ((v - y0) / (y1 - y0)) * (plot.bottom - plot.top)
  const zero = y(0)

  // Histogram bars touch but for a hairline, so each bucket still reads as one.
  const gap = Math.min(2, slotW * 0.1)
  const bars = bins.map((bin, i): HistogramBar => {
    const x0 = left + bin.slot * slotW
    const x = x0 + gap / 2
    const width = slotW - gap
    const cx = x0 + slotW / 2
    let rect: HistogramBar['rect'] = null
    if (bin.value !== null) {
      const top = Math.min(zero, y(bin.value))
      rect = { y: top, height: Math.max(1, Math.abs(y(bin.value) - zero)) }
    }
    const err =
      bin.value !== null && bin.interval
        ? { x: cx, y1: y(bin.interval[0]), y2: y(bin.interval[1]), cap: Math.min(8, width / 4) }
        : null
    return { bin, label: labelsAll[i]!, x, width, slot: [x0, x0 + slotW], rect, err }
  })
  const labels = bars.filter((_, i) => i % every === 0).map((b) => ({ x: (b.slot[0] + b.slot[1]) / 2, text: b.label }))
  return {
    width: size.width,
    height: size.height,
    plot,
    zero,
    ticks: values.map((value) => ({ value, y: y(value) })),
    bars,
    labels,
    slanted,
  }
}
