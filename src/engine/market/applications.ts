import { randomBytes } from 'node:crypto'
import { VeilboxError } from '../../errors/index.js'
import {
  closeApplication,
  findApplication,
  insertApplication,
  insertDecision,
  listApplications,
  withdrawApplication,
  type ApplicationRecord,
  type ApplicationState,
} from '../../store/applications.js'
import type { AuditActor } from '../../store/audit.js'
import { getDataset, type DatasetRecord } from '../../store/datasets.js'
import { createGrant, getGrant, revokeGrant } from '../../store/grants.js'
import type { Principal } from '../../store/keys.js'
import type { Sql } from '../../store/sql.js'
import { toText } from '../dp/budget.js'
import type { GrantAggregate } from '../policy/grant.js'
import { budgetTotals } from '../policy/pricing.js'
import { recordLevels } from './dataset.js'
import { OPERATOR_PARTY, partyLists, requests, stateOf } from './application-view.js'
import { checkUse, readPolicy, type MarketPolicy } from './policy.js'
import {
  bad,
  checkNarrowing,
  compose,
  type ApplicationRequest,
  type DatasetUse,
  type Narrowing,
  type Party,
  type StoredRequest,
  type UseTerms,
} from './terms.js'

/**
 * Applications (docs/market.md): an analyst asks for one use; the operator
 * and the owner of each dataset named approve or deny, in any order, each
 * with a reason, and may narrow it; the last approval makes the grants in
 * the same transaction. Every step is an audit record.
 */

const DAY_MS = 86_400_000

function checkTerms(
  policy: MarketPolicy,
  scenario: string,
  terms: UseTerms,
  records: ReadonlyMap<string, DatasetRecord>,
): void {
  const seen = new Set<string>()
  for (const use of terms.datasets) {
    if (seen.has(use.dataset))
      throw bad(`dataset ${use.dataset} is named twice; list it once with every column it needs`, {
        field: 'datasets',
        dataset: use.dataset,
      })
    seen.add(use.dataset)
    const record = records.get(use.dataset)!
    const known = new Set(record.spec.columns.map((c) => c.name))
    for (const c of use.columns ?? []) {
      if (!known.has(c))
        throw bad(`dataset ${use.dataset} has no column ${c} (it has: ${[...known].join(', ')})`, {
          field: 'columns',
          dataset: use.dataset,
          column: c,
        })
    }
    checkUse(policy, { spec: record.spec, levels: recordLevels(record), columns: use.columns, scenario })
  }
  const totals = budgetTotals(terms.epsilon, terms.delta)
  if (totals.epsilon === 0n)
    throw bad(`epsilon ${terms.epsilon} is below one micro-unit (0.000001), the smallest budget a grant can hold`, {
      field: 'epsilon',
    })
}

/** The parties an application needs: the operator, and each distinct owner of the datasets named. */
function partiesOf(records: readonly DatasetRecord[]): Party[] {
  const owners = new Map<string, Party>()
  for (const r of records) {
    if (r.owner === null) continue
    const p = owners.get(r.owner.id)
    owners.set(r.owner.id, {
      party: r.owner.id,
      owner: r.owner,
      datasets: [...(p?.datasets ?? []), r.spec.id],
    })
  }
  return [{ party: OPERATOR_PARTY, owner: null, datasets: records.map((r) => r.spec.id) }, ...owners.values()]
}

/**
 * Records an application after checking it whole; a refused one leaves
 * nothing. `records` are the datasets named, as the caller may see them.
 */
export async function submitApplication(
  db: Sql,
  principal: Principal,
  req: ApplicationRequest,
  records: readonly DatasetRecord[],
  now: Date,
): Promise<ApplicationRecord> {
  const policy = await readPolicy(db)
  const byId = new Map(records.map((r) => [r.spec.id, r]))
  checkTerms(policy, req.scenario, req, byId)
  const id = `a_${randomBytes(8).toString('hex')}`
  const stored: StoredRequest = {
    datasets: req.datasets.map((d) => ({
      dataset: d.dataset,
      columns: d.columns === null ? null : [...new Set(d.columns)],
      aggregates: d.aggregates === null ? null : [...new Set(d.aggregates)],
    })),
    epsilon: req.epsilon,
    delta: req.delta,
    moneyCap: req.moneyCap,
    durationDays: req.durationDays,
  }
  const parties = partiesOf(records)
  await insertApplication(
    db,
    {
      id,
      analystId: principal.id,
      analyst: principal.name,
      organization: req.organization,
      scenario: req.scenario,
      purpose: req.purpose,
      request: JSON.stringify(stored),
      parties: JSON.stringify(parties),
      submittedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + policy.pendingDays * DAY_MS).toISOString(),
    },
    {
      actor: actorOf(principal),
      action: 'application.submit',
      detail: {
        application: id,
        scenario: req.scenario,
        organization: req.organization,
        request: stored,
        parties: parties.map((p) => p.owner?.name ?? OPERATOR_PARTY),
      },
    },
  )
  return (await findApplication(db, id))!
}

/** Whether the principal may see the application: the operator, its analyst, or a party to it. */
export function maySee(principal: Principal, a: ApplicationRecord): boolean {
  if (principal.role === 'operator') return true
  if (principal.role === 'analyst') return a.analystId === principal.id
  if (principal.role === 'owner') return partyLists.get(a.parties).some((p) => p.party === principal.id)
  return false
}

function notFound(id: string): VeilboxError {
  return new VeilboxError(
    'VEILBOX_ERR_MARKET_APPLICATION_NOT_FOUND',
    `no application "${id}"; GET /v1/applications lists those you may see`,
    { application: id },
  )
}

/** The application, when the principal may see it; otherwise what an unknown id gets. */
export async function visibleApplication(db: Sql, principal: Principal, id: string): Promise<ApplicationRecord> {
  const a = await findApplication(db, id)
  if (a === null || !maySee(principal, a)) throw notFound(id)
  return a
}

export async function visibleApplications(
  db: Sql,
  principal: Principal,
  state?: ApplicationState | 'expired',
  now: Date = new Date(),
): Promise<ApplicationRecord[]> {
  const stored = state === 'expired' ? 'pending' : state
  const rows = await listApplications(db, {
    ...(principal.role === 'analyst' ? { analystId: principal.id } : {}),
    ...(stored === undefined ? {} : { state: stored }),
  })
  return rows.filter((a) => maySee(principal, a) && (state === undefined || stateOf(a, now) === state))
}

function closed(a: ApplicationRecord, state: string): VeilboxError {
  return new VeilboxError(
    'VEILBOX_ERR_MARKET_APPLICATION_CLOSED',
    `application ${a.id} is ${state}; it takes no more decisions${state === 'expired' ? ' (the analyst applies again)' : ''}`,
    { application: a.id, state },
  )
}

/**
 * One party's decision. A denial closes the application; the last approval
 * composes every narrowing, checks the result against the policy again and
 * makes one grant per dataset, all in this transaction.
 */
export async function decide(
  db: Sql,
  principal: Principal,
  id: string,
  decision: { kind: 'approve' | 'deny'; reason: string; narrow: Narrowing | null },
  now: Date,
): Promise<ApplicationRecord> {
  const actor = actorOf(principal)
  await db.transaction(async (tx) => {
    const a = await findApplication(tx, id, { forUpdate: true })
    if (a === null || !maySee(principal, a)) throw notFound(id)
    const state = stateOf(a, now)
    if (state !== 'pending') throw closed(a, state)
    const parties = partyLists.get(a.parties)
    const party = parties.find((p) =>
      principal.role === 'operator' ? p.party === OPERATOR_PARTY : p.party === principal.id,
    )
    if (party === undefined)
      throw new VeilboxError(
        'VEILBOX_ERR_MARKET_NOT_A_PARTY',
        `only the operator and the owners of ${parties[0]!.datasets.join(', ')} decide on application ${id}`,
        { application: id },
      )
    if (a.decisions.some((d) => d.party === party.party))
      throw new VeilboxError(
        'VEILBOX_ERR_MARKET_NOT_A_PARTY',
        `${party.owner?.name ?? 'the operator'} has decided on application ${id} already`,
        { application: id },
      )
    const request = requests.get(a.request)
    if (decision.narrow !== null) checkNarrowing(request, party, decision.narrow)
    await insertDecision(
      tx,
      id,
      {
        party: party.party,
        decision: decision.kind,
        reason: decision.reason,
        narrow: decision.narrow === null ? null : JSON.stringify(decision.narrow),
        decidedBy: principal.name,
        decidedAt: now.toISOString(),
      },
      {
        actor,
        action: decision.kind === 'approve' ? 'application.approve' : 'application.deny',
        detail: {
          application: id,
          party: party.owner?.name ?? OPERATOR_PARTY,
          reason: decision.reason,
          narrow: decision.narrow,
        },
      },
    )
    if (decision.kind === 'deny') {
      await closeApplication(tx, id, { state: 'denied', at: now.toISOString() })
      return
    }
    const approvals = [...a.decisions.map((d) => d.party), party.party]
    if (!parties.every((p) => approvals.includes(p.party))) return
    const narrowings = [
      ...a.decisions.flatMap((d) => (d.narrow === null ? [] : [JSON.parse(d.narrow) as Narrowing])),
      ...(decision.narrow === null ? [] : [decision.narrow]),
    ]
    const approved = compose(request, narrowings)
    const records = new Map<string, DatasetRecord>()
    for (const use of approved.datasets) records.set(use.dataset, await getDataset(tx, use.dataset))
    // The policy may have changed since submission: the grants are made only if what they allow still passes it.
    checkTerms(await readPolicy(tx), a.scenario, approved, records)
    // One grant covers every dataset of the application (a join needs them under one grant): one epsilon and
    // one money cap for the whole use, each dataset's columns qualified as dataset.column.
    const totals = budgetTotals(approved.epsilon, approved.delta)
    const [first, ...rest] = approved.datasets
    const g = await createGrant(
      tx,
      {
        analyst: a.analyst,
        analystId: a.analystId,
        dataset: first!.dataset,
        ...(rest.length === 0 ? {} : { datasets: approved.datasets.map((u) => u.dataset) }),
        purpose: a.purpose,
        ...grantScope(approved.datasets, records),
        epsilonTotal: totals.epsilon,
        deltaTotal: totals.delta,
        expiresAt: new Date(now.getTime() + request.durationDays * DAY_MS).toISOString(),
        scenario: a.scenario,
        organization: a.organization,
        applicationId: id,
        moneyCap: approved.moneyCap === null ? null : BigInt(approved.moneyCap),
      },
      actor,
      { epsilon: toText('epsilon', totals.epsilon), delta: toText('delta', totals.delta) },
    )
    const grants = [g.id]
    await closeApplication(tx, id, {
      state: 'approved',
      at: now.toISOString(),
      approved: JSON.stringify(approved),
      grants,
    })
  })
  return (await findApplication(db, id))!
}

/**
 * The one grant's columns and aggregates for an application's datasets. One
 * dataset: its own lists. Several: each dataset's columns qualified (all of a
 * dataset's when its use names none), null when no use names any; the
 * aggregates every use allows (a grant's aggregates apply to all its
 * datasets, so where owners approved different ones, only the common ones).
 */
export function grantScope(
  uses: readonly DatasetUse[],
  records: ReadonlyMap<string, DatasetRecord>,
): { columns: string[] | null; aggregates: GrantAggregate[] | null } {
  if (uses.length === 1)
    return {
      columns: uses[0]!.columns === null ? null : [...uses[0]!.columns],
      aggregates: uses[0]!.aggregates === null ? null : [...uses[0]!.aggregates],
    }
  const columns = uses.every((u) => u.columns === null)
    ? null
    : uses.flatMap((u) =>
        (u.columns ?? records.get(u.dataset)!.spec.columns.map((c) => c.name)).map((c) => `${u.dataset}.${c}`),
      )
  let aggregates: GrantAggregate[] | null = null
  for (const u of uses) {
    if (u.aggregates === null) continue
    aggregates = aggregates === null ? [...u.aggregates] : aggregates.filter((x) => u.aggregates!.includes(x))
  }
  return { columns, aggregates }
}

/** A narrowing only lowers: an owner narrows only its own datasets; a column or aggregate must have been asked for. */
export async function withdraw(db: Sql, principal: Principal, id: string, now: Date): Promise<ApplicationRecord> {
  const actor = actorOf(principal)
  await db.transaction(async (tx) => {
    const a = await findApplication(tx, id, { forUpdate: true })
    if (a === null || !maySee(principal, a)) throw notFound(id)
    if (a.analystId !== principal.id)
      throw new VeilboxError(
        'VEILBOX_ERR_MARKET_NOT_A_PARTY',
        `only the analyst who applied withdraws application ${id}`,
        {
          application: id,
        },
      )
    const state = stateOf(a, now)
    if (state !== 'pending' && state !== 'approved') throw closed(a, state)
    for (const g of a.grants) {
      if ((await getGrant(tx, g)).revokedAt === null)
        await revokeGrant(tx, g, actor, { application: id, reason: 'application withdrawn' })
    }
    await withdrawApplication(tx, id, now.toISOString(), {
      actor,
      action: 'application.withdraw',
      detail: { application: id, was: state, grants: a.grants },
    })
  })
  return (await findApplication(db, id))!
}

function actorOf(p: Principal): AuditActor {
  return { principal: p.name, role: p.role }
}
