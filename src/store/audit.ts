import { createHash, randomBytes } from 'node:crypto'
import type { Db } from './db.js'
import { stmt } from './statements.js'

/**
 * The audit chain: one record per event that touches data, budget or access,
 * each hash covering every other field of the record and the previous record's
 * hash. Records are appended inside the caller's write transaction, so the
 * change and its record are kept or lost together.
 */

export const GENESIS_HASH = '0'.repeat(64)

export interface AuditActor {
  readonly principal: string
  readonly role: string
}

export interface AuditEvent {
  readonly actor: AuditActor
  readonly action: string
  readonly outcome: string
  readonly dataset?: string | null
  readonly version?: number | null
  readonly grant?: string | null
  readonly purpose?: string | null
  readonly queryHash?: string | null
  readonly charged?: { readonly epsilon: string; readonly delta: string } | null
  readonly detail?: Readonly<Record<string, unknown>> | null
  /** The record's id, when the caller must name it before appending (a receipt does); otherwise a fresh one. */
  readonly id?: string
}

/**
 * A fresh opaque record id: 128 random bits. Receipts name their release
 * record by it, never by `seq`, which counts every principal's records.
 */
export function newRecordId(): string {
  return `a_${randomBytes(16).toString('hex')}`
}

export const RECORD_ID = /^a_[0-9a-f]{32}$/

export interface AuditRecord {
  /** Opaque and random; absent on records written before ids existed (their hashes never covered one). */
  readonly id?: string
  readonly seq: number
  readonly time: string
  readonly actor: AuditActor
  readonly action: string
  readonly dataset: string | null
  readonly version: number | null
  readonly grant: string | null
  readonly purpose: string | null
  readonly queryHash: string | null
  readonly charged: { readonly epsilon: string; readonly delta: string } | null
  readonly outcome: string
  readonly detail: Readonly<Record<string, unknown>> | null
  readonly prevHash: string
  readonly hash: string
}

/** JSON with object keys sorted at every depth: one byte string per value. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value)
  if (Array.isArray(value)) {
    // Numbers, strings, booleans and nulls only (rows, intervals): JSON.stringify writes them exactly so.
    if (allPlainScalars(value)) return JSON.stringify(value)
    let out = '['
    // An element with no JSON form (undefined) stays empty, as Array.prototype.join leaves it.
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + ((canonicalJson(value[i]) as string | undefined) ?? '')
    return `${out}]`
  }
  const record = value as Record<string, unknown>
  // Keys in UTF-16 code unit order (sort()'s default order for strings); undefined values left out.
  const keys = Object.keys(record).sort()
  let out = '{'
  let first = true
  for (const k of keys) {
    const v = record[k]
    if (v === undefined) continue
    out += `${first ? '' : ','}${JSON.stringify(k)}:${canonicalJson(v)}`
    first = false
  }
  return `${out}}`
}

/** Every index (holes included, which every() would skip) holds a number, string, boolean or null. */
function allPlainScalars(a: readonly unknown[]): boolean {
  for (let i = 0; i < a.length; i++) {
    const v = a[i]
    if (!(v === null || typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean')) return false
  }
  return true
}

export function recordHash(r: Omit<AuditRecord, 'hash'>): string {
  return createHash('sha256').update(canonicalJson(r)).digest('hex')
}

export interface AuditRow {
  record_id: string | null
  seq: number
  time: string
  actor: string
  role: string
  action: string
  dataset: string | null
  version: number | null
  grant_id: string | null
  purpose: string | null
  query_hash: string | null
  charged_epsilon: string | null
  charged_delta: string | null
  outcome: string
  detail: string | null
  prev_hash: string
  hash: string
}

export function rowToRecord(row: AuditRow): AuditRecord {
  return {
    ...(row.record_id === null ? {} : { id: row.record_id }),
    seq: row.seq,
    time: row.time,
    actor: { principal: row.actor, role: row.role },
    action: row.action,
    dataset: row.dataset,
    version: row.version,
    grant: row.grant_id,
    purpose: row.purpose,
    queryHash: row.query_hash,
    // Every stored column is read back as it is, so that the hash covers all of them.
    charged:
      row.charged_epsilon === null && row.charged_delta === null
        ? null
        : ({ epsilon: row.charged_epsilon, delta: row.charged_delta } as { epsilon: string; delta: string }),
    outcome: row.outcome,
    detail: row.detail === null ? null : (JSON.parse(row.detail) as Record<string, unknown>),
    prevHash: row.prev_hash,
    hash: row.hash,
  }
}

/**
 * Appends one record. Must run inside a write transaction (`immediate`): the
 * head is read and extended under the same lock, so concurrent writers, even
 * in other processes, never fork the chain.
 */
export function appendAudit(db: Db, event: AuditEvent, now: Date = new Date()): AuditRecord {
  if (!db.inTransaction) throw new Error('appendAudit must run inside a write transaction')
  // Arrays, not objects: this runs on every request that reads or spends.
  const head = stmt(db, 'SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1', 'raw').get() as [number, string] | undefined
  const base: Omit<AuditRecord, 'hash'> = {
    id: event.id ?? newRecordId(),
    seq: (head?.[0] ?? 0) + 1,
    time: now.toISOString(),
    actor: { principal: event.actor.principal, role: event.actor.role },
    action: event.action,
    dataset: event.dataset ?? null,
    version: event.version ?? null,
    grant: event.grant ?? null,
    purpose: event.purpose ?? null,
    queryHash: event.queryHash ?? null,
    charged: event.charged ?? null,
    outcome: event.outcome,
    detail: event.detail ?? null,
    prevHash: head?.[1] ?? GENESIS_HASH,
  }
  const record: AuditRecord = { ...base, hash: recordHash(base) }
  stmt(db, 
    `INSERT INTO audit_log (record_id, seq, time, actor, role, action, dataset, version, grant_id, purpose, query_hash,
       charged_epsilon, charged_delta, outcome, detail, prev_hash, hash)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    record.id,
    record.seq,
    record.time,
    record.actor.principal,
    record.actor.role,
    record.action,
    record.dataset,
    record.version,
    record.grant,
    record.purpose,
    record.queryHash,
    record.charged?.epsilon ?? null,
    record.charged?.delta ?? null,
    record.outcome,
    record.detail === null ? null : canonicalJson(record.detail),
    record.prevHash,
    record.hash,
  )
  return record
}

export type VerifyResult =
  | { readonly ok: true; readonly records: number; readonly head: { seq: number; hash: string } | null }
  | { readonly ok: false; readonly records: number; readonly badSeq: number; readonly problem: string }

/** Recomputes the whole chain; names the first record that does not hold. */
export function verifyChain(db: Db, expectedHead?: string): VerifyResult {
  let prevHash = GENESIS_HASH
  let expectSeq = 1
  let records = 0
  let last: { seq: number; hash: string } | null = null
  let sawExpectedHead = expectedHead === undefined
  for (const row of stmt(db, 'SELECT * FROM audit_log ORDER BY seq').iterate() as IterableIterator<AuditRow>) {
    let rec: AuditRecord
    try {
      rec = rowToRecord(row)
    } catch {
      return { ok: false, records, badSeq: expectSeq, problem: 'the record cannot be read (its detail is not JSON)' }
    }
    if (rec.seq !== expectSeq) {
      return { ok: false, records, badSeq: expectSeq, problem: `record ${expectSeq} is missing (next stored record is ${rec.seq})` }
    }
    if (rec.prevHash !== prevHash) {
      return { ok: false, records, badSeq: rec.seq, problem: 'prevHash does not match the previous record' }
    }
    if (row.detail !== null && canonicalJson(JSON.parse(row.detail)) !== row.detail) {
      return { ok: false, records, badSeq: rec.seq, problem: 'detail is not stored in its canonical form: it was edited' }
    }
    const { hash, ...rest } = rec
    if (recordHash(rest) !== hash) {
      return { ok: false, records, badSeq: rec.seq, problem: 'hash does not match the record contents' }
    }
    if (hash === expectedHead) sawExpectedHead = true
    prevHash = hash
    last = { seq: rec.seq, hash }
    expectSeq += 1
    records += 1
  }
  if (!sawExpectedHead) {
    return {
      ok: false,
      records,
      badSeq: expectSeq,
      problem: 'the published head is not in the chain: records were removed or rewritten after it was exported',
    }
  }
  return { ok: true, records, head: last }
}

export interface AuditFilter {
  readonly dataset?: string
  readonly actor?: string
  readonly action?: string
  /** ISO times, inclusive. */
  readonly from?: string
  readonly to?: string
  /** Records after this seq (the previous page's `next`). */
  readonly after?: number
  readonly limit: number
}

/** A page of the chain in seq order, filtered; `next` is the cursor for the following page. */
export function listAudit(db: Db, f: AuditFilter): { records: AuditRecord[]; next: number | null } {
  const rows = db
    .prepare(
      `SELECT * FROM audit_log
       WHERE seq > @after
         AND (@dataset IS NULL OR dataset = @dataset)
         AND (@actor IS NULL OR actor = @actor)
         AND (@action IS NULL OR action = @action OR action LIKE @actionPrefix)
         AND (@from IS NULL OR time >= @from)
         AND (@to IS NULL OR time <= @to)
       ORDER BY seq LIMIT @limit`,
    )
    .all({
      after: f.after ?? 0,
      dataset: f.dataset ?? null,
      actor: f.actor ?? null,
      action: f.action ?? null,
      actionPrefix: f.action === undefined ? null : `${f.action}.%`,
      from: f.from ?? null,
      to: f.to ?? null,
      limit: f.limit + 1,
    }) as AuditRow[]
  const records = rows.slice(0, f.limit).map(rowToRecord)
  return { records, next: rows.length > f.limit ? records[records.length - 1]!.seq : null }
}

/** One record by its opaque id, or null. */
export function findAuditRecord(db: Db, id: string): AuditRecord | null {
  const row = stmt(db, 'SELECT * FROM audit_log WHERE record_id = ?').get(id) as AuditRow | undefined
  return row === undefined ? null : rowToRecord(row)
}

export function auditHead(db: Db): { seq: number; hash: string } | null {
  return (stmt(db, 'SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string } | undefined) ?? null
}
