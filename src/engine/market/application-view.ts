import type { ApplicationRecord, ApplicationState } from '../../store/applications.js'
import { ParsedByText } from '../../store/parsed.js'
import type { DatasetUse, Narrowing, Party, StoredRequest, UseTerms } from './terms.js'

/** Applications as the API shows them: the request, each party's decision, the approved terms and grants. */

export const OPERATOR_PARTY = 'operator'
export const requests = new ParsedByText<StoredRequest>((t) => JSON.parse(t) as StoredRequest)
export const partyLists = new ParsedByText<Party[]>((t) => JSON.parse(t) as Party[])

/** The state as seen now: a pending application past its deadline is expired. */
export function stateOf(a: ApplicationRecord, now: Date): ApplicationState | 'expired' {
  return a.state === 'pending' && Date.parse(a.expiresAt) <= now.getTime() ? 'expired' : a.state
}

export interface ApplicationView {
  readonly id: string
  readonly state: ApplicationState | 'expired'
  readonly analyst: { readonly id: string; readonly name: string }
  readonly organization: string
  readonly purpose: string
  readonly scenario: string
  readonly datasets: readonly DatasetUse[]
  readonly epsilon: number
  readonly delta: number
  readonly moneyCap: number | null
  readonly durationDays: number
  readonly submittedAt: string
  readonly expiresAt: string
  readonly decidedAt: string | null
  readonly parties: readonly {
    party: 'operator' | 'owner'
    owner: { id: string; name: string } | null
    datasets: readonly string[]
    decision: 'approve' | 'deny' | null
    reason: string | null
    by: string | null
    at: string | null
    narrow: Narrowing | null
  }[]
  readonly approved: UseTerms | null
  readonly grants: readonly string[]
}

export function applicationView(a: ApplicationRecord, now: Date = new Date()): ApplicationView {
  const request = requests.get(a.request)
  return {
    id: a.id,
    state: stateOf(a, now),
    analyst: { id: a.analystId, name: a.analyst },
    organization: a.organization,
    purpose: a.purpose,
    scenario: a.scenario,
    datasets: request.datasets,
    epsilon: request.epsilon,
    delta: request.delta,
    moneyCap: request.moneyCap,
    durationDays: request.durationDays,
    submittedAt: a.submittedAt,
    expiresAt: a.expiresAt,
    decidedAt: a.decidedAt,
    parties: partyLists.get(a.parties).map((p) => {
      const d = a.decisions.find((x) => x.party === p.party)
      return {
        party: p.party === OPERATOR_PARTY ? 'operator' : 'owner',
        owner: p.owner,
        datasets: p.datasets,
        decision: d?.decision ?? null,
        reason: d?.reason ?? null,
        by: d?.decidedBy ?? null,
        at: d?.decidedAt ?? null,
        narrow: d?.narrow == null ? null : (JSON.parse(d.narrow) as Narrowing),
      }
    }),
    approved: a.approved === null ? null : (JSON.parse(a.approved) as UseTerms),
    grants: a.grants,
  }
}
