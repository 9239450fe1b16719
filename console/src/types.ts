/**
 * The shapes of the public API's answers as the console reads them
 * (GET /openapi.json is the source; these are kept to what the console uses).
 */

export type Role = 'operator' | 'analyst' | 'custodian'
export type Protection = 'public' | 'dp' | 'he'
export type ColumnType = 'id' | 'integer' | 'number' | 'category' | 'boolean'
export type Classification = 'public' | 'internal' | 'sensitive' | 'core'

export const CLASSIFICATIONS: readonly Classification[] = ['public', 'internal', 'sensitive', 'core']
export const COLUMN_TYPES: readonly ColumnType[] = ['id', 'integer', 'number', 'category', 'boolean']
export const PROTECTIONS: readonly Protection[] = ['public', 'dp', 'he']
export const ROLES: readonly Role[] = ['operator', 'analyst', 'custodian']
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
  owner?: string
  privacyUnit: string
  maxRowsPerUnit: number
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
  purpose: string
  columns: string[] | null
  aggregates: string[] | null
  expiresAt: string
  createdAt: string
  createdBy: string
  revokedAt: string | null
  status: 'active' | 'expired' | 'revoked'
  budget: Ledger
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
}

export interface Privacy {
  mechanism: 'laplace' | 'gaussian'
  epsilon: number
  delta: number
  rho?: number
  perAggregate: PerAggregate[]
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
