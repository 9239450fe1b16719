import type { PublicRows } from '../pushdown/compile.js'
import type { DatasetSpec } from '../../schema.js'
import type { AnswerRef } from '../../store/answers.js'
import type { DatasetRecord, VersionRecord } from '../../store/datasets.js'
import type { GrantRecord } from '../../store/grants.js'
import type { Principal } from '../../store/keys.js'
import type { Delta, Epsilon } from '../dp/budget.js'
import type { ExecResult } from '../exec/executor.js'
import type { HeProfile } from '../he/profile.js'
import type { PriceView, QueryMoney } from '../market/charge.js'
import type { AggregatePrivacy, MechanismKind, Plan, SelectionPrivacy } from '../plan/index.js'
import type { Charge, LedgerView, Price } from '../policy/pricing.js'
import type { BoundQuery, Query } from '../query/index.js'
import type { Receipt, ReceiptBody } from '../receipts.js'
import type { Cell, DecryptedMeasure, ReleasedTable } from '../release/answer.js'
import type { SerializedRelease } from '../release/serialize.js'

/**
 * The values a query passes through (pipeline/README in docs/architecture.md):
 *
 *   QueryRequest -prepare-> PreparedQuery -admit-> Admission
 *     -compute-> ExactResult -release-> ReleasedAnswer -commit-> Answer
 *
 * Each step is a function over these plain values, in its own module.
 */

export interface QueryRequest {
  readonly sql?: string
  readonly query?: unknown
  readonly grant: string
  readonly epsilon: number
  readonly delta?: number
  readonly mechanism?: MechanismKind
  readonly confidence?: number
  readonly weights?: readonly number[]
  readonly version?: number
  /** A template's run (issue 24): its AST with the values bound, in place of sql and query. */
  readonly ast?: Query
  /** The template run and its parameters, carried to the answer, its receipt and its audit record. */
  readonly template?: TemplateRun
}

/** Which approved template an answer ran, with the analyst's values. */
export interface TemplateRun {
  readonly id: string
  readonly params: Readonly<Record<string, string | number>>
}

export const DEFAULT_CONFIDENCE = 0.95

/**
 * The largest delta one Gaussian answer may be calibrated to, whatever its
 * grant allows: an (epsilon, delta) guarantee with delta near 1 holds for any
 * mechanism and says nothing. 1e-5 keeps delta below 1/n for datasets of up
 * to 100,000 units; grants usually set less.
 */
export const MAX_ANSWER_DELTA = 1e-5

/** A dataset a query joins, as prepare reads it: its record and the version the join reads (its latest). */
export interface JoinedDataset {
  readonly record: DatasetRecord
  readonly version: VersionRecord
  /** A public table joined to a sourced dataset: its rows, sent to the source with the statement. */
  readonly rows?: PublicRows
}

/** A query parsed, bound to its dataset and version, planned and priced: nothing read, nothing spent. */
export interface PreparedQuery {
  /** Who asked: the grant is checked against this principal again at the commit. */
  readonly principal: Principal
  readonly query: Query
  readonly grant: GrantRecord
  readonly spec: DatasetSpec
  readonly bound: BoundQuery
  readonly version: VersionRecord
  /** The datasets a join reads besides `spec`, with the versions read (none without a JOIN): each charged. */
  readonly joined: readonly JoinedDataset[]
  /** The public tables a join reads, with the versions read: never charged, named in the receipt. */
  readonly publicJoined: readonly JoinedDataset[]
  readonly heProfile: HeProfile | null
  readonly plan: Plan
  readonly price: Price
  readonly queryHash: string
  /** Selects the stored answer of this query: canonical query, version and privacy parameters. */
  readonly cacheKey: string
  /** The query's own privacy parameters: pure epsilon (Laplace), or the (epsilon, delta) its rho is calibrated to (Gaussian). */
  readonly epsilon: Epsilon
  readonly delta: Delta
  /** The query text as sent, or null for the JSON form. */
  readonly sql: string | null
  /** The template it runs, or null for ad-hoc SQL or JSON. */
  readonly template: TemplateRun | null
  /** A join's other datasets' prices and owners, parallel to `joined`: each dataset's price list on its charge. */
  readonly joinedMoney: readonly QueryMoney[]
  /** What a fresh answer costs in money, and whose it is (docs/market.md). */
  readonly money: QueryMoney
  /** What the query uses of its grant: the scope review's record (docs/market.md). */
  readonly scope: { readonly columns: readonly string[]; readonly aggregates: readonly string[] }
}

/** The two ledgers a query is priced on. */
export interface Ledgers {
  readonly grant: LedgerView
  readonly dataset: LedgerView
  /** The budgets of the datasets a join reads besides the first, in the query's order. */
  readonly joined: readonly LedgerView[]
}

/** A query admitted: within the limits, and both ledgers can pay (as read before computing). */
export interface Admission {
  readonly prepared: PreparedQuery
  readonly ledgers: Ledgers
  readonly charges: { readonly grant: Charge; readonly dataset: Charge; readonly joined: readonly Charge[] }
  /** Named at admission: the custodian's release request and every audit record of the release carry it. */
  readonly queryId: string
}

/** The exact aggregates: the sandbox's result and, for he columns, the custodian's decryptions. Never leaves the process. */
export interface ExactResult {
  readonly exec: ExecResult
  readonly decrypted: readonly DecryptedMeasure[]
}

/** Noisy values, their JSON and their signed receipt: everything but the charge. */
export interface ReleasedAnswer {
  readonly admission: Admission
  readonly table: ReleasedTable
  readonly serialized: SerializedRelease
  readonly receiptBody: ReceiptBody
  readonly receipt: Receipt
  /** receiptDigest(receiptBody): what the release record carries. */
  readonly receiptDigest: string
  readonly createdAt: string
}

export interface ChargeView {
  readonly epsilon: number
  readonly delta: number
}

export interface PrivacyView {
  readonly mechanism: MechanismKind
  readonly epsilon: number
  readonly delta: number
  readonly rho?: number
  readonly perAggregate: readonly AggregatePrivacy[]
  /** Partition selection's own cost, beside the aggregates'; absent without one. */
  readonly selection?: SelectionPrivacy
}

export interface AnswerBody {
  readonly queryId: string
  readonly grant: string
  readonly dataset: string
  /** A join's datasets, `dataset` first; absent for one dataset. */
  readonly datasets?: readonly string[]
  readonly version: number
  /** The version's salted commitment (never the content hash of its rows). */
  readonly datasetCommitment: string
  readonly queryHash: string
  readonly sql: string | null
  /** The template and parameters it ran; absent for ad-hoc SQL or JSON. */
  readonly template?: TemplateRun
  readonly columns: readonly string[]
  readonly rows: readonly (readonly Cell[])[]
  readonly intervals: readonly (readonly ([number, number] | null)[])[]
  readonly confidence: number
  readonly privacy: PrivacyView & {
    /** What this response charged each ledger (zero for a stored answer); for Gaussian answers the zCDP increment, see docs/queries.md. */
    readonly charged: { readonly grant: ChargeView; readonly dataset: ChargeView }
  }
  readonly budget: { readonly remaining: ChargeView }
  /** What this response cost in money: the answer's price when fresh, zero for a repeat. */
  readonly price: PriceView
  readonly cached: boolean
  readonly createdAt: string
  /** Signed by the service: checkable offline with the published key (docs/audit.md). */
  readonly receipt: Receipt
}

/**
 * What a query run gives back: a fresh answer (its body and the JSON stored
 * for it, sent as it is), or a stored one (a repeat: the caller reads its
 * body by id, cached: true, with the grant's remaining budget now).
 * `selects` is what a caller may remember to find the answer again.
 */
export type Answer =
  | { readonly kind: 'fresh'; readonly body: AnswerBody; readonly json: string; readonly selects: Selects }
  | {
      readonly kind: 'stored'
      readonly ref: AnswerRef
      readonly remaining: ChargeView
      readonly selects: Selects | null
    }

export interface Selects {
  readonly cacheKey: string
  /** The dataset the query reads: a grant may cover several. */
  readonly dataset: string
  readonly version: number
  /**
   * A join's other datasets and the versions it read (their latest then): a
   * newer one means a new answer. A public table (`public`) need not be in
   * the grant.
   */
  readonly joined: readonly { readonly dataset: string; readonly version: number; readonly public?: true }[]
}

/** What the analyst asks for: an absolute half-width, or a fraction of stated expected values (by output name). */
export interface AccuracyTarget {
  readonly halfWidth?: number
  readonly relative?: number
  readonly expected?: Readonly<Record<string, number>>
}

/** Each targeted aggregate's half-width at the epsilon found (or at the ceiling, when unreachable). */
export interface TargetedAggregate {
  readonly name: string
  readonly target: number
  readonly halfWidth: number
}

export interface Preview {
  readonly dataset: string
  readonly version: number
  readonly grant: string
  readonly confidence: number
  readonly cached: boolean
  readonly privacy: PrivacyView
  readonly charge: { readonly grant: ChargeView; readonly dataset: ChargeView }
  readonly budget: {
    readonly remaining: ChargeView
    readonly remainingAfter: ChargeView
    readonly dataset: { readonly remaining: ChargeView; readonly remainingAfter: ChargeView }
  }
  /** What a fresh answer would cost in money (zero when a stored answer would be returned). */
  readonly price: PriceView
  /** False when the grant or the dataset cannot pay, or the grant's money cap cannot; `refusal` says which. */
  readonly affordable: boolean
  readonly refusal?: { readonly code: string; readonly detail: string; readonly scope: string }
  /** An accuracy preview's search (pipeline/accuracy.ts): the target, the ceiling, the epsilon found (null: none up to the ceiling). */
  readonly target?: AccuracyTarget & {
    readonly ceiling: number
    readonly met: boolean
    readonly epsilon: number | null
    readonly aggregates: readonly TargetedAggregate[]
  }
}
