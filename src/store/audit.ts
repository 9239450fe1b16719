import { createHash } from 'node:crypto'
import { randomHex } from './ids.js'
import { openTx, type Param, type Sql } from './sql.js'

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
  return `a_${randomHex(16)}`
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
    for (let i = 0; i < value.length; i++)
      out += (i === 0 ? '' : ',') + ((canonicalJson(value[i]) as string | undefined) ?? '')
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

/**
 * canonicalJson(r), byte for byte, for a record as writeRecords builds it
 * (every field present, its detail already canonical): the keys written in
 * their sorted order instead of sorted per record, and the detail, which the
 * row stores too, serialized once. Anything else takes canonicalJson.
 */
function writtenRecordJson(r: Omit<AuditRecord, 'hash'>, detail: string | null): string {
  const { actor, charged } = r
  if (
    typeof r.id !== 'string' ||
    typeof actor.principal !== 'string' ||
    typeof actor.role !== 'string' ||
    Object.keys(actor).length !== 2 ||
    (charged !== null &&
      (typeof charged.epsilon !== 'string' || typeof charged.delta !== 'string' || Object.keys(charged).length !== 2))
  )
    return canonicalJson(r)
  const q = JSON.stringify
  // Sorted as canonicalJson sorts (UTF-16 code units): action < actor < charged < dataset < detail < grant < id <
  // outcome < prevHash < purpose < queryHash < seq < time < version.
  return (
    `{"action":${q(r.action)},"actor":{"principal":${q(actor.principal)},"role":${q(actor.role)}}` +
    `,"charged":${charged === null ? 'null' : `{"delta":${q(charged.delta)},"epsilon":${q(charged.epsilon)}}`}` +
    `,"dataset":${q(r.dataset)},"detail":${detail ?? 'null'},"grant":${q(r.grant)},"id":${q(r.id)}` +
    `,"outcome":${q(r.outcome)},"prevHash":${q(r.prevHash)},"purpose":${q(r.purpose)},"queryHash":${q(r.queryHash)}` +
    `,"seq":${q(r.seq)},"time":${q(r.time)},"version":${q(r.version)}}`
  )
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

/** Every column of a record, hashes as hex on either store. */
function auditColumns(db: Sql): string {
  return `record_id, seq, time, actor, role, action, dataset, version, grant_id, purpose, query_hash, charged_epsilon, charged_delta, outcome, detail, ${db.hashColumn('prev_hash')} AS prev_hash, ${db.hashColumn('hash')} AS hash`
}

/**
 * Appends one record to the chain, as part of the caller's transaction: it
 * is written when the transaction ends, just before COMMIT, with every other
 * record the transaction appended (a group commit's whole batch), and is
 * lost with the transaction if that rolls back (or with a savepoint rolled
 * back inside it). Must run inside a write transaction.
 *
 * Writing them last is what keeps the chain both consistent and fast: the
 * chain's head row is locked there (FOR UPDATE on PostgreSQL; SQLite's write
 * lock holds it already), after every other row the transaction locks, and
 * held only for one select, one insert, one update and the commit. Positions
 * are handed out under that lock, so concurrent writers, on this node or
 * another, never fork the chain and a rolled-back transaction leaves no gap.
 */
export async function appendAudit(db: Sql, event: AuditEvent): Promise<void> {
  const tx = openTx(db)
  if (tx === undefined)
    throw new Error("appendAudit must run inside a write transaction (give it the transaction's handle)")
  tx.deferred.add(CHAIN, { ...event, id: event.id ?? newRecordId() }, writeRecords)
}

/** The kind of deferred work appendAudit adds. */
const CHAIN = Object.freeze({ kind: 'audit records' })

/** Rows per INSERT: 17 parameters each, under SQLite's and PostgreSQL's limits on parameters per statement. */
const INSERT_ROWS = 500

async function writeRecords(tx: Sql, events: readonly AuditEvent[]): Promise<void> {
  const head = (
    await tx.rows(`SELECT seq, ${tx.hashColumn('hash')} FROM audit_chain_head WHERE id = 1 FOR UPDATE`)
  )[0] as [number, string] | undefined
  if (head === undefined) throw new Error('the audit chain has no head row (audit_chain_head)')
  const time = new Date().toISOString()
  let [seq, prevHash] = head
  const details: (string | null)[] = []
  const records: AuditRecord[] = events.map((event) => {
    const detail = event.detail ?? null
    const detailJson = detail === null ? null : canonicalJson(detail)
    details.push(detailJson)
    const base: Omit<AuditRecord, 'hash'> = {
      id: event.id!,
      seq: ++seq,
      time,
      actor: { principal: event.actor.principal, role: event.actor.role },
      action: event.action,
      dataset: event.dataset ?? null,
      version: event.version ?? null,
      grant: event.grant ?? null,
      purpose: event.purpose ?? null,
      queryHash: event.queryHash ?? null,
      charged: event.charged ?? null,
      outcome: event.outcome,
      detail,
      prevHash,
    }
    const hash = createHash('sha256').update(writtenRecordJson(base, detailJson)).digest('hex')
    const record: AuditRecord = { ...base, hash }
    prevHash = record.hash
    return record
  })
  for (let i = 0; i < records.length; i += INSERT_ROWS) {
    const part = records.slice(i, i + INSERT_ROWS)
    const params: Param[] = []
    const rows = part.map((r, k) => {
      const at = params.length
      params.push(
        r.id!,
        r.seq,
        r.time,
        r.actor.principal,
        r.actor.role,
        r.action,
        r.dataset,
        r.version,
        r.grant,
        r.purpose,
        r.queryHash,
        r.charged?.epsilon ?? null,
        r.charged?.delta ?? null,
        r.outcome,
        details[i + k]!,
        tx.hashParam(r.prevHash),
        tx.hashParam(r.hash),
      )
      return `(${Array.from({ length: 17 }, (_, k) => `$${at + k + 1}`).join(', ')})`
    })
    await tx.run(
      `INSERT INTO audit_log (record_id, seq, time, actor, role, action, dataset, version, grant_id, purpose, query_hash,
         charged_epsilon, charged_delta, outcome, detail, prev_hash, hash) VALUES ${rows.join(', ')}`,
      params,
    )
  }
  await tx.run('UPDATE audit_chain_head SET seq = $1, hash = $2 WHERE id = 1', [seq, tx.hashParam(prevHash)])
}

export type VerifyResult =
  | { readonly ok: true; readonly records: number; readonly head: { seq: number; hash: string } | null }
  | { readonly ok: false; readonly records: number; readonly badSeq: number; readonly problem: string }

/** Records in seq order, a page at a time (a chain may not fit in memory at once). */
async function* chainRows(db: Sql, where = '', params: readonly (string | number)[] = []): AsyncGenerator<AuditRow> {
  let after = 0
  for (;;) {
    const page = await db.all<AuditRow>(
      `SELECT ${auditColumns(db)} FROM audit_log WHERE seq > $1 ${where} ORDER BY seq LIMIT 5000`,
      [after, ...params],
    )
    for (const r of page) yield r
    if (page.length < 5000) return
    after = page[page.length - 1]!.seq
  }
}

/** Recomputes the whole chain; names the first record that does not hold. */
export async function verifyChain(db: Sql, expectedHead?: string): Promise<VerifyResult> {
  let prevHash = GENESIS_HASH
  let expectSeq = 1
  let records = 0
  let last: { seq: number; hash: string } | null = null
  let sawExpectedHead = expectedHead === undefined
  for await (const row of chainRows(db)) {
    let rec: AuditRecord
    try {
      rec = rowToRecord(row)
    } catch {
      return { ok: false, records, badSeq: expectSeq, problem: 'the record cannot be read (its detail is not JSON)' }
    }
    if (rec.seq !== expectSeq) {
      return {
        ok: false,
        records,
        badSeq: expectSeq,
        problem: `record ${expectSeq} is missing (next stored record is ${rec.seq})`,
      }
    }
    if (rec.prevHash !== prevHash) {
      return { ok: false, records, badSeq: rec.seq, problem: 'prevHash does not match the previous record' }
    }
    if (row.detail !== null && canonicalJson(JSON.parse(row.detail)) !== row.detail) {
      return {
        ok: false,
        records,
        badSeq: rec.seq,
        problem: 'detail is not stored in its canonical form: it was edited',
      }
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
export async function listAudit(db: Sql, f: AuditFilter): Promise<{ records: AuditRecord[]; next: number | null }> {
  const rows = await db.all<AuditRow>(
    `SELECT ${auditColumns(db)} FROM audit_log
     WHERE seq > $1
       AND ($2::text IS NULL OR dataset = $2)
       AND ($3::text IS NULL OR actor = $3)
       AND ($4::text IS NULL OR action = $4 OR action LIKE $5)
       AND ($6::text IS NULL OR time >= $6)
       AND ($7::text IS NULL OR time <= $7)
     ORDER BY seq LIMIT $8`,
    [
      f.after ?? 0,
      f.dataset ?? null,
      f.actor ?? null,
      f.action ?? null,
      f.action === undefined ? null : `${f.action}.%`,
      f.from ?? null,
      f.to ?? null,
      f.limit + 1,
    ],
  )
  const records = rows.slice(0, f.limit).map(rowToRecord)
  return { records, next: rows.length > f.limit ? records[records.length - 1]!.seq : null }
}

/** One record by its opaque id, or null. */
export async function findAuditRecord(db: Sql, id: string): Promise<AuditRecord | null> {
  const row = await db.get<AuditRow>(`SELECT ${auditColumns(db)} FROM audit_log WHERE record_id = $1`, [id])
  return row === undefined ? null : rowToRecord(row)
}

/** The newest record's position and hash, or null for an empty chain. */
export async function auditHead(db: Sql): Promise<{ seq: number; hash: string } | null> {
  return (
    (await db.get<{ seq: number; hash: string }>(
      `SELECT seq, ${db.hashColumn('hash')} AS hash FROM audit_log ORDER BY seq DESC LIMIT 1`,
    )) ?? null
  )
}
