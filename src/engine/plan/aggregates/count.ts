import type { AggregatePlanner } from './types.js'

/** COUNT(*) and COUNT(col): one noisy count per group, sensitivity m. */
export const planCount: AggregatePlanner = (ctx, out, part, confidence) => {
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
