/**
 * Charts drawn as SVG by hand. The console needs four: bars with error bars
 * (released values and their confidence intervals), a histogram with error
 * bars (the same for bucketed answers, on a numeric axis), a gauge (a grant's
 * budget) and a step line chart (budget burn-down). uPlot, the smallest
 * well-kept chart library, draws time series on a canvas and has no error-bar
 * series; bending it to draw whiskers would take as much code as this file,
 * and a canvas is opaque to screen readers and to the end-to-end tests. These
 * few SVG elements are part of the page: every bar carries its value and
 * interval in a <title>, and they follow the console's CSS and language.
 */
import type { ComponentChildren } from 'preact'
import { type Bin, layoutHistogram } from '../buckets.js'
import { layoutPeriods, type PeriodPoint } from '../periods.js'
import { niceTicks } from '../scale.js'

/** SVG has no translate property for Preact to set: the attribute goes on as is, so the language check skips data labels. */
const RAW = { translate: 'no' } as Record<string, string>

const W = 640
const PAD = { left: 76, right: 16, top: 16, bottom: 64 }

export interface BarDatum {
  label: string
  value: number
  interval: [number, number] | null
}

export function BarChart(props: {
  data: BarDatum[]
  format: (n: number) => string
  describe: (d: BarDatum) => string
  title: string
  height?: number
}) {
  const { data, format } = props
  const H = props.height ?? 320
  const lows = data.flatMap((d) => [d.value, d.interval?.[0] ?? d.value])
  const highs = data.flatMap((d) => [d.value, d.interval?.[1] ?? d.value])
  const ticks = niceTicks(Math.min(0, ...lows), Math.max(0, ...highs))
  const y0 = ticks[0]!
  const y1 = ticks[ticks.length - 1]!
  const plotH = H - PAD.top - PAD.bottom
  const plotW = W - PAD.left - PAD.right
  const y = (v: number) => PAD.top + plotH - ((v - y0) / (y1 - y0)) * plotH
  const slot = plotW / Math.max(1, data.length)
  const barW = Math.min(56, slot * 0.6)
  const slanted = data.length > 6 || data.some((d) => d.label.length > 8)
  return (
    // The drawing holds data only (numbers, group labels); its caption is the HTML around it.
    <svg class="chart bars" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={props.title} data-chart="bars" {...RAW}>
      <title>{props.title}</title>
      {ticks.map((v) => (
        <g class="tick" key={v}>
          <line x1={PAD.left} x2={W - PAD.right} y1={y(v)} y2={y(v)} class={v === 0 ? 'axis' : 'grid'} />
          <text x={PAD.left - 6} y={y(v) + 4} text-anchor="end">
            {format(v)}
          </text>
        </g>
      ))}
      {data.map((d, i) => {
        const cx = PAD.left + slot * (i + 0.5)
        const top = y(Math.max(0, d.value))
        const bottom = y(Math.min(0, d.value))
        return (
          <g class="bar-group" key={i} data-group={d.label}>
            <title>{props.describe(d)}</title>
            <rect class="bar" x={cx - barW / 2} y={top} width={barW} height={Math.max(1, bottom - top)} />
            {d.interval && (
              <g class="errbar" data-lo={d.interval[0]} data-hi={d.interval[1]}>
                <line x1={cx} x2={cx} y1={y(d.interval[0])} y2={y(d.interval[1])} />
                <line x1={cx - barW / 4} x2={cx + barW / 4} y1={y(d.interval[0])} y2={y(d.interval[0])} />
                <line x1={cx - barW / 4} x2={cx + barW / 4} y1={y(d.interval[1])} y2={y(d.interval[1])} />
              </g>
            )}
            <text
              class="xlabel"
              {...RAW}
              x={cx}
              y={H - PAD.bottom + 16}
              text-anchor={slanted ? 'end' : 'middle'}
              transform={slanted ? `rotate(-30 ${cx} ${H - PAD.bottom + 16})` : undefined}
            >
              {d.label.length > 18 ? `${d.label.slice(0, 17)}…` : d.label}
            </text>
          </g>
        )
      })}
    </svg>
  )
}

/**
 * A bucketed answer: one bar per bucket on the bucket column's own axis,
 * drawn from zero (down for a negative noisy value), with its interval as a
 * whisker. The geometry is `layoutHistogram` (buckets.ts), tested on its own.
 */
export function Histogram(props: {
  bins: Bin[]
  /** a bucket's edges as text: "20–40" */
  range: (lo: number, hi: number) => string
  format: (n: number) => string
  describe: (bin: Bin, range: string) => string
  /** the summary read by screen readers (aria-label) and shown as a tooltip */
  title: string
  /** axis titles: the bucket column and the aggregate's column */
  xTitle: string
  yTitle: string
}) {
  const g = layoutHistogram(props.bins, props.range)
  const { plot } = g
  const labelY = plot.bottom + 16
  return (
    <svg
      class="chart histogram"
      viewBox={`0 0 ${g.width} ${g.height}`}
      role="img"
      aria-label={props.title}
      data-chart="histogram"
      {...RAW}
    >
      <title>{props.title}</title>
      {g.ticks.map((tk) => (
        <g class="tick" key={tk.value}>
          <line x1={plot.left} x2={plot.right} y1={tk.y} y2={tk.y} class={tk.value === 0 ? 'axis' : 'grid'} />
          <text x={plot.left - 6} y={tk.y + 4} text-anchor="end">
            {props.format(tk.value)}
          </text>
        </g>
      ))}
      {g.bars.map((b) => (
        <g class="bin" key={b.bin.row} data-lo={b.bin.lo} data-hi={b.bin.hi} data-value={b.bin.value ?? ''}>
          <title>{props.describe(b.bin, b.label)}</title>
          {/* The whole slot answers the pointer, so a thin or empty bucket still shows its <title>. */}
          <rect class="hit" x={b.slot[0]} y={plot.top} width={b.slot[1] - b.slot[0]} height={plot.bottom - plot.top} />
          {b.rect && (
            <rect
              class={b.bin.value! < 0 ? 'bar negative' : 'bar'}
              x={b.x}
              y={b.rect.y}
              width={b.width}
              height={b.rect.height}
            />
          )}
          {b.err && b.bin.interval && (
            <g class="errbar" data-lo={b.bin.interval[0]} data-hi={b.bin.interval[1]}>
              <line x1={b.err.x} x2={b.err.x} y1={b.err.y1} y2={b.err.y2} />
              <line x1={b.err.x - b.err.cap} x2={b.err.x + b.err.cap} y1={b.err.y1} y2={b.err.y1} />
              <line x1={b.err.x - b.err.cap} x2={b.err.x + b.err.cap} y1={b.err.y2} y2={b.err.y2} />
            </g>
          )}
        </g>
      ))}
      <line class="axis" x1={plot.left} x2={plot.right} y1={g.zero} y2={g.zero} />
      {g.labels.map((l) => (
        <text
          key={l.x}
          class="xlabel"
          x={l.x}
          y={labelY}
          text-anchor={g.slanted ? 'end' : 'middle'}
          transform={g.slanted ? `rotate(-30 ${l.x} ${labelY})` : undefined}
        >
          {l.text}
        </text>
      ))}
      <text class="axis-title" x={(plot.left + plot.right) / 2} y={g.height - 8} text-anchor="middle">
        {props.xTitle}
      </text>
      <text class="axis-title" x={plot.left} y={plot.top - 12} text-anchor="start">
        {props.yTitle}
      </text>
    </svg>
  )
}

/**
 * A calendar-period answer (YEAR, MONTH, WEEK or DAY): a line through the
 * released values with their intervals as a band. The geometry is
 * `layoutPeriods` (periods.ts), tested on its own.
 */
export function PeriodLine(props: {
  points: PeriodPoint[]
  format: (n: number) => string
  describe: (point: PeriodPoint) => string
  title: string
  xTitle: string
  yTitle: string
}) {
  const g = layoutPeriods(props.points)
  const { plot } = g
  return (
    <svg
      class="chart periods"
      viewBox={`0 0 ${g.width} ${g.height}`}
      role="img"
      aria-label={props.title}
      data-chart="periods"
      {...RAW}
    >
      <title>{props.title}</title>
      {g.ticks.map((tk) => (
        <g class="tick" key={tk.value}>
          <line x1={plot.left} x2={plot.right} y1={tk.y} y2={tk.y} class={tk.value === 0 ? 'axis' : 'grid'} />
          <text x={plot.left - 6} y={tk.y + 4} text-anchor="end">
            {props.format(tk.value)}
          </text>
        </g>
      ))}
      {g.band && <path class="band" d={g.band} fill="currentColor" fill-opacity="0.15" stroke="none" />}
      {g.line && <path class="line" d={g.line} fill="none" stroke="currentColor" stroke-width="2" />}
      {g.points.map((p) => (
        <g class="point" key={p.point.row} data-label={p.point.label} data-value={p.point.value ?? ''}>
          <title>{props.describe(p.point)}</title>
          {p.y !== null && <circle cx={p.x} cy={p.y} r="3" fill="currentColor" />}
        </g>
      ))}
      {g.labels.map((l) => (
        <text key={l.x} class="xlabel" x={l.x} y={plot.bottom + 16} text-anchor="middle">
          {l.text}
        </text>
      ))}
      <text class="axis-title" x={(plot.left + plot.right) / 2} y={g.height - 8} text-anchor="middle">
        {props.xTitle}
      </text>
      <text class="axis-title" x={plot.left} y={plot.top - 12} text-anchor="start">
        {props.yTitle}
      </text>
    </svg>
  )
}

/** Half a ring: how much of a budget is left. */
export function Gauge(props: {
  total: number
  remaining: number
  label: ComponentChildren
  caption: string
  format: (n: number) => string
}) {
  const share = props.total > 0 ? Math.max(0, Math.min(1, props.remaining / props.total)) : 0
  const r = 70
  const cx = 90
  const cy = 86
  const angle = Math.PI * (1 - share)
  const ex = cx + r * Math.cos(angle)
  const ey = cy - r * Math.sin(angle)
  const level = share > 0.5 ? 'ok' : share > 0.2 ? 'low' : 'critical'
  return (
    <figure class={`gauge ${level}`} data-remaining={props.remaining} data-total={props.total}>
      <svg viewBox="0 0 180 100" role="img" aria-label={props.caption}>
        <path class="track" d={`M ${cx - r} ${cy} A ${r} ${r} 0 0 1 ${cx + r} ${cy}`} />
        {share > 0 && <path class="fill" d={`M ${cx - r} ${cy} A ${r} ${r} 0 0 1 ${ex.toFixed(2)} ${ey.toFixed(2)}`} />}
        <text x={cx} y={cy - 14} text-anchor="middle" class="big">
          {props.format(props.remaining)}
        </text>
        <text x={cx} y={cy + 2} text-anchor="middle" class="small">
          / {props.format(props.total)}
        </text>
      </svg>
      <figcaption>{props.label}</figcaption>
    </figure>
  )
}

export interface Series {
  name: string
  /** remaining budget after each step, in time order; the first point is the start (full budget) */
  points: { t: number; v: number }[]
}

const PALETTE = ['#2f6fb3', '#c2571a', '#2e8b57', '#8e44ad', '#b8860b', '#c0392b', '#16a085', '#7f8c8d']

/** Remaining budget over time, one stepped line per series. */
export function BurnDown(props: {
  series: Series[]
  formatY: (n: number) => string
  formatX: (t: number) => string
  title: string
  now: number
}) {
  const H = 300
  const all = props.series.flatMap((s) => s.points)
  if (all.length === 0) return null
  const t0 = Math.min(...all.map((p) => p.t))
  const t1 = Math.max(props.now, ...all.map((p) => p.t))
  const ticks = niceTicks(0, Math.max(...all.map((p) => p.v)))
  const yMax = ticks[ticks.length - 1]!
  const plotH = H - PAD.top - 48
  const plotW = W - PAD.left - PAD.right - 170
  const x = (t: number) => PAD.left + (t1 > t0 ? ((t - t0) / (t1 - t0)) * plotW : plotW / 2)
  const y = (v: number) => PAD.top + plotH - (v / yMax) * plotH
  const xTicks = t1 > t0 ? [0, 0.25, 0.5, 0.75, 1].map((f) => t0 + f * (t1 - t0)) : [t0]
  return (
    <svg
      class="chart burndown"
      viewBox={`0 0 ${W} ${H}`}
      role="img"
      aria-label={props.title}
      data-chart="burndown"
      {...RAW}
    >
      <title>{props.title}</title>
      {ticks.map((v) => (
        <g class="tick" key={v}>
          <line x1={PAD.left} x2={PAD.left + plotW} y1={y(v)} y2={y(v)} class={v === 0 ? 'axis' : 'grid'} />
          <text x={PAD.left - 6} y={y(v) + 4} text-anchor="end">
            {props.formatY(v)}
          </text>
        </g>
      ))}
      {xTicks
        // A short span formats several ticks alike: show each label once.
        .filter((t, i) => i === 0 || props.formatX(t) !== props.formatX(xTicks[i - 1]!))
        .map((t) => (
          <text key={t} x={x(t)} y={PAD.top + plotH + 18} text-anchor="middle" class="xtick">
            {props.formatX(t)}
          </text>
        ))}
      {props.series.map((s, i) => {
        const color = PALETTE[i % PALETTE.length]!
        let d = ''
        s.points.forEach((p, j) => {
          d += j === 0 ? `M ${x(p.t)} ${y(p.v)}` : ` H ${x(p.t)} V ${y(p.v)}`
        })
        const last = s.points[s.points.length - 1]!
        d += ` H ${x(t1)}`
        return (
          <g class="series" key={s.name} data-series={s.name}>
            <path d={d} stroke={color} fill="none" stroke-width="2" />
            {s.points.map((p, j) => (
              <circle key={j} cx={x(p.t)} cy={y(p.v)} r="3" fill={color}>
                <title>{`${props.formatX(p.t)}: ${props.formatY(p.v)}`}</title>
              </circle>
            ))}
            <rect x={PAD.left + plotW + 12} y={PAD.top + i * 18} width="10" height="10" fill={color} />
            <text x={PAD.left + plotW + 26} y={PAD.top + i * 18 + 9} class="legend" {...RAW}>
              {s.name.length > 24 ? `${s.name.slice(0, 23)}…` : s.name}
            </text>
            <title>{`${s.name}: ${props.formatY(last.v)}`}</title>
          </g>
        )
      })}
    </svg>
  )
}
