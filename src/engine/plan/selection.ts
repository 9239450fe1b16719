import { VeilboxError } from '../../errors/index.js'
import { SCALE, toNumber, type Delta } from '../dp/budget.js'
import { toExact, toGridSteps } from '../dp/mechanism.js'
import { Rational } from '../dp/rational.js'
import type { BoundQuery } from '../query/binder.js'
import type { PlanContext, Part } from './context.js'
import type { PlannedSelection, SelectionPrivacy } from './types.js'

/**
 * DP partition selection by thresholding (Desfontaines, Voss, Gipson and
 * Mandayam, "Differentially private partition selection", PoPETs 2022; the
 * Laplace thresholding of Google's differential-privacy library).
 *
 * Each unit's rows count in at most L0 = maxGroupsContributed keys (the unit's
 * first L0 keys in row order, before WHERE: exec/distinct.ts). A key's count
 * of units then moves by at most 1 when a unit comes or goes, and at most L0
 * keys move: the vector of counts has L1 sensitivity L0, and one Laplace
 * mechanism of that sensitivity over all candidate keys is epsilon_s-DP.
 *
 * A key only one unit holds exists on one side of a neighbouring pair only.
 * Its count there is at most 1, and it is released when 1 plus the noise
 * passes the threshold: that happens with probability at most
 * delta_k = 1 - (1 - delta)^(1/L0), and the unit's at most L0 such keys
 * together with probability at most delta. So the selection is
 * (epsilon_s, delta)-DP, and the aggregates released for the selected keys,
 * computed over the same bounded rows with the usual sensitivities, add their
 * own epsilon (basic composition).
 *
 * The threshold is the mechanism's own upper tail: released grid units above
 * units(1) + h, where h is its half-width at confidence 1 - 2 delta_k (a
 * two-sided half-width at alpha bounds each tail by alpha / 2).
 */

/** The selected key, if the query has one. */
export function selectedKey(bound: BoundQuery): { readonly column: string; readonly maxKeys: number } | null {
  for (const g of bound.groupBy)
    if (g.strategy.kind === 'selected') return { column: g.column.name, maxKeys: g.strategy.maxKeys }
  return null
}

function refuse(detail: string): VeilboxError {
  return new VeilboxError('VEILBOX_ERR_DP_INVALID_PARAMETER', detail, {})
}

/** Checks the options partition selection needs, before anything is split. */
export function checkSelectionOptions(column: string, mechanism: string, delta: Delta): void {
  if (mechanism !== 'laplace') {
    throw refuse(
      `GROUP BY ${column} finds its keys by DP partition selection, which runs with the laplace mechanism; leave mechanism out or set it to "laplace"`,
    )
  }
  if (!(delta > 0n && delta < SCALE.delta)) {
    throw refuse(
      `GROUP BY ${column} finds its keys by DP partition selection, which needs a delta: the chance that a key held by one unit alone is released. Send "delta" (for example 1e-6)`,
    )
  }
}

/** The per-key release probability bound: 1 - (1 - delta)^(1/L0), made a little smaller to stay below it. */
export function perKeyDelta(delta: number, maxGroupsContributed: number): number {
  return -Math.expm1(Math.log1p(-delta) / maxGroupsContributed) * (1 - 1e-9)
}

export function planSelection(
  ctx: PlanContext,
  key: { readonly column: string },
  measure: number,
  part: Part,
  delta: Delta,
  l0: number,
): { readonly selection: PlannedSelection; readonly privacy: SelectionPrivacy } {
  const mech = ctx.selectionMechanism(part, l0)
  const d = toNumber('delta', delta)
  const dk = perKeyDelta(d, l0)
  const h = mech.halfWidthSteps(1 - 2 * dk)
  const one = toGridSteps(toExact(1n), mech.gridExp)
  const passUnits = one + h
  const threshold = Rational.dyadic(passUnits + 1n, mech.gridExp).toNumber('up')
  const epsilon = toNumber('epsilon', part)
  return {
    selection: {
      column: key.column,
      measure,
      mech,
      maxGroupsContributed: l0,
      passUnits,
      threshold,
      epsilon,
      delta: d,
    },
    privacy: {
      column: key.column,
      epsilon,
      delta: d,
      maxGroupsContributed: l0,
      threshold,
      noise: mech.noiseScale,
    },
  }
}
