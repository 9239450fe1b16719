import { stated, type AggregatePlanner } from './types.js'

/** VAR(col) and STDDEV(col): noisy count, sum and sum of squares, a third of the part each. */
export const planVariance: AggregatePlanner = (ctx, out, part) => {
  const kind = out.fn === 'stddev' ? 'stddev' : 'var'
  const sums = ctx.sums(out.column!, out.bounds)
  const [c, s, q] = ctx.split(part, 3)
  const count = ctx.countMechanism(c!)
  const sum = sums.sumMechanism(s!)
  const squares = sums.squaresMechanism(q!)
  const { lower, upper } = sums.bounds()
  return {
    output: {
      kind,
      name: out.name,
      label: out.label,
      measure: sums.measure,
      ...(sums.encrypted === undefined ? {} : { encrypted: sums.encrypted }),
      exp: sums.exp(sum),
      sum,
      count,
      squares,
      lower,
      upper,
    },
    noise: { count: count.noiseScale, sum: sum.noiseScale, sumOfSquares: squares.noiseScale },
    halfWidth: null,
    bounds: stated(out, { lower, upper }),
  }
}
