// Long on purpose: ingest is one all-or-nothing transaction over a stream (check, pack, stage, encrypt,
// fingerprint, publish); its cleanup on any error must see every step it undoes.
import type { Readable } from 'node:stream'
import { VeilboxError } from '../errors/index.js'
import { ColumnEncryptor } from '../engine/he/encrypt.js'
import { columnPlan, type HeProfile } from '../engine/he/profile.js'
import { columnBatchRows, HeFingerprint, type CiphertextKind } from '../engine/he/upload.js'
import type { ColumnSpec, DatasetSpec } from '../schema.js'
import type { AuditActor } from '../store/audit.js'
import type { Sql } from '../store/sql.js'
import { getDataset, type VersionRecord } from '../store/datasets.js'
import { checkProfileFitsSpec, heMaterial, heProfileOf } from '../engine/he/material.js'
import { uploadEncryption } from '../store/he.js'
import { CHUNK_ROWS, decodeChunk } from '../store/encoding.js'
import { ColumnBuilder, pastMaxKeys } from './columns.js'
import { ingestCsvColumnar } from './fast.js'
import { publishVersion, type IngestResult } from './publish.js'
import { checkedRows, type IngestFormat } from './parse.js'
import { DEFAULT_INGEST_LIMITS, type IngestLimits } from './lines.js'
import { PublicKeys } from './public-table.js'
import { NestedUnits } from './references.js'
import { badRow, type CellValue, type RowPosition } from './rows.js'
import { readChunk, columnDictionaries } from '../store/chunks.js'
import {
  ciphertextsWithData,
  discardUpload,
  stageChunks,
  stageCiphertexts,
  stagingUploads,
  startUpload,
  type ChunkWrite,
  type CiphertextWrite,
} from '../store/uploads.js'

export { INGEST_FORMATS, type IngestFormat } from './parse.js'

export type { IngestResult } from './publish.js'

/**
 * Loads one version of a dataset from a stream, all or nothing.
 *
 * Rows are checked one at a time and packed into column chunks that are staged
 * in the store as they fill, so memory stays flat whatever the file size. The
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
  db: Sql,
  datasetId: string,
  format: IngestFormat,
  input: Readable,
  actor: AuditActor,
  limits: IngestLimits = DEFAULT_INGEST_LIMITS,
  /** The upload's size when known (Content-Length): a small one is parsed on this thread. */
  expectedBytes: number | null = null,
): Promise<IngestResult> {
  const { spec } = await getDataset(db, datasetId)
  refuseSourced(spec)
  if (format === 'text/csv' && !spec.columns.some((c) => c.protection === 'he'))
    return ingestCsvColumnar(db, spec, input, actor, limits, expectedBytes)
  const he = spec.columns.some((c) => c.protection === 'he') ? await EncryptOnArrival.open(db, spec) : null
  try {
    const staged = await StagedVersion.start(db, spec, he?.profile ?? null)
    try {
      let sinceTurn = 0
      for await (const row of checkedRows(spec, format, input, limits)) {
        staged.pushRow(row.values, row.pos)
        he?.push(row.values, staged)
        if (staged.needsFlush) await staged.flush()
        // The parser hands over a network chunk's rows as microtasks: without a turn of the event loop
        // now and then, an upload held every other request back for hundreds of milliseconds.
        if (++sinceTurn === ROWS_PER_TURN) {
          sinceTurn = 0
          await nextTurn()
        }
      }
      he?.finish(staged)
      return await staged.commit(actor, he === null ? null : 'service')
    } catch (err) {
      await staged.discard()
      throw err
    }
  } finally {
    he?.close()
  }
}

/** Rows checked and staged between two turns of the event loop. */
const ROWS_PER_TURN = 256

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
  private pendingChunks: ChunkWrite[] = []
  private pendingCiphers: CiphertextWrite[] = []
  private pendingBytes = 0
  private readonly publicKeys: PublicKeys | null
  private readonly nested: NestedUnits | null

  private constructor(
    private readonly db: Sql,
    readonly spec: DatasetSpec,
    readonly profile: HeProfile | null,
    readonly uploadId: number,
  ) {
    this.publicKeys = PublicKeys.for(spec)
    this.nested = NestedUnits.for(spec)
    const plain = spec.columns.map((c, i) => ({ c, i })).filter(({ c }) => c.protection !== 'he')
    this.builders = plain.map(({ c }) => new ColumnBuilder(c))
    this.plainIndex = plain.map(({ i }) => i)
    this.fingerprint = new HeFingerprint(
      profile,
      profile === null ? [] : spec.columns.filter((c) => c.protection === 'he').map((c) => c.name),
    )
  }

  static async start(db: Sql, spec: DatasetSpec, profile: HeProfile | null): Promise<StagedVersion> {
    return new StagedVersion(db, spec, profile, await startUpload(db, spec.id))
  }

  /** A full chunk or enough ciphertexts wait to be written: call flush() before the next row. */
  get needsFlush(): boolean {
    return this.pendingChunks.length > 0 || this.pendingBytes >= CIPHER_FLUSH_BYTES
  }

  /** Writes what is pending to the store, staged (invisible until commit). */
  async flush(): Promise<void> {
    const chunks = this.pendingChunks
    this.pendingChunks = []
    await stageChunks(this.db, this.uploadId, chunks)
    const ciphers = this.pendingCiphers
    this.pendingCiphers = []
    this.pendingBytes = 0
    await stageCiphertexts(this.db, this.uploadId, ciphers)
  }

  /** One checked row, values in schema order; he cells are not stored (their ciphertexts are). */
  pushRow(values: readonly CellValue[], pos: RowPosition): void {
    this.publicKeys?.row(values, pos)
    this.nested?.row(values, pos)
    const plain = this.plainIndex.map((i) => values[i]!)
    for (let c = 0; c < this.builders.length; c++) {
      if (!this.builders[c]!.push(this.inChunk, plain[c]!)) {
        const col = this.builders[c]!.column
        throw badRow(pos, col.name, pastMaxKeys(col))
      }
    }
    this.fingerprint.row(plain)
    this.rows += 1
    this.inChunk += 1
    if (this.inChunk === CHUNK_ROWS) this.takeChunk()
  }

  putCiphertext(column: string, kind: CiphertextKind, context: number, batch: number, bytes: Uint8Array): void {
    this.fingerprint.ciphertext(column, kind, context, batch, bytes)
    this.pendingCiphers.push({
      column,
      kind,
      context,
      batch,
      data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    })
    this.pendingBytes += bytes.byteLength
  }

  /** Batches of an he column for the rows seen so far. */
  batchesOf(column: string): number {
    return Math.ceil(this.rows / columnBatchRows(this.profile!, column))
  }

  private takeChunk(): void {
    for (const b of this.builders) {
      const c = b.take(this.inChunk)
      this.pendingChunks.push({
        column: b.column.name,
        chunk: this.chunk,
        rows: this.inChunk,
        encoding: c.encoding,
        data: c.data,
        nulls: c.nulls,
      })
    }
    this.chunk += 1
    this.inChunk = 0
  }

  /** Makes the staged upload the dataset's next version, with its audit record. */
  async commit(actor: AuditActor, encryptedBy: 'owner' | 'service' | null): Promise<IngestResult> {
    if (this.rows === 0) throw new VeilboxError('VEILBOX_ERR_INGEST_EMPTY', 'the upload holds no data rows')
    if (this.inChunk > 0) this.takeChunk()
    await this.flush()
    const sha256 = this.fingerprint.digest((column) => this.batchesOf(column))
    const dictionaries = this.builders.flatMap((b) => {
      const dict = b.dictionary()
      return dict ? [{ column: b.column.name, json: JSON.stringify(dict) }] : []
    })
    const encryption =
      this.profile !== null && encryptedBy !== null ? { profileId: this.profile.id, encryptedBy } : null
    return publishVersion(this.db, this.spec.id, this.uploadId, {
      rows: this.rows,
      sha256,
      dictionaries,
      encryption,
      actor,
    })
  }

  async discard(): Promise<void> {
    this.pendingChunks = []
    this.pendingCiphers = []
    await discardUpload(this.db, this.uploadId)
  }
}

/**
 * The plaintext path into he columns: one batch per he column in memory,
 * encrypted with the dataset's public key as it fills, wiped after. The
 * service never holds a secret key, so it can encrypt but not decrypt.
 */
class EncryptOnArrival {
  private readonly columns: {
    readonly name: string
    readonly index: number
    readonly batchRows: number
    readonly buffer: Float64Array
    filled: number
    batch: number
  }[]

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

  static async open(db: Sql, spec: DatasetSpec): Promise<EncryptOnArrival> {
    const material = await heMaterial(db, spec.id)
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
      enc.values.forEach((ct, i) => {
        staged.putCiphertext(c.name, 'values', plan.sumContexts[i]!, c.batch, ct)
      })
      enc.squares?.forEach((ct, i) => {
        staged.putCiphertext(c.name, 'squares', plan.squareContexts![i]!, c.batch, ct)
      })
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

export { discardUpload }

/**
 * Removes uploads a crashed process left in staging. Run at start. Only
 * those started before `olderThanMs` ago: on a shared store another node may
 * be in the middle of one (SQLite, one node, passes 0).
 */
export async function discardStaleUploads(db: Sql, olderThanMs = 0): Promise<number> {
  const stale = await stagingUploads(db, new Date(Date.now() - olderThanMs).toISOString())
  for (const id of stale) await discardUpload(db, id)
  return stale.length
}

/**
 * Recomputes a committed version's fingerprint from what is stored (for
 * checks and exports by the data owner): the canonical rows of the plain
 * columns and, for a dataset with he columns, the digests of its ciphertexts
 * in canonical order (HeFingerprint).
 */
export async function versionFingerprint(db: Sql, spec: DatasetSpec, version: VersionRecord): Promise<string> {
  const encryption = await uploadEncryption(db, version.uploadId)
  const heColumns = spec.columns.filter((c) => c.protection === 'he').map((c) => c.name)
  const profile = encryption === null ? null : await heProfileOf(db, spec.id)
  if (profile !== null && profile.id !== encryption!.profileId) {
    throw new VeilboxError(
      'VEILBOX_ERR_HE_BAD_CIPHERTEXT',
      `version ${version.version} of ${spec.id} was encrypted under another HE profile than the dataset's`,
    )
  }
  const fingerprint = new HeFingerprint(profile, profile === null ? [] : heColumns)
  const plain = spec.columns.filter((c) => profile === null || c.protection !== 'he')
  const dicts = new Map<string, string[]>()
  for (const r of await columnDictionaries(db, version.uploadId)) dicts.set(r.column, JSON.parse(r.json) as string[])
  for (let chunk = 0; chunk * CHUNK_ROWS < version.rows; chunk++) {
    const cols = []
    for (const c of plain) {
      const r = await readChunk(db, version.uploadId, c.name, chunk)
      cols.push({ spec: c, ...r, view: decodeChunk(r.encoding, r.data, r.rows) })
    }
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
  for await (const r of ciphertextsWithData(db, version.uploadId)) {
    fingerprint.ciphertext(r.column_name, r.kind, r.context, r.batch, r.data)
  }
  return fingerprint.digest((column) => Math.ceil(version.rows / columnBatchRows(profile, column)))
}

function decodeCell(col: ColumnSpec, raw: number, dict: string[] | undefined): CellValue {
  switch (col.type) {
    case 'integer':
    case 'number':
    case 'date':
    case 'timestamp':
      return raw
    case 'boolean':
      return raw === 1
    case 'category':
      return col.categories ? col.categories[raw]! : dict![raw]!
    case 'id':
      return dict![raw]!
  }
}

/** A sourced dataset's rows stay at the source: its versions are snapshots, never uploads. */
export function refuseSourced(spec: DatasetSpec): void {
  if (spec.source !== undefined)
    throw new VeilboxError(
      'VEILBOX_ERR_SOURCE_NO_UPLOADS',
      `dataset "${spec.id}" reads its rows from its source (${spec.source.kind}); register a snapshot with POST /v1/datasets/${spec.id}/snapshots instead of uploading rows. Nothing was stored`,
      { dataset: spec.id },
    )
}
