import { clampBounds } from '../context.js'
import { jointly, stated, type AggregatePlanner } from './types.js'

/**
 * QUANTILE(col, p), MEDIAN(col): read off the column's one noisy histogram,
 * which all its quantiles share and which gets the sum of their parts
 * (plan/index.ts gathers them before planning).
 */
export const planQuantile: AggregatePlanner = (ctx, out, _part, confidence) => {
  const h = ctx.histogram(out.column!, out.bounds)
  const { lower, upper } = clampBounds(out.column!, out.bounds)
  const bins = ctx.bins
  // Every bin's noise within its half-width at once (a union bound over the bins): a cumulative count,
  // and so the rank, is off by at most bins times that.
  const perBin = ctx.histograms[h]!.quantile.mechanism.halfWidth(jointly(confidence, bins))
  return {
    output: { kind: 'quantile', name: out.name, label: out.label, histogram: h, p: out.p! },
    noise: { histogramBin: ctx.histograms[h]!.quantile.mechanism.noiseScale },
    halfWidth: null,
    bounds: stated(out, { lower, upper }),
    errorBound: { kind: 'quantile', rankHalfWidth: bins * perBin, binWidth: (upper - lower) / bins },
  }
}
