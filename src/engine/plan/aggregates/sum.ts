import { stated, type AggregatePlanner } from './types.js'

/** SUM(col): the clamped sum per group, plain or encrypted, sensitivity m * max(|lower|, |upper|). */
export const planSum: AggregatePlanner = (ctx, out, part, confidence) => {
  const sums = ctx.sums(out.column!, out.bounds)
  const mech = sums.sumMechanism(part)
  return {
    output: {
      kind: 'sum',
      name: out.name,
      label: out.label,
      measure: sums.measure,
      mech,
      exp: sums.exp(mech),
      ...(sums.encrypted === undefined ? {} : { encrypted: sums.encrypted }),
    },
    noise: { sum: mech.noiseScale },
    halfWidth: mech.halfWidth(confidence),
    bounds: stated(out, sums.bounds()),
  }
}
