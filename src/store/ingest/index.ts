import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'
import { VeilboxError } from '../../errors/index.js'
import type { ColumnSpec, DatasetSpec } from '../../engine/schema.js'
import { appendAudit, type AuditActor } from '../audit.js'
import { immediate, type Db } from '../db.js'
import { getDataset, type VersionRecord } from '../datasets.js'
import { allocate, CHUNK_ROWS, decodeChunk, encodingFor, type Encoding } from './encoding.js'
import { checkedRows, type IngestFormat } from './parse.js'
import type { CellValue } from './rows.js'
import { stmt } from '../statements.js'

export { INGEST_FORMATS, type IngestFormat } from './parse.js'

export interface IngestResult {
  readonly version: number
  readonly rows: number
  readonly sha256: string
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
 */
export async function ingest(
  db: Db,
  datasetId: string,
  format: IngestFormat,
  input: Readable,
  actor: AuditActor,
): Promise<IngestResult> {
  const { spec } = getDataset(db, datasetId)
  const uploadId = Number(
    immediate(db, () =>
      db
        .prepare("INSERT INTO uploads (dataset_id, state, started_at) VALUES (?, 'staging', ?)")
        .run(datasetId, new Date().toISOString()).lastInsertRowid,
    ),
  )
  try {
    const builders = spec.columns.map((c) => new ColumnBuilder(c))
    const hash = createHash('sha256')
    const insertChunk = stmt(db, 
      'INSERT INTO column_chunks (upload_id, column_name, chunk, rows, encoding, data, nulls) VALUES (?, ?, ?, ?, ?, ?, ?)',
    )
    let rows = 0
    let inChunk = 0
    let chunk = 0
    const flush = () => {
      immediate(db, () => {
        for (const b of builders) {
          const c = b.take(inChunk)
          insertChunk.run(uploadId, b.column.name, chunk, inChunk, c.encoding, c.data, c.nulls)
        }
      })
      chunk += 1
      inChunk = 0
    }
    for await (const row of checkedRows(spec, format, input)) {
      for (let c = 0; c < builders.length; c++) builders[c]!.push(inChunk, row.values[c]!)
      hash.update(JSON.stringify(row.values))
      hash.update('\n')
      rows += 1
      inChunk += 1
      if (inChunk === CHUNK_ROWS) flush()
    }
    if (rows === 0) throw new VeilboxError('VEILBOX_ERR_INGEST_EMPTY', 'the upload holds no data rows')
    if (inChunk > 0) flush()
    const sha256 = hash.digest('hex')
    const version = immediate(db, () => {
      const next =
        (stmt(db, 'SELECT MAX(version) AS v FROM dataset_versions WHERE dataset_id = ?').get(datasetId) as { v: number | null })
          .v ?? 0
      const insertDict = stmt(db, 'INSERT INTO column_dictionaries (upload_id, column_name, dictionary) VALUES (?, ?, ?)')
      for (const b of builders) {
        const dict = b.dictionary()
        if (dict) insertDict.run(uploadId, b.column.name, JSON.stringify(dict))
      }
      stmt(db, "UPDATE uploads SET state = 'committed' WHERE id = ?").run(uploadId)
      stmt(db, 
        'INSERT INTO dataset_versions (dataset_id, version, upload_id, rows, sha256, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ).run(datasetId, next + 1, uploadId, rows, sha256, new Date().toISOString(), actor.principal)
      appendAudit(db, {
        actor,
        action: 'dataset.version.create',
        outcome: 'ok',
        dataset: datasetId,
        version: next + 1,
        detail: { rows, sha256 },
      })
      return next + 1
    })
    return { version, rows, sha256 }
  } catch (err) {
    discardUpload(db, uploadId)
    throw err
  }
}

export function discardUpload(db: Db, uploadId: number): void {
  immediate(db, () => {
    stmt(db, 'DELETE FROM column_chunks WHERE upload_id = ?').run(uploadId)
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

/** Reads a committed version back as canonical rows (for fingerprint checks and exports by the data owner). */
export function versionFingerprint(db: Db, spec: DatasetSpec, version: VersionRecord): string {
  const hash = createHash('sha256')
  const dicts = new Map<string, string[]>()
  for (const r of stmt(db, 'SELECT column_name, dictionary FROM column_dictionaries WHERE upload_id = ?').all(version.uploadId) as {
    column_name: string
    dictionary: string
  }[]) {
    dicts.set(r.column_name, JSON.parse(r.dictionary) as string[])
  }
  const chunkStmt = stmt(db, 'SELECT rows, encoding, data, nulls FROM column_chunks WHERE upload_id = ? AND column_name = ? AND chunk = ?')
  for (let chunk = 0; chunk * CHUNK_ROWS < version.rows; chunk++) {
    const cols = spec.columns.map((c) => {
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
      hash.update(JSON.stringify(values))
      hash.update('\n')
    }
  }
  return hash.digest('hex')
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
