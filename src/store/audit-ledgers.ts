import type { Db } from './db.js'
import { stmt } from './statements.js'

/**
 * The ledgers against the chain. Every charge is appended to the chain in
 * the transaction that makes it (query.release, query.deadline), so each
 * ledger's spent amount must equal the sum of its charges in the chain, and
 * every stored answer must have its release record. A ledger reset by hand
 * (grants.epsilon_spent = 0) or an answer slipped into the answers table
 * passes the hash links, but not this.
 *
 * Amounts in records are decimals (charged.epsilon "0.1", detail.dataset
 * {epsilon: 0.1, delta: 1e-9}); they are read back exactly, as integers of
 * the ledgers' units (micro for epsilon, femto for delta).
 */

const MICRO = 6
const FEMTO = 15

/** A decimal (as JSON or text prints it, exponent allowed) in units of 10^-scale, exactly; null when it is not a whole number of units. */
export function decimalUnits(value: unknown, scale: number): bigint | null {
  if (value === null || value === undefined) return 0n
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value : null
  if (text === null) return null
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/i.exec(text.trim())
  if (m === null) return null
  const digits = `${m[2]}${m[3] ?? ''}`
  const exp = Number(m[4] ?? 0) - (m[3]?.length ?? 0) + scale
  let n: bigint
  if (exp >= 0) n = BigInt(digits) * 10n ** BigInt(exp)
  else {
    const d = 10n ** BigInt(-exp)
    const big = BigInt(digits)
    if (big % d !== 0n) return null
    n = big / d
  }
  return m[1] === '-' ? -n : n
}

export interface LedgerProblem {
  readonly scope: 'grant' | 'dataset' | 'answer'
  readonly id: string
  readonly problem: string
}

export interface LedgersCheck {
  readonly ok: boolean
  readonly grants: number
  readonly datasets: number
  readonly answers: number
  /** The first problems found (at most 20). */
  readonly problems: readonly LedgerProblem[]
}

const CHARGING = "action IN ('query.release', 'query.deadline')"

export function verifyLedgers(db: Db): LedgersCheck {
  const problems: LedgerProblem[] = []
  const add = (p: LedgerProblem) => {
    if (problems.length < 20) problems.push(p)
  }

  // Grants: the charged column of their charging records.
  const grantSums = new Map<string, { e: bigint; d: bigint }>()
  for (const r of stmt(db, `SELECT seq, grant_id, charged_epsilon, charged_delta FROM audit_log WHERE ${CHARGING} AND grant_id IS NOT NULL`).iterate() as IterableIterator<{
    seq: number
    grant_id: string
    charged_epsilon: string | null
    charged_delta: string | null
  }>) {
    const e = decimalUnits(r.charged_epsilon, MICRO)
    const d = decimalUnits(r.charged_delta, FEMTO)
    if (e === null || d === null) {
      add({ scope: 'grant', id: r.grant_id, problem: `record ${r.seq} charges an amount that is not a whole number of units (${r.charged_epsilon}, ${r.charged_delta})` })
      continue
    }
    const s = grantSums.get(r.grant_id) ?? { e: 0n, d: 0n }
    grantSums.set(r.grant_id, { e: s.e + e, d: s.d + d })
  }
  const grants = stmt(db, 'SELECT id, epsilon_spent, delta_spent FROM grants').all() as { id: string; epsilon_spent: number; delta_spent: number }[]
  for (const g of grants) {
    const s = grantSums.get(g.id) ?? { e: 0n, d: 0n }
    if (BigInt(g.epsilon_spent) !== s.e || BigInt(g.delta_spent) !== s.d) {
      add({ scope: 'grant', id: g.id, problem: `spent epsilon ${g.epsilon_spent} and delta ${g.delta_spent} (units), but its charges in the chain add up to ${s.e} and ${s.d}` })
    }
  }

  // Datasets: the dataset's part of each charge, in the record's detail.
  const datasetSums = new Map<string, { e: bigint; d: bigint }>()
  for (const r of stmt(db, `SELECT seq, dataset, json_extract(detail, '$.dataset.epsilon') AS e, json_extract(detail, '$.dataset.delta') AS d FROM audit_log WHERE ${CHARGING} AND dataset IS NOT NULL`).iterate() as IterableIterator<{
    seq: number
    dataset: string
    e: number | null
    d: number | null
  }>) {
    const e = decimalUnits(r.e, MICRO)
    const d = decimalUnits(r.d, FEMTO)
    if (e === null || d === null) {
      add({ scope: 'dataset', id: r.dataset, problem: `record ${r.seq} charges the dataset an amount that is not a whole number of units (${r.e}, ${r.d})` })
      continue
    }
    const s = datasetSums.get(r.dataset) ?? { e: 0n, d: 0n }
    datasetSums.set(r.dataset, { e: s.e + e, d: s.d + d })
  }
  const budgets = stmt(db, 'SELECT dataset_id, epsilon_spent, delta_spent FROM dataset_budgets').all() as { dataset_id: string; epsilon_spent: number; delta_spent: number }[]
  for (const b of budgets) {
    const s = datasetSums.get(b.dataset_id) ?? { e: 0n, d: 0n }
    if (BigInt(b.epsilon_spent) !== s.e || BigInt(b.delta_spent) !== s.d) {
      add({ scope: 'dataset', id: b.dataset_id, problem: `spent epsilon ${b.epsilon_spent} and delta ${b.delta_spent} (units), but its charges in the chain add up to ${s.e} and ${s.d}` })
    }
  }

  // Answers: each has the release record that charged it.
  const released = new Map<string, { grant: string | null; e: bigint | null }>()
  for (const r of stmt(db, "SELECT grant_id, charged_epsilon, json_extract(detail, '$.queryId') AS q FROM audit_log WHERE action = 'query.release'").iterate() as IterableIterator<{
    grant_id: string | null
    charged_epsilon: string | null
    q: string | null
  }>) {
    if (r.q !== null) released.set(r.q, { grant: r.grant_id, e: decimalUnits(r.charged_epsilon, MICRO) })
  }
  const answers = stmt(db, 'SELECT query_id, grant_id, epsilon_micro FROM answers').all() as { query_id: string; grant_id: string; epsilon_micro: number }[]
  for (const a of answers) {
    const rec = released.get(a.query_id)
    if (rec === undefined) add({ scope: 'answer', id: a.query_id, problem: 'the stored answer has no query.release record in the chain' })
    else if (rec.grant !== a.grant_id || rec.e !== BigInt(a.epsilon_micro)) add({ scope: 'answer', id: a.query_id, problem: 'the stored answer differs from its release record (grant or charge)' })
  }

  return { ok: problems.length === 0, grants: grants.length, datasets: budgets.length, answers: answers.length, problems }
}
