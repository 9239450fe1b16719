import type { Db } from './db.js'
import type { Encoding } from './encoding.js'
import { stmt } from './statements.js'

/**
 * Reading a stored version back, a piece at a time: column chunks, column
 * dictionaries and ciphertexts, as bytes. Each function is one statement that
 * finishes before it returns, so a reader may give the event loop a turn
 * between calls (a running statement would hold the connection).
 */

export interface StoredChunk {
  readonly rows: number
  readonly encoding: Encoding
  readonly data: Buffer
  readonly nulls: Buffer | null
}

/** Column name -> the dictionary's JSON text (an array of strings), for the upload's coded columns. */
export function columnDictionaries(db: Db, uploadId: number): { column: string; json: string }[] {
  return (stmt(db, 'SELECT column_name, dictionary FROM column_dictionaries WHERE upload_id = ?').all(uploadId) as { column_name: string; dictionary: string }[]).map((r) => ({
    column: r.column_name,
    json: r.dictionary,
  }))
}

/** A column's chunks in order, without their data. */
export function chunkList(db: Db, uploadId: number, column: string): { chunk: number; encoding: Encoding }[] {
  return stmt(db, 'SELECT chunk, encoding FROM column_chunks WHERE upload_id = ? AND column_name = ? ORDER BY chunk').all(uploadId, column) as { chunk: number; encoding: Encoding }[]
}

export function readChunk(db: Db, uploadId: number, column: string, chunk: number): StoredChunk {
  return stmt(db, 'SELECT rows, encoding, data, nulls FROM column_chunks WHERE upload_id = ? AND column_name = ? AND chunk = ?').get(uploadId, column, chunk) as StoredChunk
}

export interface CiphertextRef {
  readonly column_name: string
  readonly kind: 'values' | 'squares'
  readonly context: number
  readonly batch: number
}

/** Bytes of every ciphertext of the upload. */
export function ciphertextBytes(db: Db, uploadId: number): number {
  return stmt(db, 'SELECT COALESCE(SUM(length(data)), 0) FROM he_ciphertexts WHERE upload_id = ?', 'pluck').get(uploadId) as number
}

/** The upload's ciphertexts in order (column, kind, context, batch), without their data. */
export function ciphertextList(db: Db, uploadId: number): CiphertextRef[] {
  return stmt(db, 'SELECT column_name, kind, context, batch FROM he_ciphertexts WHERE upload_id = ? ORDER BY column_name, kind, context, batch').all(uploadId) as CiphertextRef[]
}

export function readCiphertext(db: Db, uploadId: number, c: CiphertextRef): Buffer {
  return stmt(db, 'SELECT data FROM he_ciphertexts WHERE upload_id = ? AND column_name = ? AND kind = ? AND context = ? AND batch = ?', 'pluck').get(
    uploadId,
    c.column_name,
    c.kind,
    c.context,
    c.batch,
  ) as Buffer
}
