import { VeilboxError } from '../../errors/index.js'
import { findAnswer, insertAnswer, type AnswerRef } from '../../store/answers.js'
import { appendAudit, type AuditActor, type AuditEvent } from '../../store/audit.js'
import type { Sql, Store } from '../../store/db.js'
import { getGrant, type GrantRecord } from '../../store/grants.js'
import { datasetWindowRefresh } from '../../store/budgets.js'
import { guardedCharge, guardedGrantChargeAndSpend, guardedWindowCharge } from '../../store/ledger.js'
import { guardedSpend, insertMoneyLines } from '../../store/market.js'
import { answerLines, answerPrice, priceView, spendingCapError } from '../market/charge.js'
import type { TxOptions } from '../../store/sql.js'
import { toText } from '../dp/budget.js'
import { checkGrantUsable } from '../policy/grant.js'
import { windowExhausted, windowStart } from '../policy/window.js'
import { chargeView, exhausted, ledgerOf, priceOn, remainingAfter, type Charge } from '../policy/pricing.js'
import { datasetPrice } from './joined.js'
import { INTERVALS_SLOT, ROWS_SLOT, spliceRelease } from '../release/serialize.js'
import { readLedgers } from './catalog.js'
import { privacyOf } from './release.js'
import type { Admission, Answer, AnswerBody, Ledgers, PreparedQuery, ReleasedAnswer, Selects } from './types.js'

/**
 * Step 5 of a query: in one write transaction (shared with other releases by
 * the store's group commit), lock the grant's row, take a twin's answer if one
 * committed meanwhile, charge both ledgers with guarded statements, store the
 * answer and append its audit record. The answer leaves only after this
 * commits. Locks are taken in one order by every release: grant, budget,
 * chain head (appendAudit, at the end).
 */
export function commit(db: Store, released: ReleasedAnswer, now: () => Date): Promise<Answer> {
  const admission = released.admission
  return db.transaction((tx) => commitIn(tx, released, now), { group: true, locks: releaseLocks(admission.prepared) })
}

async function commitIn(tx: Sql, released: ReleasedAnswer, now: () => Date): Promise<Answer> {
  const { admission, serialized, receiptBody, receipt, createdAt } = released
  const p = admission.prepared
  const actor = actorOf(p)
  const grant = await lockGrant(tx, p)
  // A twin of this query may have committed while we computed, on this node or another: its answer wins, free.
  // Checked under the grant's lock, which every release of this grant takes first.
  const twin = await findAnswer(tx, p.grant.id, p.cacheKey)
  if (twin) return rereadIn(tx, actor, twin, 'query.cached', selectsOf(p))
  const { ledgers, gc, dc, jcs, amounts } = await charge(tx, p, grant, now, true)
  const amount = amounts.reduce((a, b) => a + b, 0n)
  const joined = p.joined.map((j) => j.record.spec.id)
  const body: AnswerBody = {
    queryId: admission.queryId,
    grant: p.grant.id,
    dataset: p.spec.id,
    ...(joined.length === 0 ? {} : { datasets: [p.spec.id, ...joined] }),
    version: p.version.version,
    datasetCommitment: p.version.commitment,
    queryHash: p.queryHash,
    sql: p.sql,
    ...(p.template === null ? {} : { template: p.template }),
    columns: released.table.columns,
    rows: released.table.rows,
    intervals: released.table.intervals,
    confidence: p.plan.confidence,
    privacy: {
      ...privacyOf(p),
      charged: {
        grant: chargeView(gc),
        dataset: chargeView(dc),
        // A join's every dataset, each charged the same price.
        ...(joined.length === 0
          ? {}
          : {
              datasets: Object.fromEntries([
                [p.spec.id, chargeView(dc)],
                ...joined.map((d, k) => [d, chargeView(jcs[k]!)]),
              ]),
            }),
      },
    },
    budget: { remaining: remainingAfter(ledgers.grant.ledger, gc) },
    price: priceView(p.money, amount),
    cached: false,
    createdAt,
    receipt,
  }
  // The rows and intervals were serialized before the transaction (serialize.ts); only the small rest is stringified here.
  const json = spliceRelease(JSON.stringify({ ...body, rows: ROWS_SLOT, intervals: INTERVALS_SLOT }), serialized)
  await insertAnswer(tx, {
    query_id: admission.queryId,
    grant_id: p.grant.id,
    analyst: actor.principal,
    analyst_id: p.principal.id,
    dataset_id: p.spec.id,
    version: p.version.version,
    cache_key: p.cacheKey,
    query_hash: p.queryHash,
    body: json,
    epsilon_micro: gc.epsilon,
    delta_femto: gc.delta,
    created_at: createdAt,
    scope: JSON.stringify(p.scope),
  })
  await insertMoneyLines(
    tx,
    answerLines({
      queryId: admission.queryId,
      time: createdAt,
      grant,
      analyst: { id: p.principal.id, name: p.principal.name },
      currency: p.money.currency,
      feeBps: p.money.feeBps,
      shareRule: p.money.shareRule,
      // Income by contribution: each dataset's own price, to its owner.
      datasets: [
        { dataset: p.spec.id, ownerId: p.money.ownerId, epsilonMicro: dc.epsilon, amount: amounts[0]! },
        ...p.joinedMoney.map((m, k) => ({
          dataset: m.dataset,
          ownerId: m.ownerId,
          epsilonMicro: jcs[k]!.epsilon,
          amount: amounts[k + 1]!,
        })),
      ],
    }),
  )
  // The chain's head is locked last and held for the least time: after the answer is stored.
  await appendAudit(tx, {
    id: receiptBody.auditRecord,
    actor,
    action: 'query.release',
    outcome: 'ok',
    ...subjectOf(p),
    charged: chargedText(gc),
    detail: {
      queryId: admission.queryId,
      mechanism: p.plan.mechanism,
      dataset: chargeView(dc),
      ...(joined.length === 0 ? {} : { joined: Object.fromEntries(joined.map((d, k) => [d, chargeView(jcs[k]!)])) }),
      receipt: released.receiptDigest,
      ...(p.template === null ? {} : { template: p.template }),
    },
  })
  return { kind: 'fresh', body: Object.freeze(body), json, selects: selectsOf(p) }
}

/**
 * A query stopped at its deadline, charged as if it had been answered, in
 * one transaction with its audit record (query.deadline). Admission and
 * constant-shape execution make a deadline hit depend on load, never on the
 * rows; charging it as well means that whether an answer comes back cannot
 * be bought for free either way, nor a worker held for nothing. Returns the
 * error to send; throws the budget refusal when the grant cannot pay, as an
 * answer would get.
 */
export function commitDeadline(
  db: Store,
  admission: Admission,
  timeout: VeilboxError,
  now: () => Date,
): Promise<VeilboxError> {
  const p = admission.prepared
  return db.transaction(
    async (tx) => {
      const { ledgers, gc, dc } = await charge(tx, p, await lockGrant(tx, p), now)
      const charged = chargeView(gc)
      await appendAudit(tx, {
        actor: actorOf(p),
        action: 'query.deadline',
        outcome: timeout.code,
        ...subjectOf(p),
        charged: chargedText(gc),
        detail: {
          queryId: admission.queryId,
          mechanism: p.plan.mechanism,
          dataset: chargeView(dc),
          reason: timeout.detail,
        },
      })
      return new VeilboxError(
        'VEILBOX_ERR_SANDBOX_TIMEOUT',
        `${timeout.detail}; its privacy cost (epsilon ${charged.epsilon}${charged.delta > 0 ? `, delta ${charged.delta}` : ''}) was charged as if it had been answered, because whether an answer comes back must not depend on the data (docs/privacy-model.md). Retry when the service is less busy, or with a smaller query`,
        { ...timeout.extra, charged, remaining: remainingAfter(ledgers.grant.ledger, gc) },
        { cause: timeout, headers: { 'retry-after': '5' } },
      )
    },
    { group: true, locks: releaseLocks(p) },
  )
}

/**
 * A stored answer again, free, returned once its audit record is on disk.
 * `grant`: the answer's grant as the caller just read and checked it (a
 * repeat does), so that the transaction does not read it again.
 */
export function reread(
  db: Store,
  actor: AuditActor,
  ref: AnswerRef,
  action: string,
  grant: GrantRecord | null = null,
): Promise<Answer> {
  return db.transaction((tx) => rereadIn(tx, actor, ref, action, null, grant), { group: true })
}

async function rereadIn(
  tx: Sql,
  actor: AuditActor,
  ref: AnswerRef,
  action: string,
  selects: Answer['selects'],
  known: GrantRecord | null = null,
): Promise<Answer> {
  const grant = known !== null && known.id === ref.grant_id ? known : await getGrant(tx, ref.grant_id)
  await appendAudit(tx, {
    actor,
    action,
    outcome: 'ok',
    dataset: ref.dataset_id,
    version: ref.version,
    grant: ref.grant_id,
    purpose: grant.purpose,
    queryHash: ref.query_hash,
    charged: { epsilon: '0', delta: '0' },
    detail: { queryId: ref.query_id },
  })
  return { kind: 'stored', ref, remaining: remainingAfter(ledgerOf(grant.ledger), null), selects }
}

/** The rows a release or a deadline charge locks: its grant's, then its dataset's budget (declared for the group commit). */
function releaseLocks(p: PreparedQuery): TxOptions['locks'] {
  return { grants: [p.grant.id], budgets: [p.spec.id, ...p.joined.map((j) => j.record.spec.id)] }
}

/** The release's first lock: the grant's row, held to the commit. */
function lockGrant(tx: Sql, p: PreparedQuery): Promise<GrantRecord> {
  return getGrant(tx, p.grant.id, { forUpdate: true })
}

/**
 * Both ledgers charged with guarded statements, the grant's row already
 * held. The grant is read again under its lock: it may have been charged,
 * revoked or expired while the sandbox computed. The dataset's budget row is
 * locked next.
 */
async function charge(
  tx: Sql,
  p: PreparedQuery,
  grant: GrantRecord,
  now: () => Date,
  money = false,
): Promise<{ ledgers: Ledgers; gc: Charge; dc: Charge; jcs: Charge[]; amounts: bigint[] }> {
  const ledgers = await readLedgers(
    tx,
    grant,
    p.spec.id,
    true,
    p.joined.map((j) => j.record.spec.id),
  )
  checkGrantUsable(grant, p.principal, now())
  const gc = priceOn(ledgers.grant, p.price)
  const dc = priceOn(ledgers.dataset, datasetPrice(p, ledgers.dataset.id))
  const jcs = ledgers.joined.map((view) => priceOn(view, datasetPrice(p, view.id)))
  // The money price, each dataset's part (an answer's; a deadline charge spends no money).
  const amounts = money
    ? [answerPrice(p.money, dc.epsilon), ...p.joinedMoney.map((m, k) => answerPrice(m, jcs[k]!.epsilon))]
    : []
  const amount = amounts.reduce((a, b) => a + b, 0n)
  // The grant's privacy and money in one guarded statement when both fit; otherwise one at a time, in the
  // order the refusals are checked (privacy, the datasets, then the cap), to refuse with the right one.
  const both = money && (await guardedGrantChargeAndSpend(tx, p.grant.id, gc, amount))
  if (!both && !(await guardedCharge(tx, 'grants', p.grant.id, gc, 'AND revoked_at IS NULL')))
    throw exhausted(ledgers.grant, gc)
  // The grant's budget window (issue 24): its own guarded statement on the row already locked.
  if (grant.window !== null) {
    const refresh = await datasetWindowRefresh(tx, p.spec.id)
    const start = windowStart(grant.window.every, grant.createdAt, now(), refresh)
    if (!(await guardedWindowCharge(tx, p.grant.id, start, gc.epsilon))) throw windowExhausted(grant, start, gc.epsilon)
  }
  if (!(await guardedCharge(tx, 'dataset_budgets', p.spec.id, dc))) throw exhausted(ledgers.dataset, dc)
  for (const [k, view] of ledgers.joined.entries()) {
    if (!(await guardedCharge(tx, 'dataset_budgets', view.id, jcs[k]!))) throw exhausted(view, jcs[k]!)
  }
  if (money && !both) await spend(tx, p, grant, amount)
  return { ledgers, gc, dc, jcs, amounts }
}

/**
 * The answer's price taken from the grant's money cap with a guarded
 * statement, after its privacy charges and in their transaction: a refusal
 * rolls both back, so an answer the cap cannot pay costs nothing at all.
 */
/** The answer's price, each dataset's part added up, taken from the grant's money cap with a guarded statement. */
async function spend(tx: Sql, p: PreparedQuery, grant: GrantRecord, amount: bigint): Promise<void> {
  if (!(await guardedSpend(tx, p.grant.id, amount))) throw spendingCapError(grant, amount, p.money.currency)
}

function chargedText(c: Charge): { epsilon: string; delta: string } {
  return { epsilon: toText('epsilon', c.epsilon), delta: toText('delta', c.delta) }
}

export function actorOf(p: PreparedQuery): AuditActor {
  return { principal: p.principal.name, role: p.principal.role }
}

/** What a query's audit records name: its dataset and version, grant and purpose, and canonical query. */
export function subjectOf(
  p: PreparedQuery,
): Pick<AuditEvent, 'dataset' | 'version' | 'grant' | 'purpose' | 'queryHash'> {
  return {
    dataset: p.spec.id,
    version: p.version.version,
    grant: p.grant.id,
    purpose: p.grant.purpose,
    queryHash: p.queryHash,
  }
}

function selectsOf(p: PreparedQuery): Selects {
  return {
    cacheKey: p.cacheKey,
    dataset: p.spec.id,
    version: p.version.version,
    joined: [
      ...p.joined.map((j) => ({ dataset: j.record.spec.id, version: j.version.version })),
      ...p.publicJoined.map((j) => ({ dataset: j.record.spec.id, version: j.version.version, public: true as const })),
    ],
  }
}
