import { VeilboxError } from '../../errors/index.js'
import type { GrantRecord } from '../../store/grants.js'
import type { Principal } from '../../store/keys.js'
import type { BoundQuery } from '../query/binder.js'

/**
 * One purpose, one authorization: a query runs only inside a grant that
 * belongs to its analyst, is live, is for the query's dataset, and covers
 * every column and aggregate the query uses. Each refusal names its reason.
 */

/** Aggregate names a grant may list. MEDIAN is the 0.5 quantile; "quantile" allows every p. */
export const GRANT_AGGREGATES = ['count', 'sum', 'avg', 'var', 'stddev', 'median', 'quantile'] as const
export type GrantAggregate = (typeof GRANT_AGGREGATES)[number]

/** The grant aggregate names a query uses (MEDIAN for the 0.5 quantile), each once, in first-use order. */
export function usedAggregates(bound: BoundQuery): GrantAggregate[] {
  const names = new Set<GrantAggregate>()
  for (const out of bound.outputs) {
    if (out.kind !== 'aggregate') continue
    names.add(out.fn === 'quantile' ? (out.p === 0.5 ? 'median' : 'quantile') : out.fn)
  }
  return [...names]
}

/** The grant is usable at all by this analyst, now. */
export function checkGrantUsable(grant: GrantRecord, principal: Principal, now: Date = new Date()): void {
  // By principal id: a name revoked and issued again is someone else.
  if (grant.analystId !== principal.id) {
    throw new VeilboxError(
      'VEILBOX_ERR_POLICY_NOT_YOUR_GRANT',
      `grant ${grant.id} was made for another analyst; use one of your own (GET /v1/grants)`,
      {
        grant: grant.id,
      },
    )
  }
  if (grant.revokedAt !== null) {
    throw new VeilboxError(
      'VEILBOX_ERR_POLICY_GRANT_REVOKED',
      `grant ${grant.id} was revoked at ${grant.revokedAt}; ask an operator for a new grant`,
      {
        grant: grant.id,
        revokedAt: grant.revokedAt,
      },
    )
  }
  if (Date.parse(grant.expiresAt) <= now.getTime()) {
    throw new VeilboxError(
      'VEILBOX_ERR_POLICY_GRANT_EXPIRED',
      `grant ${grant.id} expired at ${grant.expiresAt}; ask an operator for a new grant`,
      {
        grant: grant.id,
        expiresAt: grant.expiresAt,
      },
    )
  }
}

/** The query's dataset, columns and aggregates lie inside the grant. */
export function checkQueryInGrant(grant: GrantRecord, datasetName: string, bound: BoundQuery | null): void {
  if (!grant.datasets.includes(datasetName)) {
    const covers = grant.datasets.length === 1 ? `dataset ${grant.dataset}` : `datasets ${grant.datasets.join(', ')}`
    throw new VeilboxError(
      'VEILBOX_ERR_POLICY_DATASET_MISMATCH',
      `grant ${grant.id} is for ${covers}, but the query reads ${datasetName}`,
      { grant: grant.id, grantDataset: grant.dataset, grantDatasets: grant.datasets, dataset: datasetName },
    )
  }
  if (bound === null) return
  if (grant.columns !== null) {
    // An entry names a column of any of the grant's datasets, or one dataset's as `dataset.column`.
    const allowed = new Set(grant.columns)
    for (const c of bound.columns) {
      if (!allowed.has(c) && !allowed.has(`${datasetName}.${c}`)) {
        throw new VeilboxError(
          'VEILBOX_ERR_POLICY_COLUMN_NOT_GRANTED',
          `the query uses column ${c}, which grant ${grant.id} does not cover (it covers: ${grant.columns.join(', ')})`,
          { grant: grant.id, column: c, allowed: grant.columns },
        )
      }
    }
  }
  if (grant.aggregates !== null) {
    const allowed = new Set(grant.aggregates)
    for (const out of bound.outputs) {
      if (out.kind !== 'aggregate') continue
      const name: GrantAggregate =
        out.fn === 'quantile' ? (out.p === 0.5 && allowed.has('median') ? 'median' : 'quantile') : out.fn
      if (!allowed.has(name)) {
        throw new VeilboxError(
          'VEILBOX_ERR_POLICY_AGGREGATE_NOT_GRANTED',
          `the query uses ${out.label.toUpperCase()}, which grant ${grant.id} does not allow (it allows: ${grant.aggregates.join(', ')})`,
          { grant: grant.id, aggregate: out.label, allowed: grant.aggregates },
        )
      }
    }
  }
}
