import { clampBounds } from '../context.js'
import { stated, type AggregatePlanner } from './types.js'

/**
 * QUANTILE(col, p), MEDIAN(col): read off the column's one noisy histogram,
 * which all its quantiles share and which gets the sum of their parts
 * (plan/index.ts gathers them before planning).
 */
export const planQuantile: AggregatePlanner = (ctx, out) => {
  const h = ctx.histogram(out.column!, out.bounds)
  return {
    output: { kind: 'quantile', name: out.name, label: out.label, histogram: h, p: out.p! },
    noise: { histogramBin: ctx.histograms[h]!.quantile.mechanism.noiseScale },
    halfWidth: null,
    bounds: stated(out, clampBounds(out.column!, out.bounds)),
  }
}
