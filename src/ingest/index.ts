import type { Readable } from 'node:stream'
import type { Statement } from 'better-sqlite3'
import { VeilboxError } from '../errors/index.js'
import { ColumnEncryptor } from '../engine/he/encrypt.js'
import { columnPlan, type HeProfile } from '../engine/he/profile.js'
import { columnBatchRows, HeFingerprint, type CiphertextKind } from '../engine/he/upload.js'
import type { ColumnSpec, DatasetSpec } from '../schema.js'
import { appendAudit, type AuditActor } from '../store/audit.js'
import { immediate, type Db } from '../store/db.js'
import { getDataset, type VersionRecord } from '../store/datasets.js'
import { checkProfileFitsSpec, heMaterial, heProfileOf } from '../engine/he/material.js'
import { uploadEncryption } from '../store/he.js'
import { allocate, CHUNK_ROWS, decodeChunk, encodingFor, type Encoding } from '../store/encoding.js'
import { checkedRows, type IngestFormat } from './parse.js'
import { DEFAULT_INGEST_LIMITS, type IngestLimits } from './lines.js'
import type { CellValue } from './rows.js'
import { newSalt, versionCommitment } from '../store/fingerprint.js'
import { stmt } from '../store/statements.js'

export { INGEST_FORMATS, type IngestFormat } from './parse.js'

export interface IngestResult {
  readonly version: number
  readonly rows: number
  readonly sha256: string
  readonly commitment: string
}

/**
 * Loads one version of a dataset from a stream, all or nothing.
 *
 * Rows are checked one at a time and packed into column chunks that are staged
 * in SQLite as they fill, so memory stays flat whatever the file size. The
 * version becomes visible only in the final transaction, together with its
 * audit record; any error deletes the staged chunks, so a bad row anywhere
 * leaves no trace of the upload.
 *
 * The fingerprint is SHA-256 over the canonical form of the stored rows: each
 * row as a JSON array of its values in schema column order, one per line. The
 * same data sent as CSV or NDJSON gets the same fingerprint.
 *
 * A dataset with encrypted (`he`) columns takes a plaintext upload too, as a
 * convenience (the weaker path, docs/he.md): the he values are checked like
 * any cell, gathered one batch at a time in memory, encrypted with the
 * dataset's public key as each batch fills, and only the ciphertexts are
 * staged; the plaintext of an he column is never written anywhere. The
 * fingerprint then covers the plain columns and the ciphertexts stored
 * (encrypted.ts defines it), so it differs from upload to upload of the same
 * file: public-key encryption is randomized.
 */
export async function ingest(
  db: Db,
  datasetId: string,
  format: IngestFormat,
  input: Readable,
  actor: AuditActor,
  limits: IngestLimits = DEFAULT_INGEST_LIMITS,
): Promise<IngestResult> {
  const { spec } = getDataset(db, datasetId)
  const he = spec.columns.some((c) => c.protection === 'he') ? await EncryptOnArrival.open(db, spec) : null
  try {
    const staged = StagedVersion.start(db, spec, he?.profile ?? null)
    try {
      let sinceTurn = 0
      for await (const row of checkedRows(spec, format, input, limits)) {
        staged.pushRow(row.values)
        he?.push(row.values, staged)
        // The parser hands over a network chunk's rows as microtasks: without a turn of the event loop
        // now and then, an upload held every other request back for hundreds of milliseconds.
        if (++sinceTurn === ROWS_PER_TURN) {
          sinceTurn = 0
          await nextTurn()
        }
      }
      he?.finish(staged)
      return staged.commit(actor, he === null ? null : 'service')
    } catch (err) {
      staged.discard()
      throw err
    }
  } finally {
    he?.close()
  }
}

/** Rows checked and staged between two turns of the event loop. */
const ROWS_PER_TURN = 256

/**
 * A write of staged (not yet visible) upload data, committed without waiting
 * for the disk: synchronous=NORMAL for this one transaction. An upload cut
 * short by a crash is discarded at the next start anyway (discardStaleUploads),
 * and the version's own commit, at FULL, makes the write-ahead log durable up
 * to and including these frames. Waiting for the disk on every chunk of
 * 65,536 rows held the event loop for up to 130 ms each time.
 */
function staging(db: Db, fn: () => void): void {
  if (db.inTransaction) return void immediate(db, fn)
  db.pragma('synchronous = NORMAL')
  try {
    immediate(db, fn)
  } finally {
    db.pragma('synchronous = FULL')
  }
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** Ciphertext rows staged before they are written in one transaction. */
const CIPHER_FLUSH_BYTES = 16 * 1024 * 1024

/**
 * An upload being staged: plain columns as chunks, he columns as ciphertext
 * batches, the fingerprint as rows arrive. `commit` makes it a version;
 * `discard` removes every trace.
 */
export class StagedVersion {
  rows = 0
  private inChunk = 0
  private chunk = 0
  private readonly builders: ColumnBuilder[]
  private readonly plainIndex: number[]
  private readonly fingerprint: HeFingerprint
  private readonly insertChunk: Statement
  private readonly insertCipher: Statement
  private pendingCiphers: { column: string; kind: CiphertextKind; context: number; batch: number; data: Buffer }[] = []
  private pendingBytes = 0

  private constructor(
    private readonly db: Db,
    readonly spec: DatasetSpec,
    readonly profile: HeProfile | null,
    readonly uploadId: number,
  ) {
    const plain = spec.columns.map((c, i) => ({ c, i })).filter(({ c }) => c.protection !== 'he')
    this.builders = plain.map(({ c }) => new ColumnBuilder(c))
    this.plainIndex = plain.map(({ i }) => i)
    this.fingerprint = new HeFingerprint(profile, profile === null ? [] : spec.columns.filter((c) => c.protection === 'he').map((c) => c.name))
    this.insertChunk = stmt(db, 'INSERT INTO column_chunks (upload_id, column_name, chunk, rows, encoding, data, nulls) VALUES (?, ?, ?, ?, ?, ?, ?)')
    this.insertCipher = stmt(db, 'INSERT INTO he_ciphertexts (upload_id, column_name, kind, context, batch, data) VALUES (?, ?, ?, ?, ?, ?)')
  }

  static start(db: Db, spec: DatasetSpec, profile: HeProfile | null): StagedVersion {
    const uploadId = Number(
      immediate(db, () =>
        stmt(db, "INSERT INTO uploads (dataset_id, state, started_at) VALUES (?, 'staging', ?)").run(spec.id, new Date().toISOString()).lastInsertRowid,
      ),
    )
    return new StagedVersion(db, spec, profile, uploadId)
  }

  /** One checked row, values in schema order; he cells are not stored (their ciphertexts are). */
  pushRow(values: readonly CellValue[]): void {
    const plain = this.plainIndex.map((i) => values[i]!)
    for (let c = 0; c < this.builders.length; c++) this.builders[c]!.push(this.inChunk, plain[c]!)
    this.fingerprint.row(plain)
    this.rows += 1
    this.inChunk += 1
    if (this.inChunk === CHUNK_ROWS) this.flushChunk()
  }

  putCiphertext(column: string, kind: CiphertextKind, context: number, batch: number, bytes: Uint8Array): void {
    this.fingerprint.ciphertext(column, kind, context, batch, bytes)
    this.pendingCiphers.push({ column, kind, context, batch, data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) })
    this.pendingBytes += bytes.byteLength
    if (this.pendingBytes >= CIPHER_FLUSH_BYTES) this.flushCiphers()
  }

  /** Batches of an he column for the rows seen so far. */
  batchesOf(column: string): number {
    return Math.ceil(this.rows / columnBatchRows(this.profile!, column))
  }

  private flushChunk(): void {
    staging(this.db, () => {
      for (const b of this.builders) {
        const c = b.take(this.inChunk)
        this.insertChunk.run(this.uploadId, b.column.name, this.chunk, this.inChunk, c.encoding, c.data, c.nulls)
      }
    })
    this.chunk += 1
    this.inChunk = 0
  }

  private flushCiphers(): void {
    const pending = this.pendingCiphers
    this.pendingCiphers = []
    this.pendingBytes = 0
    staging(this.db, () => {
      for (const p of pending) this.insertCipher.run(this.uploadId, p.column, p.kind, p.context, p.batch, p.data)
    })
  }

  /** Makes the staged upload the dataset's next version, with its audit record. */
  commit(actor: AuditActor, encryptedBy: 'owner' | 'service' | null): IngestResult {
    if (this.rows === 0) throw new VeilboxError('VEILBOX_ERR_INGEST_EMPTY', 'the upload holds no data rows')
    if (this.inChunk > 0) this.flushChunk()
    if (this.pendingCiphers.length > 0) this.flushCiphers()
    const sha256 = this.fingerprint.digest((column) => this.batchesOf(column))
    const salt = newSalt()
    const commitment = versionCommitment(salt, sha256)
    const db = this.db
    const datasetId = this.spec.id
    const rows = this.rows
    const version = immediate(db, () => {
      const next = (stmt(db, 'SELECT MAX(version) AS v FROM dataset_versions WHERE dataset_id = ?').get(datasetId) as { v: number | null }).v ?? 0
      const insertDict = stmt(db, 'INSERT INTO column_dictionaries (upload_id, column_name, dictionary) VALUES (?, ?, ?)')
      for (const b of this.builders) {
        const dict = b.dictionary()
        if (dict) insertDict.run(this.uploadId, b.column.name, JSON.stringify(dict))
      }
      if (this.profile !== null && encryptedBy !== null) {
        stmt(db, 'INSERT INTO he_uploads (upload_id, profile_id, encrypted_by) VALUES (?, ?, ?)').run(this.uploadId, this.profile.id, encryptedBy)
      }
      stmt(db, "UPDATE uploads SET state = 'committed' WHERE id = ?").run(this.uploadId)
      stmt(db, 'INSERT INTO dataset_versions (dataset_id, version, upload_id, rows, sha256, salt, commitment, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
        datasetId,
        next + 1,
        this.uploadId,
        rows,
        sha256,
        salt,
        commitment,
        new Date().toISOString(),
        actor.principal,
      )
      appendAudit(db, {
        actor,
        action: 'dataset.version.create',
        outcome: 'ok',
        dataset: datasetId,
        version: next + 1,
        detail: { rows, sha256, commitment, ...(this.profile !== null && encryptedBy !== null ? { encryptedBy, profileId: this.profile.id } : {}) },
      })
      return next + 1
    })
    return { version, rows, sha256, commitment }
  }

  discard(): void {
    this.pendingCiphers = []
    discardUpload(this.db, this.uploadId)
  }
}

/**
 * The plaintext path into he columns: one batch per he column in memory,
 * encrypted with the dataset's public key as it fills, wiped after. The
 * service never holds a secret key, so it can encrypt but not decrypt.
 */
class EncryptOnArrival {
  private readonly columns: { readonly name: string; readonly index: number; readonly batchRows: number; readonly buffer: Float64Array; filled: number; batch: number }[]

  private constructor(
    readonly profile: HeProfile,
    private readonly encryptor: ColumnEncryptor,
    spec: DatasetSpec,
  ) {
    this.columns = spec.columns
      .map((c, index) => ({ c, index }))
      .filter(({ c }) => c.protection === 'he')
      .map(({ c, index }) => {
        const batchRows = encryptor.batchRows(c.name)
        return { name: c.name, index, batchRows, buffer: new Float64Array(batchRows), filled: 0, batch: 0 }
      })
  }

  static async open(db: Db, spec: DatasetSpec): Promise<EncryptOnArrival> {
    const material = heMaterial(db, spec.id)
    checkProfileFitsSpec(material.profile, spec)
    const encryptor = await ColumnEncryptor.openPublic(material)
    return new EncryptOnArrival(material.profile, encryptor, spec)
  }

  push(values: readonly CellValue[], staged: StagedVersion): void {
    if (staged.rows > this.profile.maxRows) throw tooManyRows(this.profile)
    for (const c of this.columns) {
      c.buffer[c.filled++] = values[c.index] as number
      if (c.filled === c.batchRows) this.flush(c, staged)
    }
  }

  finish(staged: StagedVersion): void {
    for (const c of this.columns) if (c.filled > 0) this.flush(c, staged)
  }

  private flush(c: EncryptOnArrival['columns'][number], staged: StagedVersion): void {
    try {
      const enc = this.encryptor.encryptBatch(c.name, c.buffer.subarray(0, c.filled), c.batch * c.batchRows)
      const plan = columnPlan(this.profile, c.name)
      enc.values.forEach((ct, i) => staged.putCiphertext(c.name, 'values', plan.sumContexts[i]!, c.batch, ct))
      enc.squares?.forEach((ct, i) => staged.putCiphertext(c.name, 'squares', plan.squareContexts![i]!, c.batch, ct))
    } finally {
      c.buffer.fill(0)
    }
    c.filled = 0
    c.batch += 1
  }

  close(): void {
    for (const c of this.columns) c.buffer.fill(0)
    this.encryptor.close()
  }
}

export function tooManyRows(profile: HeProfile): VeilboxError {
  return new VeilboxError(
    'VEILBOX_ERR_HE_CAPACITY_EXCEEDED',
    `the upload has more than ${profile.maxRows} rows, the most the dataset's HE keys were made for (an encrypted sum over more could wrap); a custodian makes keys with a larger maxRows for a new dataset`,
    { maxRows: profile.maxRows },
  )
}

export function discardUpload(db: Db, uploadId: number): void {
  immediate(db, () => {
    stmt(db, 'DELETE FROM column_chunks WHERE upload_id = ?').run(uploadId)
    stmt(db, 'DELETE FROM he_ciphertexts WHERE upload_id = ?').run(uploadId)
    stmt(db, 'DELETE FROM he_uploads WHERE upload_id = ?').run(uploadId)
    stmt(db, 'DELETE FROM column_dictionaries WHERE upload_id = ?').run(uploadId)
    stmt(db, "DELETE FROM uploads WHERE id = ? AND state = 'staging'").run(uploadId)
  })
}

/** Removes uploads a crashed process left in staging. Run at start. */
export function discardStaleUploads(db: Db): number {
  const stale = stmt(db, "SELECT id FROM uploads WHERE state = 'staging'").all() as { id: number }[]
  for (const { id } of stale) discardUpload(db, id)
  return stale.length
}

/**
 * Recomputes a committed version's fingerprint from what is stored (for
 * checks and exports by the data owner): the canonical rows of the plain
 * columns and, for a dataset with he columns, the digests of its ciphertexts
 * in canonical order (HeFingerprint).
 */
export function versionFingerprint(db: Db, spec: DatasetSpec, version: VersionRecord): string {
  const encryption = uploadEncryption(db, version.uploadId)
  const heColumns = spec.columns.filter((c) => c.protection === 'he').map((c) => c.name)
  const profile = encryption === null ? null : heProfileOf(db, spec.id)
  if (profile !== null && profile.id !== encryption!.profileId) {
    throw new VeilboxError('VEILBOX_ERR_HE_BAD_CIPHERTEXT', `version ${version.version} of ${spec.id} was encrypted under another HE profile than the dataset's`)
  }
  const fingerprint = new HeFingerprint(profile, profile === null ? [] : heColumns)
  const plain = spec.columns.filter((c) => profile === null || c.protection !== 'he')
  const dicts = new Map<string, string[]>()
  for (const r of stmt(db, 'SELECT column_name, dictionary FROM column_dictionaries WHERE upload_id = ?').all(version.uploadId) as {
    column_name: string
    dictionary: string
  }[]) {
    dicts.set(r.column_name, JSON.parse(r.dictionary) as string[])
  }
  const chunkStmt = stmt(db, 'SELECT rows, encoding, data, nulls FROM column_chunks WHERE upload_id = ? AND column_name = ? AND chunk = ?')
  for (let chunk = 0; chunk * CHUNK_ROWS < version.rows; chunk++) {
    const cols = plain.map((c) => {
      const r = chunkStmt.get(version.uploadId, c.name, chunk) as { rows: number; encoding: Encoding; data: Buffer; nulls: Buffer | null }
      return { spec: c, ...r, view: decodeChunk(r.encoding, r.data, r.rows) }
    })
    const n = cols[0]!.rows
    for (let i = 0; i < n; i++) {
      const values = cols.map((c) => {
        if (c.nulls && (c.nulls[i >> 3]! >> (i & 7)) & 1) return null
        const raw = c.view[i]!
        return decodeCell(c.spec, raw, dicts.get(c.spec.name))
      })
      fingerprint.row(values)
    }
  }
  if (profile === null) return fingerprint.digest(() => 0)
  for (const r of stmt(db, 'SELECT column_name, kind, context, batch, data FROM he_ciphertexts WHERE upload_id = ?').iterate(version.uploadId) as IterableIterator<{
    column_name: string
    kind: CiphertextKind
    context: number
    batch: number
    data: Buffer
  }>) {
    fingerprint.ciphertext(r.column_name, r.kind, r.context, r.batch, r.data)
  }
  return fingerprint.digest((column) => Math.ceil(version.rows / columnBatchRows(profile, column)))
}

function decodeCell(col: ColumnSpec, raw: number, dict: string[] | undefined): CellValue {
  switch (col.type) {
    case 'integer':
    case 'number':
      return raw
    case 'boolean':
      return raw === 1
    case 'category':
      return col.categories ? col.categories[raw]! : dict![raw]!
    case 'id':
      return dict![raw]!
  }
}

/** Packs one column's values into chunk-sized typed arrays. */
class ColumnBuilder {
  readonly encoding: Encoding
  private values: ReturnType<typeof allocate>
  private nulls = new Uint8Array(CHUNK_ROWS / 8)
  private hasNull = false
  private readonly codes: Map<string, number> | null
  private readonly ordered: string[] = []

  constructor(readonly column: ColumnSpec) {
    this.encoding = encodingFor(column)
    this.values = allocate(this.encoding, CHUNK_ROWS)
    if (column.type === 'category' && column.categories) {
      this.codes = new Map(column.categories.map((c, i) => [c, i]))
    } else if (column.type === 'category' || column.type === 'id') {
      this.codes = new Map()
    } else {
      this.codes = null
    }
  }

  push(i: number, v: CellValue): void {
    if (v === null) {
      this.nulls[i >> 3]! |= 1 << (i & 7)
      this.hasNull = true
      return
    }
    switch (this.column.type) {
      case 'integer':
      case 'number':
        this.values[i] = v as number
        return
      case 'boolean':
        this.values[i] = v ? 1 : 0
        return
      case 'category':
      case 'id': {
        const s = v as string
        let code = this.codes!.get(s)
        if (code === undefined) {
          // Only undeclared domains grow: declared categories were checked already.
          code = this.codes!.size
          this.codes!.set(s, code)
          this.ordered.push(s)
        }
        this.values[i] = code
      }
    }
  }

  take(rows: number): { encoding: Encoding; data: Buffer; nulls: Buffer | null } {
    const bytes = Buffer.from(this.values.buffer, 0, rows * this.values.BYTES_PER_ELEMENT)
    const out = {
      encoding: this.encoding,
      data: Buffer.from(bytes),
      nulls: this.hasNull ? Buffer.from(this.nulls.subarray(0, Math.ceil(rows / 8))) : null,
    }
    this.values.fill(0)
    this.nulls.fill(0)
    this.hasNull = false
    return out
  }

  /** The dictionary stored with the version, when it is not the declared one. */
  dictionary(): string[] | null {
    if (this.column.type === 'id' || (this.column.type === 'category' && !this.column.categories)) return this.ordered
    return null
  }
}
