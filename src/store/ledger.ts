import type { Sql } from './sql.js'

/**
 * The privacy ledger as the store sees it: integers only. Epsilon is counted in
 * micro-units (1e-6), delta in femto-units (1e-15) and accumulated zCDP rho in
 * pico-units (1e-12). What those numbers mean is the engine's business; the
 * store's is that a charge lands only when it fits, in one guarded statement.
 */
export interface Ledger {
  readonly epsilonTotal: bigint
  readonly epsilonSpent: bigint
  readonly deltaTotal: bigint
  readonly deltaSpent: bigint
  readonly rhoSpent: bigint
}

export interface Charge {
  readonly epsilon: bigint
  readonly delta: bigint
  readonly rho: bigint
  /**
   * The rho the charge was priced against. A zCDP charge is priced from the
   * rho already spent, so it lands only if that is still the spent rho.
   */
  readonly rhoBefore: bigint
}

export type LedgerTable = 'grants' | 'dataset_budgets'

const KEY: Record<LedgerTable, string> = { grants: 'id', dataset_budgets: 'dataset_id' }

export interface LedgerRow {
  epsilon_total: number
  epsilon_spent: number
  delta_total: number
  delta_spent: number
  rho_spent: number
}

export function ledgerOf(row: LedgerRow): Ledger {
  return {
    epsilonTotal: BigInt(row.epsilon_total),
    epsilonSpent: BigInt(row.epsilon_spent),
    deltaTotal: BigInt(row.delta_total),
    deltaSpent: BigInt(row.delta_spent),
    rhoSpent: BigInt(row.rho_spent),
  }
}

/**
 * Spends `charge` from one ledger row with a single guarded UPDATE. Returns
 * false (and changes nothing) when the charge does not fit or the rho moved.
 * Run it inside the release transaction, after locking the row (FOR UPDATE).
 */
export async function guardedCharge(
  db: Sql,
  table: LedgerTable,
  id: string,
  charge: Charge,
  extraGuard = '',
): Promise<boolean> {
  const sql = `UPDATE ${table}
    SET epsilon_spent = epsilon_spent + $2, delta_spent = delta_spent + $3, rho_spent = rho_spent + $4
    WHERE ${KEY[table]} = $1
      AND epsilon_spent + $2 <= epsilon_total
      AND delta_spent + $3 <= delta_total
      AND rho_spent = $5 ${extraGuard}`
  return (await db.run(sql, [id, charge.epsilon, charge.delta, charge.rho, charge.rhoBefore])) === 1
}

/**
 * A grant's privacy charge (guardedCharge, revoked grants refused) and its
 * money spend (the cap's guard, store/market.ts guardedSpend) in one guarded
 * UPDATE of its row: false, changing nothing, when either does not fit; the
 * caller then charges them one at a time to learn which.
 */
export async function guardedGrantChargeAndSpend(
  db: Sql,
  id: string,
  charge: Charge,
  amount: bigint,
): Promise<boolean> {
  const sql = `UPDATE grants
    SET epsilon_spent = epsilon_spent + $2, delta_spent = delta_spent + $3, rho_spent = rho_spent + $4,
      money_spent = money_spent + $6
    WHERE id = $1
      AND epsilon_spent + $2 <= epsilon_total
      AND delta_spent + $3 <= delta_total
      AND rho_spent = $5 AND revoked_at IS NULL
      AND (money_cap IS NULL OR money_spent + $6 <= money_cap)`
  return (await db.run(sql, [id, charge.epsilon, charge.delta, charge.rho, charge.rhoBefore, amount])) === 1
}

/**
 * A grant's window charge (issue 24), in one guarded UPDATE of its row: the
 * spend of window `start` plus `epsilon` must fit the window's cap. A row
 * whose spend counts in another (earlier) window starts this one from 0.
 * False, changing nothing, when it does not fit. Run it in the release
 * transaction with the grant's row locked, as guardedCharge.
 */
export async function guardedWindowCharge(db: Sql, id: string, start: string, epsilon: bigint): Promise<boolean> {
  const sql = `UPDATE grants
    SET window_spent = (CASE WHEN window_start = $2 THEN window_spent ELSE 0 END) + $3, window_start = $2
    WHERE id = $1 AND window_epsilon IS NOT NULL
      AND (CASE WHEN window_start = $2 THEN window_spent ELSE 0 END) + $3 <= window_epsilon`
  return (await db.run(sql, [id, start, epsilon])) === 1
}
