import type { AggregatePlanner } from './types.js'

/**
 * COUNT(*) and COUNT(col): one noisy count per group, sensitivity m.
 * COUNT(DISTINCT unit): a unit adds 1 to each group it has a row in, at most
 * min(m, groups) of them: L1 min(m, groups), L2 its square root.
 */
export const planCount: AggregatePlanner = (ctx, out, part, confidence) => {
  if (out.distinct) {
    const mech = ctx.distinctMechanism(part)
    return {
      output: { kind: 'count', name: out.name, label: out.label, source: ctx.distinctUnits(), mech },
      noise: { count: mech.noiseScale },
      halfWidth: mech.halfWidth(confidence),
    }
  }
  const mech = ctx.countMechanism(part)
  const col = out.column
  // An he column has no nulls (profile.ts refuses nullable ones): its COUNT is the selected rows, read off the mask.
  const source = col === null || col.protection === 'he' ? ('rows' as const) : ctx.nonNull(col)
  return {
    output: { kind: 'count', name: out.name, label: out.label, source, mech },
    noise: { count: mech.noiseScale },
    halfWidth: mech.halfWidth(confidence),
  }
}
