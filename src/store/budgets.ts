import { VeilboxError } from '../errors/index.js'
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

/**
 * Sets a dataset's total budget. Spending carries over: a total below what is
 * already spent is refused rather than silently producing a negative remainder.
 */
export async function setDatasetBudget(
  db: Sql,
  dataset: string,
  totals: { epsilonMicro: number; deltaFemto: number },
  actor: AuditActor,
  display: { epsilon: string; delta: string },
): Promise<Ledger> {
  return db.transaction(async (db) => {
    await getDataset(db, dataset)
    const current = await findDatasetBudget(db, dataset, { forUpdate: true })
    if (current && (totals.epsilonMicro < current.epsilonSpent || totals.deltaFemto < current.deltaSpent)) {
      throw new VeilboxError(
        'VEILBOX_ERR_BUDGET_BELOW_SPENT',
        `the new total is below what dataset "${dataset}" has already spent; set a total of at least the spent amount`,
        { dataset, spent: { epsilon: current.epsilonSpent / 1e6, delta: current.deltaSpent / 1e15 } },
      )
    }
    const now = new Date().toISOString()
    await db.run(
      `INSERT INTO dataset_budgets (dataset_id, epsilon_total, delta_total, updated_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (dataset_id) DO UPDATE SET epsilon_total = excluded.epsilon_total, delta_total = excluded.delta_total, updated_at = excluded.updated_at`,
      [dataset, totals.epsilonMicro, totals.deltaFemto, now],
    )
    await appendAudit(db, {
      actor,
      action: 'budget.set',
      outcome: 'ok',
      dataset,
      detail: { epsilon: display.epsilon, delta: display.delta },
    })
    return (await findDatasetBudget(db, dataset))!
  })
}
