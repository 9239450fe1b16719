import type { AggregatePlanner, BoundAggregate } from './types.js'
import { planAvg } from './avg.js'
import { planCount } from './count.js'
import { planQuantile } from './quantile.js'
import { planSum } from './sum.js'
import { planVariance } from './variance.js'

export type { AggregatePlanner, BoundAggregate, PlannedAggregate } from './types.js'

export const AGGREGATE_PLANNERS: Readonly<Record<BoundAggregate['fn'], AggregatePlanner>> = Object.freeze({
  count: planCount,
  sum: planSum,
  avg: planAvg,
  var: planVariance,
  stddev: planVariance,
  quantile: planQuantile,
})
