import { VeilboxError } from '../../errors/index.js'
import { SCALE, toNumber, total, ZERO_DELTA, type Epsilon, type Rho } from '../dp/budget.js'
import type { Mechanism } from '../dp/index.js'
import { rhoForEpsilonDelta } from '../dp/zcdp.js'
import { decodeGroup, groupLayout } from '../exec/grouping.js'
import type { TaskPredicate } from '../exec/task.js'
import type { BoundQuery } from '../query/binder.js'
import { AGGREGATE_PLANNERS, type BoundAggregate } from './aggregates/index.js'
import { checkWithinCharge } from './check.js'
import { clampKey, PlanContext, splitParts, type Part } from './context.js'
import { reserveNoise, SELECTION_OUTPUT, type NoiseUse } from './noise.js'
import { checkSelectionOptions, planSelection, selectedKey } from './selection.js'
import { toTaskPredicate } from './predicate.js'
import { DEFAULT_QUANTILE_BINS, type AggregatePrivacy, type OutputPlan, type Plan, type PlanOptions } from './types.js'

export * from './types.js'
export type { NoiseReservation } from './noise.js'
export { SELECTION_OUTPUT } from './noise.js'

/**
 * The planner turns a bound query into (1) the exact aggregates a sandbox must
 * compute, as an ExecTask that names no key, budget or secret, and (2) one DP
 * mechanism per released quantity, with the query's budget split across them.
 * Nothing here reads data: the plan, its price and its expected errors come
 * from the declared schema and the request alone.
 *
 * Budget split. A query's epsilon (Laplace) or rho (Gaussian) is split across
 * its aggregates, evenly unless weights are given, in whole units
 * (dp/budget.ts split) that add up to the charge; each aggregate's planner
 * (plan/aggregates/) splits its part among its components. Afterwards the
 * composed privacy maps are checked against the charge (plan/check.ts).
 */

function fail(detail: string, extra: Record<string, unknown> = {}): VeilboxError {
  return new VeilboxError('VEILBOX_ERR_DP_INVALID_PARAMETER', detail, extra)
}

function checkOptions(o: PlanOptions, aggregates: number): void {
  if (o.mechanism !== 'laplace' && o.mechanism !== 'gaussian')
    throw fail(`mechanism must be "laplace" or "gaussian", got ${String(o.mechanism)}`)
  if (!(typeof o.epsilon === 'bigint' && o.epsilon > 0n))
    throw fail(`epsilon must be greater than 0, got ${String(o.epsilon)} units`)
  if (!(o.confidence > 0 && o.confidence < 1))
    throw fail(`confidence must lie strictly between 0 and 1, got ${String(o.confidence)}`)
  if (o.mechanism === 'gaussian' && !(o.delta > 0n && o.delta < SCALE.delta)) {
    throw fail(`the gaussian mechanism needs a delta strictly between 0 and 1, got ${toNumber('delta', o.delta)}`)
  }
  if (o.weights !== undefined && o.weights.length !== aggregates) {
    throw fail(`weights must give one positive number per aggregate (${aggregates}), got ${o.weights.length}`, {
      weights: o.weights,
    })
  }
}

/** Every mechanism an output releases through, by component name. */
function componentsOf(o: OutputPlan): [string, Mechanism][] {
  switch (o.kind) {
    case 'count':
    case 'sum':
      return [['mech', o.mech]]
    case 'avg':
      return [
        ['sum', o.sum],
        ['count', o.count],
      ]
    case 'var':
    case 'stddev':
      return [
        ['count', o.count],
        ['sum', o.sum],
        ['squares', o.squares],
      ]
    default:
      return []
  }
}

/** The WHERE clause, with each bucket key's range ANDed in: a row outside every bucket is in no group. */
function taskWhere(bound: BoundQuery): TaskPredicate | null {
  const ranges: TaskPredicate[] = bound.groupBy.flatMap((g): TaskPredicate[] => {
    if (g.strategy.kind === 'bucket') {
      const { lower, upper } = g.strategy.bucket
      return [{ kind: 'between', column: g.column.name, low: lower, high: upper, negated: false }]
    }
    // Every value lies in the declared range: this keeps nulls out of every period.
    if (g.strategy.kind === 'calendar') return [{ kind: 'isNull', column: g.column.name, negated: true }]
    // A null is no key to select.
    if (g.strategy.kind === 'selected') return [{ kind: 'isNull', column: g.column.name, negated: true }]
    return []
  })
  const where = bound.where === null ? [] : [toTaskPredicate(bound.where)]
  const all = [...where, ...ranges]
  if (all.length === 0) return null
  return all.length === 1 ? all[0]! : { kind: 'and', operands: all }
}

export function planQuery(bound: BoundQuery, options: PlanOptions): Plan {
  const aggregates = bound.outputs.filter((o): o is BoundAggregate => o.kind === 'aggregate')
  checkOptions(options, aggregates.length)
  const key = selectedKey(bound)
  const l0 = options.maxGroupsContributed ?? bound.dataset.maxGroupsContributed ?? 1
  if (key !== null) checkSelectionOptions(key.column, options.mechanism, options.delta)
  const gaussian = options.mechanism === 'gaussian'
  const kind = gaussian ? 'rho' : 'epsilon'

  const layout =
    bound.groupBy.length === 0
      ? null
      : groupLayout(
          bound.groupBy.map((g) => ({
            // A selected key's slots: the version's keys fill them (exec/task.ts); which are released is the selection's.
            dictionary:
              g.strategy.kind === 'selected'
                ? Array.from({ length: g.strategy.maxKeys }, () => '')
                : g.strategy.domain.map((v) => String(v)),
            // A bucket's rows are those within its edges: nulls belong to none.
            nullable: g.strategy.kind === 'declared' ? (g.column.nullable ?? false) : false,
          })),
        )
  const groups = layout?.count ?? 1

  // The charge, then each aggregate's whole-unit part of it.
  const charge: Part = gaussian ? rhoForEpsilonDelta(options.epsilon, options.delta) : options.epsilon
  if (charge <= 0n) {
    throw fail(
      `epsilon ${toNumber('epsilon', options.epsilon)} with delta ${toNumber('delta', options.delta)} leaves no zCDP budget (rho < 1e-12)`,
    )
  }
  // Partition selection takes an even share of the epsilon, as one more aggregate would.
  const [selectionPart, aggregatesPart] =
    key === null ? [null, charge] : splitParts(kind, charge, [1, aggregates.length])
  const parts = splitParts(kind, aggregatesPart as Part, options.weights ?? aggregates.length)

  // Quantiles of one column share one histogram: first gather their parts.
  const quantileParts = new Map<string, Part>()
  aggregates.forEach((a, i) => {
    if (a.fn === 'quantile') {
      const name = clampKey(a.column!, a.bounds)
      quantileParts.set(name, ((quantileParts.get(name) ?? 0n) + parts[i]!) as Part)
    }
  })
  const needsSquares = new Set(
    aggregates.filter((a) => a.fn === 'var' || a.fn === 'stddev').map((a) => clampKey(a.column!, a.bounds)),
  )
  const ctx = new PlanContext(
    bound.dataset,
    groups,
    options.mechanism,
    needsSquares,
    options.heProfile ?? null,
    options.bins ?? DEFAULT_QUANTILE_BINS,
    quantileParts,
  )

  const outputs: OutputPlan[] = []
  const perAggregate: AggregatePrivacy[] = []
  const confidence = options.confidence
  let a = 0
  for (const out of bound.outputs) {
    if (out.kind === 'group') {
      outputs.push({ kind: 'group', name: out.name, key: out.key })
      continue
    }
    const part = parts[a]!
    a += 1
    const planned = AGGREGATE_PLANNERS[out.fn](ctx, out, part, confidence)
    outputs.push(planned.output)
    perAggregate.push({
      name: out.name,
      aggregate: out.label,
      column: out.column?.name ?? null,
      ...(gaussian ? { rho: toNumber('rho', part) } : { epsilon: toNumber('epsilon', part) }),
      noise: planned.noise,
      halfWidth: planned.halfWidth,
      ...(planned.bounds === undefined ? {} : { bounds: planned.bounds }),
      ...(planned.errorBound === undefined ? {} : { errorBound: planned.errorBound }),
    })
  }

  const planned =
    key === null ? null : planSelection(ctx, key, ctx.distinctUnits(), selectionPart as Part, options.delta, l0)
  const charged = total(selectionPart === null ? parts : [...parts, selectionPart])
  checkWithinCharge(ctx.spends, options.mechanism, charged)

  const uses: NoiseUse[] = outputs.flatMap((o, i) =>
    componentsOf(o).map(([component, mechanism]) => ({ output: i, component, mechanism })),
  )
  if (planned !== null)
    uses.push({ output: SELECTION_OUTPUT, component: 'selection', mechanism: planned.selection.mech })
  const histograms = ctx.histograms
  const typedKey = (k: number, v: string | null): string | number | boolean | null => {
    const g = bound.groupBy[k]!
    if (v === null) return null
    if (g.strategy.kind === 'bucket') return Number(v)
    return g.column.type === 'boolean' ? v === 'true' : v
  }

  return Object.freeze({
    bound,
    exec: {
      where: taskWhere(bound),
      groupBy: bound.groupBy.map((g, i) => ({
        column: g.column.name,
        dictionary: [...layout!.keys[i]!.dictionary],
        nullable: layout!.keys[i]!.nullable,
        ...(g.strategy.kind === 'selected' ? { selected: { maxGroupsContributed: l0 } } : {}),
        ...(g.strategy.kind === 'bucket'
          ? { bucket: { lower: g.strategy.bucket.lower, upper: g.strategy.bucket.upper } }
          : {}),
        ...(g.strategy.kind === 'calendar'
          ? { calendar: { unit: g.strategy.unit, type: g.strategy.type, first: g.strategy.first } }
          : {}),
      })),
      measures: ctx.measures,
      ...(ctx.encrypted.length > 0 ? { encrypted: ctx.encrypted } : {}),
    },
    layout,
    groups,
    outputs,
    histograms,
    mechanism: options.mechanism,
    confidence,
    epsilon: gaussian ? (0n as Epsilon) : options.epsilon,
    rho: gaussian ? (charged as Rho) : (0n as Rho),
    selectionDelta: planned === null ? ZERO_DELTA : options.delta,
    selection: planned?.selection ?? null,
    selectionPrivacy: planned?.privacy ?? null,
    perAggregate,
    reserveNoise: () =>
      reserveNoise(
        uses,
        histograms.map((h) => h.quantile),
        groups,
      ),
    groupKeys: (code: number) => (layout === null ? [] : decodeGroup(layout, code).map((v, k) => typedKey(k, v))),
  })
}
