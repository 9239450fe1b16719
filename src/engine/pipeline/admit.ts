import { randomHex } from '../../store/ids.js'
import { checkWork, publicRows, type AdmissionLimits, type WorkEstimate } from '../admission.js'
import { answerPrice, fitsCap, spendingCapError } from '../market/charge.js'
import { priceOn } from '../policy/pricing.js'
import { datasetPrice } from './joined.js'
import type { Admission, Ledgers, PreparedQuery } from './types.js'

/** The defaults of VEILBOX_TASK_MAX_CELLS, VEILBOX_HE_MAX_WORK and VEILBOX_MAX_RELEASE_VALUES. */
export const DEFAULT_LIMITS: AdmissionLimits = Object.freeze({
  maxCells: 8_000_000_000,
  heMaxWork: 1_000,
  maxReleaseValues: 100_000,
})

/** The work a prepared query would do, from public facts, or the 413 naming the limit it passes (admission.ts). */
export function admitWork(prepared: PreparedQuery, limits: AdmissionLimits): WorkEstimate {
  return checkWork(prepared.plan, taskRows(prepared), prepared.heProfile, limits)
}

/**
 * The rows a task reads, as public facts bound them: the version's, or for a
 * unit join its joined rows, at most the left's size class times the join's
 * bound per unit (each left row makes at most that many pairs). The sandbox's
 * backstop (sandbox/pool.ts) uses the same bound.
 */
function taskRows(p: PreparedQuery): number {
  if (p.joined.length === 0) return p.version.rows
  return publicRows(p.version.rows) * p.bound.dataset.maxRowsPerUnit
}

/**
 * Step 2 of a query: within the limits (on public facts alone, before
 * anything runs), and both ledgers and the grant's money cap, as read now,
 * can pay its price; or the refusal that says which cannot. The grant's policy was checked when it was
 * prepared and is checked again, under its row lock, at the commit.
 */
export function admit(prepared: PreparedQuery, ledgers: Ledgers, limits: AdmissionLimits): Admission {
  admitWork(prepared, limits)
  const grant = priceOn(ledgers.grant, prepared.price)
  const dataset = priceOn(ledgers.dataset, datasetPrice(prepared, ledgers.dataset.id))
  // A join charges every dataset it reads: each budget must pay its price (a foreign key's referencing side twice).
  const joined = ledgers.joined.map((view) => priceOn(view, datasetPrice(prepared, view.id)))
  // The money cap, as the grant was read: the guarded statement at the commit decides under concurrency.
  // A join's price: each dataset's price list on what it is charged, added up.
  const amount = prepared.joinedMoney.reduce(
    (sum, m, k) => sum + answerPrice(m, joined[k]!.epsilon),
    answerPrice(prepared.money, dataset.epsilon),
  )
  if (!fitsCap(prepared.grant, amount)) throw spendingCapError(prepared.grant, amount, prepared.money.currency)
  return { prepared, ledgers, charges: { grant, dataset, joined }, queryId: `q_${randomHex(12)}` }
}
