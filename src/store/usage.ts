import type { Sql } from './sql.js'

/**
 * Usage read back from the audit chain: what each grant and purpose released
 * and spent, and when. Charges are summed in integer micro-units, as they
 * were spent.
 */

export interface UsageRow {
  readonly grant: string | null
  readonly purpose: string | null
  readonly day: string
  readonly queries: number
  readonly epsilonMicro: number
  readonly datasetEpsilonMicro: number
}

const toMicro = (s: string | null | undefined): number =>
  s === null || s === undefined ? 0 : Math.round(Number(s) * 1e6)

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
      epsilonMicro: number
      datasetEpsilonMicro: number
    }
  >()
  for (const r of rows) {
    const key = `${r.grant_id}\u0000${r.purpose}\u0000${r.day}`
    const e = out.get(key) ?? {
      grant: r.grant_id,
      purpose: r.purpose,
      day: r.day,
      queries: 0,
      epsilonMicro: 0,
      datasetEpsilonMicro: 0,
    }
    const detail = r.detail === null ? {} : (JSON.parse(r.detail) as { dataset?: { epsilon?: number } })
    e.queries += 1
    e.epsilonMicro += toMicro(r.charged_epsilon)
    e.datasetEpsilonMicro += Math.round((detail.dataset?.epsilon ?? Number(r.charged_epsilon ?? 0)) * 1e6)
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
