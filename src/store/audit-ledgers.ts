import type { Sql } from './sql.js'

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

/** Decimals of the ledgers' integer units: epsilon in 1e-6, delta in 1e-15 (engine/dp/budget.ts says what they mean). */
export const EPSILON_DECIMALS = 6
export const DELTA_DECIMALS = 15

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

export async function verifyLedgers(db: Sql): Promise<LedgersCheck> {
  const problems: LedgerProblem[] = []
  const add = (p: LedgerProblem) => {
    if (problems.length < 20) problems.push(p)
  }

  /** Sums each ledger's charges in the chain and compares them with what the ledger says it spent. */
  const compare = (
    scope: 'grant' | 'dataset',
    charges: Iterable<{ seq: number; id: string; e: unknown; d: unknown }>,
    ledgers: readonly { id: string; epsilon_spent: number; delta_spent: number }[],
  ): void => {
    const sums = new Map<string, { e: bigint; d: bigint }>()
    for (const r of charges) {
      const e = decimalUnits(r.e, EPSILON_DECIMALS)
      const d = decimalUnits(r.d, DELTA_DECIMALS)
      if (e === null || d === null) {
        add({
          scope,
          id: r.id,
          problem: `record ${r.seq} charges an amount that is not a whole number of units (${String(r.e)}, ${String(r.d)})`,
        })
        continue
      }
      const s = sums.get(r.id) ?? { e: 0n, d: 0n }
      sums.set(r.id, { e: s.e + e, d: s.d + d })
    }
    for (const l of ledgers) {
      const s = sums.get(l.id) ?? { e: 0n, d: 0n }
      if (BigInt(l.epsilon_spent) !== s.e || BigInt(l.delta_spent) !== s.d) {
        add({
          scope,
          id: l.id,
          problem: `spent epsilon ${l.epsilon_spent} and delta ${l.delta_spent} (units), but its charges in the chain add up to ${s.e} and ${s.d}`,
        })
      }
    }
  }
  // Grants: the charged column of their charging records; datasets: the dataset's part, in each record's detail.
  const grants = await db.all<{ id: string; epsilon_spent: number; delta_spent: number }>(
    'SELECT id, epsilon_spent, delta_spent FROM grants',
  )
  const charging = await db.all<{
    seq: number
    grant_id: string | null
    dataset: string | null
    e: string | null
    d: string | null
    detail: string | null
    action: string
  }>(
    `SELECT seq, grant_id, dataset, charged_epsilon AS e, charged_delta AS d, detail, action FROM audit_log WHERE ${CHARGING} ORDER BY seq`,
  )
  compare(
    'grant',
    charging.filter((r) => r.grant_id !== null).map((r) => ({ seq: r.seq, id: r.grant_id!, e: r.e, d: r.d })),
    grants,
  )
  const budgets = await db.all<{ id: string; epsilon_spent: number; delta_spent: number }>(
    'SELECT dataset_id AS id, epsilon_spent, delta_spent FROM dataset_budgets',
  )
  const detailOf = (r: { detail: string | null }): Record<string, unknown> => {
    try {
      return r.detail === null ? {} : (JSON.parse(r.detail) as Record<string, unknown>)
    } catch {
      return {}
    }
  }
  compare(
    'dataset',
    charging
      .filter((r) => r.dataset !== null)
      .map((r) => {
        const ds = detailOf(r).dataset as { epsilon?: unknown; delta?: unknown } | undefined
        return { seq: r.seq, id: r.dataset!, e: ds?.epsilon ?? null, d: ds?.delta ?? null }
      }),
    budgets,
  )

  const released = new Map<string, { grant: string | null; e: bigint | null }>()
  for (const r of charging) {
    if (r.action !== 'query.release') continue
    const q = detailOf(r).queryId
    if (typeof q === 'string') released.set(q, { grant: r.grant_id, e: decimalUnits(r.e, EPSILON_DECIMALS) })
  }
  const answers = await db.all<{ query_id: string; grant_id: string; epsilon_micro: number }>(
    'SELECT query_id, grant_id, epsilon_micro FROM answers',
  )
  for (const a of answers) {
    const rec = released.get(a.query_id)
    if (rec === undefined)
      add({ scope: 'answer', id: a.query_id, problem: 'the stored answer has no query.release record in the chain' })
    else if (rec.grant !== a.grant_id || rec.e !== BigInt(a.epsilon_micro))
      add({
        scope: 'answer',
        id: a.query_id,
        problem: 'the stored answer differs from its release record (grant or charge)',
      })
  }

  return {
    ok: problems.length === 0,
    grants: grants.length,
    datasets: budgets.length,
    answers: answers.length,
    problems,
  }
}
