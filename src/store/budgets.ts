import { VeilboxError } from '../errors/index.js'
import { appendAudit, type AuditActor } from './audit.js'
import { immediate, type Db } from './db.js'
import { getDataset } from './datasets.js'
import { ledgerOf, type Ledger, type LedgerRow } from './ledger.js'
import { stmt } from './statements.js'

export function findDatasetBudget(db: Db, dataset: string): Ledger | null {
  const row = stmt(db, 'SELECT * FROM dataset_budgets WHERE dataset_id = ?').get(dataset) as LedgerRow | undefined
  return row ? ledgerOf(row) : null
}

/**
 * Sets a dataset's total budget. Spending carries over: a total below what is
 * already spent is refused rather than silently producing a negative remainder.
 */
export function setDatasetBudget(
  db: Db,
  dataset: string,
  totals: { epsilonMicro: number; deltaFemto: number },
  actor: AuditActor,
  display: { epsilon: string; delta: string },
): Ledger {
  return immediate(db, () => {
    getDataset(db, dataset)
    const current = findDatasetBudget(db, dataset)
    if (current && (totals.epsilonMicro < current.epsilonSpent || totals.deltaFemto < current.deltaSpent)) {
      throw new VeilboxError(
        'VEILBOX_ERR_BUDGET_BELOW_SPENT',
        `the new total is below what dataset "${dataset}" has already spent; set a total of at least the spent amount`,
        { dataset, spent: { epsilon: current.epsilonSpent / 1e6, delta: current.deltaSpent / 1e15 } },
      )
    }
    const now = new Date().toISOString()
    stmt(db, 
      `INSERT INTO dataset_budgets (dataset_id, epsilon_total, delta_total, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (dataset_id) DO UPDATE SET epsilon_total = excluded.epsilon_total, delta_total = excluded.delta_total, updated_at = excluded.updated_at`,
    ).run(dataset, totals.epsilonMicro, totals.deltaFemto, now)
    appendAudit(db, { actor, action: 'budget.set', outcome: 'ok', dataset, detail: { epsilon: display.epsilon, delta: display.delta } })
    return findDatasetBudget(db, dataset)!
  })
}
