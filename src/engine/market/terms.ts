import { VeilboxError } from '../../errors/index.js'
import type { GrantAggregate } from '../policy/grant.js'

/**
 * What an application asks for, and what the approvals leave of it: the
 * datasets with their columns and aggregates, the budget and the money cap.
 * A narrowing only lowers or removes; the approvals' narrowings compose.
 */

export interface DatasetUse {
  readonly dataset: string
  /** null: every column. */
  readonly columns: readonly string[] | null
  /** null: every aggregate. */
  readonly aggregates: readonly GrantAggregate[] | null
}

/** The use asked for, and what an approval leaves of it. */
export interface UseTerms {
  readonly datasets: readonly DatasetUse[]
  readonly epsilon: number
  readonly delta: number
  /** Minor units; null: no cap. */
  readonly moneyCap: number | null
}

export interface ApplicationRequest extends UseTerms {
  readonly purpose: string
  readonly scenario: string
  readonly organization: string
  readonly durationDays: number
}

/** A narrowing an approval may carry: each field only lowers or removes. */
export interface Narrowing {
  readonly datasets?: readonly {
    dataset: string
    columns?: readonly string[]
    aggregates?: readonly GrantAggregate[]
  }[]
  readonly epsilon?: number
  readonly delta?: number
  readonly moneyCap?: number
}

export interface StoredRequest extends UseTerms {
  readonly durationDays: number
}

/** A party who must approve: the operator, or an owner with the datasets it holds. */
export interface Party {
  readonly party: string
  readonly owner: { readonly id: string; readonly name: string } | null
  readonly datasets: readonly string[]
}

export function bad(detail: string, extra: Record<string, unknown>): VeilboxError {
  return new VeilboxError('VEILBOX_ERR_MARKET_BAD_APPLICATION', detail, extra)
}

/** Each dataset's use checked against its spec, the negative list and the level policy. */
export function checkNarrowing(request: StoredRequest, party: Party, n: Narrowing): void {
  if (n.epsilon !== undefined && n.epsilon > request.epsilon)
    throw bad(`a narrowing may only lower epsilon (asked for: ${request.epsilon}, narrowed to ${n.epsilon})`, {
      field: 'narrow.epsilon',
    })
  if (n.delta !== undefined && n.delta > request.delta)
    throw bad(`a narrowing may only lower delta (asked for: ${request.delta})`, { field: 'narrow.delta' })
  if (n.moneyCap !== undefined && request.moneyCap !== null && n.moneyCap > request.moneyCap)
    throw bad(`a narrowing may only lower the money cap (asked for: ${request.moneyCap})`, {
      field: 'narrow.moneyCap',
    })
  for (const d of n.datasets ?? []) {
    const asked = request.datasets.find((u) => u.dataset === d.dataset)
    if (asked === undefined)
      throw bad(`the application does not name dataset ${d.dataset}`, { field: 'narrow.datasets', dataset: d.dataset })
    if (!party.datasets.includes(d.dataset))
      throw bad(`only the operator and ${d.dataset}'s owner narrow its use`, {
        field: 'narrow.datasets',
        dataset: d.dataset,
      })
    for (const c of d.columns ?? [])
      if (asked.columns !== null && !asked.columns.includes(c))
        throw bad(`column ${d.dataset}.${c} was not asked for; a narrowing only removes`, {
          field: 'narrow.columns',
          column: c,
        })
    for (const g of d.aggregates ?? [])
      if (asked.aggregates !== null && !asked.aggregates.includes(g))
        throw bad(`aggregate ${g} was not asked for; a narrowing only removes`, {
          field: 'narrow.aggregates',
          aggregate: g,
        })
  }
}

function intersect<T>(a: readonly T[] | null, b: readonly T[] | undefined): readonly T[] | null {
  if (b === undefined) return a
  if (a === null) return [...b]
  return a.filter((x) => b.includes(x))
}

/** The request with every narrowing applied: what every approval allowed. */
export function compose(request: UseTerms, narrowings: readonly Narrowing[]): UseTerms {
  let terms: UseTerms = request
  for (const n of narrowings) {
    terms = {
      datasets: terms.datasets.map((u) => {
        const d = n.datasets?.find((x) => x.dataset === u.dataset)
        return d === undefined
          ? u
          : {
              dataset: u.dataset,
              columns: intersect(u.columns, d.columns),
              aggregates: intersect(u.aggregates, d.aggregates),
            }
      }),
      epsilon: Math.min(terms.epsilon, n.epsilon ?? Number.POSITIVE_INFINITY),
      delta: Math.min(terms.delta, n.delta ?? Number.POSITIVE_INFINITY),
      moneyCap:
        n.moneyCap === undefined
          ? terms.moneyCap
          : terms.moneyCap === null
            ? n.moneyCap
            : Math.min(terms.moneyCap, n.moneyCap),
    }
  }
  for (const u of terms.datasets) {
    if ((u.columns !== null && u.columns.length === 0) || (u.aggregates !== null && u.aggregates.length === 0))
      throw bad(`the approvals leave dataset ${u.dataset} with no column or no aggregate; deny instead`, {
        field: 'narrow.datasets',
        dataset: u.dataset,
      })
  }
  return terms
}

/**
 * The analyst withdraws: a pending application closes; an approved one
 * closes and its grants are revoked, in one transaction.
 */
