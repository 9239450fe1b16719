import { decimalUnits, EPSILON_DECIMALS } from './audit-ledgers.js'
import type { Sql } from './sql.js'

/**
 * Usage read back from the audit chain: what each grant and purpose released
 * and spent, and when. Charges are read back exactly from the records'
 * decimals and summed in the ledgers' integer units (epsilon micro-units),
 * as they were spent; what the units mean is the engine's business.
 */

export interface UsageRow {
  readonly grant: string | null
  readonly purpose: string | null
  readonly day: string
  readonly queries: number
  /** Epsilon charged to the grants, in the ledgers' units (micro). */
  readonly epsilonCharged: bigint
  /** Epsilon charged to the dataset's budget, in the ledgers' units (micro). */
  readonly datasetEpsilonCharged: bigint
}

/** An epsilon as a record states it, in the ledgers' units; a record the chain verifier would refuse counts nothing here. */
const epsilonUnits = (value: unknown): bigint => decimalUnits(value, EPSILON_DECIMALS) ?? 0n

/** Released answers of a dataset, per grant, purpose and UTC day. */
export async function datasetUsage(db: Sql, dataset: string): Promise<UsageRow[]> {
  const rows = await db.all<{
    grant_id: string | null
    purpose: string | null
    day: string
    charged_epsilon: string | null
    detail: string | null
  }>(
    "SELECT grant_id, purpose, substr(time, 1, 10) AS day, charged_epsilon, detail FROM audit_log WHERE dataset = $1 AND action = 'query.release' ORDER BY seq",
    [dataset],
  )
  const out = new Map<
    string,
    {
      grant: string | null
      purpose: string | null
      day: string
      queries: number
      epsilonCharged: bigint
      datasetEpsilonCharged: bigint
    }
  >()
  for (const r of rows) {
    const key = `${r.grant_id}\u0000${r.purpose}\u0000${r.day}`
    const e = out.get(key) ?? {
      grant: r.grant_id,
      purpose: r.purpose,
      day: r.day,
      queries: 0,
      epsilonCharged: 0n,
      datasetEpsilonCharged: 0n,
    }
    const detail = r.detail === null ? {} : (JSON.parse(r.detail) as { dataset?: { epsilon?: number } })
    e.queries += 1
    e.epsilonCharged += epsilonUnits(r.charged_epsilon)
    e.datasetEpsilonCharged += epsilonUnits(detail.dataset?.epsilon ?? r.charged_epsilon)
    out.set(key, e)
  }
  return [...out.values()]
}

/** How many answers each grant released and how many queries it had refused, from the chain. */
export async function grantQueryCounts(
  db: Sql,
  grants: readonly string[],
): Promise<Map<string, { released: number; cached: number; refused: number }>> {
  const counts = new Map(grants.map((g) => [g, { released: 0, cached: 0, refused: 0 }]))
  if (grants.length === 0) return counts
  const rows = await db.all<{ grant_id: string; action: string; n: number }>(
    `SELECT grant_id, action, COUNT(*) AS n FROM audit_log
     WHERE grant_id IN (${grants.map((_, i) => `$${i + 1}`).join(',')}) AND action IN ('query.release', 'query.cached', 'query.reread', 'query.refused')
     GROUP BY grant_id, action`,
    grants,
  )
  for (const r of rows) {
    const c = counts.get(r.grant_id)!
    if (r.action === 'query.release') c.released += r.n
    else if (r.action === 'query.refused') c.refused += r.n
    else c.cached += r.n
  }
  return counts
}
