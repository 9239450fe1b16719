import { jointly, stated, type AggregatePlanner } from './types.js'

/** AVG(col): a noisy sum over a noisy count, half the part each; the interval depends on the data. */
export const planAvg: AggregatePlanner = (ctx, out, part, confidence) => {
  const sums = ctx.sums(out.column!, out.bounds)
  const [s, c] = ctx.split(part, 2)
  const sum = sums.sumMechanism(s!)
  const count = ctx.countMechanism(c!)
  const { lower, upper } = sums.bounds()
  return {
    output: {
      kind: 'avg',
      name: out.name,
      label: out.label,
      measure: sums.measure,
      ...(sums.encrypted === undefined ? {} : { encrypted: sums.encrypted }),
      exp: sums.exp(sum),
      sum,
      count,
      lower,
      upper,
    },
    noise: { sum: sum.noiseScale, count: count.noiseScale },
    halfWidth: null,
    bounds: stated(out, { lower, upper }),
    errorBound: {
      kind: 'avg',
      sumHalfWidth: sum.halfWidth(jointly(confidence, 2)),
      countHalfWidth: count.halfWidth(jointly(confidence, 2)),
      maxAbs: Math.max(Math.abs(lower), Math.abs(upper)),
    },
  }
}
