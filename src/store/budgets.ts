import { appendAudit, type AuditActor } from './audit.js'
import { getDataset } from './datasets.js'
import { ledgerOf, type Ledger, type LedgerRow } from './ledger.js'
import type { Sql } from './sql.js'

export async function findDatasetBudget(
  db: Sql,
  dataset: string,
  options: { forUpdate?: boolean } = {},
): Promise<Ledger | null> {
  const row = await db.get<LedgerRow>(
    `SELECT * FROM dataset_budgets WHERE dataset_id = $1${options.forUpdate ? ' FOR UPDATE' : ''}`,
    [dataset],
  )
  return row ? ledgerOf(row) : null
}

/** Whether the dataset's grants' budget windows refresh (issue 24; true unless an operator turned it off). */
export async function datasetWindowRefresh(db: Sql, dataset: string): Promise<boolean> {
  const v = await db.value<number | bigint>('SELECT window_refresh FROM dataset_budgets WHERE dataset_id = $1', [
    dataset,
  ])
  return v === undefined || Number(v) !== 0
}

/**
 * Sets a dataset's total budget, in the ledger's integer units. Spending
 * carries over: a total below what is already spent changes nothing and
 * comes back as `belowSpent` with the current ledger (the caller refuses it).
 */
export async function setDatasetBudget(
  db: Sql,
  dataset: string,
  totals: { epsilon: bigint; delta: bigint },
  actor: AuditActor,
  display: { epsilon: string; delta: string },
  /** Whether its grants' windows refresh; absent: unchanged (true for a new budget). */
  windowRefresh?: boolean,
): Promise<{ ledger: Ledger; belowSpent: boolean }> {
  return db.transaction(async (db) => {
    await getDataset(db, dataset)
    const current = await findDatasetBudget(db, dataset, { forUpdate: true })
    if (current && (totals.epsilon < current.epsilonSpent || totals.delta < current.deltaSpent)) {
      return { ledger: current, belowSpent: true }
    }
    const now = new Date().toISOString()
    await db.run(
      `INSERT INTO dataset_budgets (dataset_id, epsilon_total, delta_total, updated_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (dataset_id) DO UPDATE SET epsilon_total = excluded.epsilon_total, delta_total = excluded.delta_total, updated_at = excluded.updated_at`,
      [dataset, totals.epsilon, totals.delta, now],
    )
    if (windowRefresh !== undefined)
      await db.run('UPDATE dataset_budgets SET window_refresh = $2 WHERE dataset_id = $1', [
        dataset,
        windowRefresh ? 1 : 0,
      ])
    await appendAudit(db, {
      actor,
      action: 'budget.set',
      outcome: 'ok',
      dataset,
      detail: {
        epsilon: display.epsilon,
        delta: display.delta,
        ...(windowRefresh === undefined ? {} : { windowRefresh }),
      },
    })
    return { ledger: (await findDatasetBudget(db, dataset))!, belowSpent: false }
  })
}
