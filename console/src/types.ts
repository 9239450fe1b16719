/**
 * The shapes of the public API's answers as the console reads them
 * (GET /openapi.json is the source; these are kept to what the console uses).
 */

export type Role = 'operator' | 'analyst' | 'custodian' | 'owner'
export type Protection = 'public' | 'dp' | 'he'
export type ColumnType = 'id' | 'integer' | 'number' | 'category' | 'boolean'
export type Classification = 'public' | 'internal' | 'sensitive' | 'core'

export const CLASSIFICATIONS: readonly Classification[] = ['public', 'internal', 'sensitive', 'core']
export const COLUMN_TYPES: readonly ColumnType[] = ['id', 'integer', 'number', 'category', 'boolean']
export const PROTECTIONS: readonly Protection[] = ['public', 'dp', 'he']
export const ROLES: readonly Role[] = ['operator', 'analyst', 'custodian', 'owner']
export const GRANT_AGGREGATES = ['count', 'sum', 'avg', 'var', 'stddev', 'median', 'quantile'] as const

export interface Problem {
  type: string
  title: string
  status: number
  detail: string
  code: string
  instance: string
  [extra: string]: unknown
}

export interface Column {
  name: string
  type: ColumnType
  protection: Protection
  description?: string
  nullable: boolean
  lower?: number
  upper?: number
  categories?: string[]
  scale?: number
  /** Its grade (docs/market.md); L2 when the spec declares none. */
  level?: Level
}

export interface Version {
  version: number
  commitment: string
  /** Operators only. */
  sha256?: string
  createdAt: string
  rows?: number
}

export interface Dataset {
  id: string
  title: string
  description?: string
  classification: Classification
  /** The owning principal; older services gave the owner's name as free text. */
  owner?: PrincipalRef | string | null
  /** The owner as the spec names it in words (an older service gave it as `owner`). */
  ownerLabel?: string
  /** The highest of its columns' levels. */
  level?: Level
  /** Price list per scenario category, in fen. */
  prices?: Record<string, PriceEntry>
  /** Shown in every analyst's catalog (so anyone may apply), not only to those holding a grant. */
  listed?: boolean
  privacyUnit: string
  maxRowsPerUnit: number
  /** A public reference table: nothing secret, joined to datasets on `key` without budget. */
  public?: boolean
  key?: string
  columns: Column[]
  versions: Version[]
  createdAt: string
}

export interface Amount {
  total: number
  spent: number
  remaining: number
}

export interface Ledger {
  epsilon: Amount
  delta: Amount
  rho: { spent: number }
}

export interface Grant {
  id: string
  analyst: string
  dataset: string
  /** Every dataset the grant covers, `dataset` first (several for joins). */
  datasets?: string[]
  purpose: string
  columns: string[] | null
  aggregates: string[] | null
  expiresAt: string
  createdAt: string
  createdBy: string
  revokedAt: string | null
  status: 'active' | 'expired' | 'revoked'
  budget: Ledger
  /** The application it was made from, when it was not granted directly. */
  application?: string | null
  scenario?: string
  organization?: string | null
  money?: { cap: number | null; spent: number; currency: string }
}

export interface QueryCounts {
  released: number
  cached: number
  refused: number
}

export interface MyUsage {
  analyst: string
  grants: (Grant & { queries: QueryCounts })[]
  queries: QueryCounts
}

export interface Charge {
  epsilon: number
  delta: number
}

export interface PerAggregate {
  name: string
  aggregate: string
  column: string | null
  epsilon?: number
  rho?: number
  noise: Record<string, number>
  halfWidth: number | null
  /** The range values were clamped to: the analyst's BOUNDS or the column's declared bounds. */
  bounds?: { lower: number; upper: number; source: 'analyst' | 'declared' }
}

export interface Privacy {
  mechanism: 'laplace' | 'gaussian'
  epsilon: number
  delta: number
  rho?: number
  perAggregate: PerAggregate[]
  /** DP partition selection: what finding the GROUP BY keys in the data cost, beside the aggregates. */
  selection?: {
    column: string
    epsilon: number
    delta: number
    maxGroupsContributed: number
    threshold: number
    noise: number
  }
}

export interface Preview {
  dataset: string
  version: number
  grant: string
  confidence: number
  cached: boolean
  privacy: Privacy
  charge: { grant: Charge; dataset: Charge }
  budget: {
    remaining: Charge
    remainingAfter: Charge
    dataset: { remaining: Charge; remainingAfter: Charge }
  }
  affordable: boolean
  refusal?: { code: string; detail: string; scope: string }
  /** What a fresh answer would cost in money (absent on services without the market). */
  price?: Price
}

export interface Receipt {
  queryId: string
  dataset: string
  version: number
  datasetCommitment: string
  queryHash: string
  resultHash: string
  privacy: { mechanism: string; epsilon: number; delta: number; [k: string]: unknown }
  time: string
  auditRecord: string
  keyId: string
  signature: string
}

export type Cell = string | number | boolean | null

export interface Answer {
  queryId: string
  grant: string
  dataset: string
  version: number
  datasetCommitment: string
  queryHash: string
  sql: string | null
  columns: string[]
  rows: Cell[][]
  intervals: ([number, number] | null)[][]
  confidence: number
  privacy: Privacy & { charged: { grant: Charge; dataset: Charge } }
  budget: { remaining: Charge }
  cached: boolean
  createdAt: string
  receipt: Receipt
  /** What the answer cost when it was released (absent before the data market). */
  price?: Price
}

export interface AnswerSummary {
  queryId: string
  grant: string
  dataset: string
  version: number
  queryHash: string
  epsilon: number
  createdAt: string
}

export interface KeyInfo {
  keyId: string
  name: string
  role: Role
  createdAt: string
  createdBy: string
}

export interface CreatedKey {
  key: string
  keyId: string
  name: string
  role: Role
}

export interface DatasetBudget {
  dataset: string
  epsilon: Amount
  delta: Amount
  rho: { spent: number }
}

export interface UsageEntry {
  queries: number
  epsilon: number
  datasetEpsilon: number
}

export interface DatasetUsage {
  dataset: string
  byGrant: (UsageEntry & { grant: string | null; analyst: string | null; purpose: string | null })[]
  byPurpose: (UsageEntry & { purpose: string | null })[]
  timeline: (UsageEntry & { day: string; grant: string | null; purpose: string | null })[]
}

export interface AuditRecord {
  seq: number
  time: string
  actor: { principal: string; role: string }
  action: string
  dataset: string | null
  version: number | null
  grant: string | null
  purpose: string | null
  queryHash: string | null
  charged: { epsilon: string; delta: string } | null
  outcome: string
  detail: Record<string, unknown> | null
  prevHash: string
  hash: string
}

export interface AuditPage {
  records: AuditRecord[]
  next: number | null
}

export interface VerifyResult {
  ok: boolean
  records: number
  head: { seq: number; hash: string } | null
  badSeq?: number
  problem?: string
}

export interface UploadResult {
  version: number
  rows: number
  sha256: string
  commitment: string
}

export interface ReceiptKey {
  keyId: string
  algorithm: 'Ed25519'
  publicKey: string
  createdAt: string
}

/* The data market (docs/market.md). Every amount of money is an integer number of fen. */

export type Level = 'L1' | 'L2' | 'L3' | 'L4'
export const LEVELS: readonly Level[] = ['L1', 'L2', 'L3', 'L4']
export type ShareRule = 'epsilon' | 'equal'

export interface PrincipalRef {
  id: string
  name: string
}

export interface PriceEntry {
  perEpsilon: number
  perAnswer: number
}

export interface Price {
  amount: number
  currency: string
  text: string
  scenario: string
  perEpsilon: number
  perAnswer: number
}

export interface LevelRule {
  protections: Protection[]
  /** null: every scenario category. */
  scenarios: string[] | null
  maxEpsilonPerAnswer: number | null
}

export interface NegativeRule {
  id: string
  dataset: string
  column?: string
  scenario?: string
  reason: string
}

export interface MarketPolicy {
  currency: string
  scenarios: string[]
  levels: Record<Level, LevelRule>
  negativeList: NegativeRule[]
  feeBps: number
  shareRule: ShareRule
  pendingDays: number
}

export interface ApplicationScope {
  dataset: string
  columns: string[] | null
  aggregates: string[] | null
}

export type ApplicationState = 'pending' | 'approved' | 'denied' | 'withdrawn' | 'expired'
export const APPLICATION_STATES: readonly ApplicationState[] = ['pending', 'approved', 'denied', 'withdrawn', 'expired']

export interface Party {
  party: 'operator' | 'owner'
  owner: PrincipalRef | null
  datasets: string[]
  decision: 'approve' | 'deny' | null
  reason: string | null
  by: string | null
  at: string | null
}

export interface Application {
  id: string
  state: ApplicationState
  analyst: PrincipalRef
  organization: string
  purpose: string
  scenario: string
  datasets: ApplicationScope[]
  epsilon: number
  delta: number
  moneyCap: number | null
  durationDays: number
  submittedAt: string
  expiresAt: string
  decidedAt: string | null
  parties: Party[]
  approved: { datasets: ApplicationScope[]; epsilon: number; delta: number; moneyCap: number | null } | null
  grants: string[]
}

export interface ScopeUse {
  name: string
  used: boolean
  answers: number
}

export interface ScopeReview {
  grant: string
  answers: number
  columns: ScopeUse[]
  aggregates: ScopeUse[]
  unused: { columns: string[]; aggregates: string[] }
}

export interface Period {
  from: string
  to: string
}

export interface StatementLine {
  time: string
  queryId: string
  grant: string
  /** The analyst's name, or the principal itself. */
  analyst: string | PrincipalRef
  organization: string | null
  dataset: string
  scenario: string
  epsilon: string
  amount: number
}

export interface Statement {
  kind: 'veilbox.statement'
  period: Period
  currency: string
  organization: string | null
  analyst: PrincipalRef | null
  lines: StatementLine[]
  totals: { answers: number; epsilon: string; amount: number }
  issuedAt: string
  keyId: string
  signature: string
}

export interface SettlementOwner {
  owner: PrincipalRef | null
  lines: { time: string; queryId: string; dataset: string; amount: number }[]
  total: number
}

export interface Settlement {
  kind: 'veilbox.settlement'
  period: Period
  currency: string
  feeBps: number
  owners: SettlementOwner[]
  totals: { answers: number; gross: number; fee: number; net: number }
  issuedAt: string
  keyId: string
  signature: string
}
